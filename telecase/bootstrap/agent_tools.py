"""Agents' commands, composed from settings (issue 7): the response templates agents use with
``/t <name>`` (the file ``TELECASE_TEMPLATES_FILE`` and, with ``TELECASE_TEMPLATES_QUICK_TEXT``,
the org's Quick Text), and the Salesforce side of the commands (Knowledge search, CaseArticle,
notes to agents: :class:`~connectors.salesforce.knowledge.AgentToolsRunner`).

The file is checked when telecase starts (a mistake stops it, one line per problem, like the
policy file); Quick Text is read as it is and a record with invalid text is reported to the
agent who uses it. A file template wins a name that both have.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Callable
from pathlib import Path

import structlog

from connectors.errors import ConnectorError
from connectors.raw_log import RawLog
from connectors.salesforce.knowledge import (
    AgentToolsApi,
    AgentToolsRunner,
    KnowledgeConfig,
    quick_text_catalog,
)
from streams.core.templates import NO_TEMPLATES, TemplateCatalog, TemplateSyntaxError
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.bootstrap.salesforce import connect, limit_guard
from telecase.settings import Settings, SettingsError

log = structlog.get_logger("telecase.templates")


class TemplatesFileError(SettingsError):
    """The templates file cannot be used; the message says why, one line per problem."""


def load_templates_file(path: str | None) -> TemplateCatalog:
    if not path:
        return NO_TEMPLATES
    try:
        document = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise TemplatesFileError(f"templates file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplatesFileError(f"templates file {path}: not valid TOML: {exc}") from None
    try:
        return TemplateCatalog.from_mapping(document)
    except TemplateSyntaxError as exc:
        raise TemplatesFileError(f"templates file {path}:\n{exc}") from None


def read_quick_text(api: AgentToolsApi) -> TemplateCatalog:
    """The org's Quick Text as templates (blocking: call it in a thread)."""
    catalog = quick_text_catalog(api.quick_texts())
    log.info("templates.quick_text_read", templates=len(catalog))
    return catalog


async def refresh_quick_text(settings: Settings, api: AgentToolsApi, files: TemplateCatalog,
                             install: Callable[[TemplateCatalog], None],
                             stop: asyncio.Event) -> None:
    """Read Quick Text now and every ``templates_refresh_interval`` seconds, installing the
    file's templates merged with it each time; a failed read keeps the last catalog."""
    while not stop.is_set():
        try:
            install(files.merged(await asyncio.to_thread(read_quick_text, api)))
        except ConnectorError as exc:
            log.warning("templates.quick_text_unavailable", error=str(exc))
        if settings.templates_refresh_interval <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.templates_refresh_interval)


async def agent_tools_api(settings: Settings) -> AgentToolsApi:
    return AgentToolsApi(await connect(settings))


async def agent_tools_runner(settings: Settings, bus: Bus, names: TopicNames,
                             results: RawLog) -> AgentToolsRunner:
    """The Salesforce side of agents' commands, appending search results to ``results``
    (``salesforce.changes``)."""
    config = KnowledgeConfig(language=settings.knowledge_language,
                             sobject=settings.knowledge_object,
                             article_url=settings.knowledge_article_url)
    return AgentToolsRunner(bus, names, await agent_tools_api(settings), results,
                            config=config, max_backoff=settings.salesforce_sync_max_backoff,
                            guard=limit_guard(settings))


async def templates(settings: Settings) -> TemplateCatalog:
    """The catalog at start: the file's templates, with the org's Quick Text when asked
    for (read once)."""
    files = load_templates_file(settings.templates_file)
    if not (settings.templates_quick_text and settings.has_salesforce_credentials):
        return files
    api = await agent_tools_api(settings)
    return files.merged(await asyncio.to_thread(read_quick_text, api))
