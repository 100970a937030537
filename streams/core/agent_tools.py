"""Agents' commands: response templates (``/t <name>``) and Knowledge links (``/kb <query>``).
Pure: the ticket core calls these with the ticket's facts and the template catalog; what they
decide comes back as event specs (an event class and its fields) for the core to number.

Where a command comes from:

- **Salesforce**: a CaseComment whose whole body is the command. Published or internal, it
  never reaches the customer as it is (write it as an internal comment: then nobody else sees
  it either).
- **Telegram**: a message in the ticket's topic (or a reply in General) from a rostered agent
  (``TELECASE_TELEGRAM_AGENT_IDS``), whose whole text is the command (``/t@<bot> <name>``, as
  Telegram's command menu writes it, works too).

What it decides:

- ``/t <name>``: the template, expanded with the ticket's variables, becomes an
  ``agent.replied`` with ``template`` (the reply mirror sends it; it counts as a reply
  everywhere a reply counts). An unknown name, an invalid template or a variable the ticket
  lacks becomes an ``agent_command.refused`` saying so; nothing is sent.
- ``/kb <query>``: a ``knowledge.requested``; the search runs in the Salesforce connector
  and comes back as a :class:`~streams.schema.knowledge.KnowledgeSearched` record, which
  :func:`decide_knowledge_result` turns into an ``agent.replied`` with ``article`` (the best
  match's summary and link) or an ``agent_command.refused`` (``no_article``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from streams.core.templates import (
    NAME,
    MissingVariableError,
    TemplateCatalog,
    TemplateError,
    TemplateSyntaxError,
    UnknownTemplateError,
    expand,
)
from streams.schema.events import (
    Agent,
    AgentCommand,
    AgentCommandRefused,
    AgentReplied,
    ArticleRef,
    Customer,
    KnowledgeRequested,
    TemplateRef,
    TicketEvent,
)
from streams.schema.knowledge import FoundArticle, KnowledgeSearched

Via = Literal["telegram", "salesforce"]
EventSpec = tuple[type[TicketEvent], dict[str, Any]]

_COMMAND = re.compile(r"^/(t|kb)(?:@[A-Za-z0-9_]{1,64})?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
QUERY_MAX = 200
SUMMARY_MAX = 300


@dataclass(frozen=True)
class ParsedCommand:
    command: AgentCommand
    argument: str
    """The template name or the search query, as written (stripped)."""


@dataclass(frozen=True)
class CommandOrigin:
    """Who gave the command, and where: the Salesforce comment or the Telegram message."""

    via: Via
    agent: Agent
    agent_name: str | None
    """The agent's name for templates (``{{agent_name}}``)."""
    comment_id: str | None = None
    message_id: int | None = None


@dataclass(frozen=True)
class TicketFacts:
    """What a command may read of the ticket."""

    ticket_id: str
    chat_id: int
    thread_id: int | None
    subject: str
    customer: Customer | None
    case_number: str | None
    tier: str | None
    queue: str | None


@dataclass(frozen=True)
class PendingKnowledge:
    """A ``/kb`` request waiting for its search (kept in the ticket's state)."""

    request_event_id: str
    query: str
    via: Via
    agent: Agent
    comment_id: str | None = None
    message_id: int | None = None


def parse_command(text: str | None) -> ParsedCommand | None:
    """The command ``text`` is, or ``None`` when it is an ordinary reply."""
    if not text:
        return None
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    kind: AgentCommand = "template" if match.group(1).lower() == "t" else "knowledge"
    return ParsedCommand(kind, (match.group(2) or "").strip())


def is_command(text: str | None) -> bool:
    return parse_command(text) is not None


def template_values(facts: TicketFacts, agent_name: str | None) -> dict[str, str | None]:
    """The variables a template may use, for this ticket and agent (``None``: not known)."""
    customer = facts.customer
    full = first = username = None
    if customer is not None:
        first = customer.first_name or None
        full = " ".join(p for p in (customer.first_name, customer.last_name) if p) or (
            f"@{customer.username}" if customer.username else None)
        username = customer.username
    return {"customer_name": full, "customer_first_name": first,
            "customer_username": username, "agent_name": agent_name,
            "agent_first_name": (agent_name or "").split(" ")[0] or None,
            "case_number": facts.case_number, "subject": facts.subject, "tier": facts.tier,
            "queue": facts.queue, "ticket_id": facts.ticket_id}


def decide_command(parsed: ParsedCommand, facts: TicketFacts, origin: CommandOrigin,
                   templates: TemplateCatalog) -> list[EventSpec]:
    """The events an agent's command makes (always exactly one)."""
    where = _where(facts, origin)
    if parsed.command == "knowledge":
        query = " ".join(parsed.argument.split())
        if len(query) < 2:
            return [_refused(parsed, where, "usage", "Write /kb followed by what to search "
                             "for, e.g. /kb refund policy.")]
        return [(KnowledgeRequested, {**where, "query": query[:QUERY_MAX]})]
    name = parsed.argument.lower()
    if not NAME.match(name):
        return [_refused(parsed, where, "usage", "Write /t followed by a template's name "
                         f"alone, e.g. /t pricing. Templates: {_names(templates)}.")]
    try:
        template = templates.get(name)
        text = expand(template, template_values(facts, origin.agent_name))
    except UnknownTemplateError as exc:
        return [_refused(parsed, where, "unknown_template", str(exc))]
    except MissingVariableError as exc:
        return [_refused(parsed, where, "missing_variable", str(exc))]
    except TemplateSyntaxError as exc:
        return [_refused(parsed, where, "invalid_template",
                         f"Template {name!r} cannot be used: {exc}.")]
    except TemplateError as exc:  # pragma: no cover - every kind is handled above
        return [_refused(parsed, where, "invalid_template", str(exc))]
    ref = TemplateRef(name=template.name, source=template.source, id=template.id)
    return [(AgentReplied, {**where, "text": text, "template": ref})]


def decide_knowledge_result(record: KnowledgeSearched, pending: PendingKnowledge,
                            facts: TicketFacts) -> EventSpec:
    """The best article as a reply, or the agent told that nothing matched."""
    where: dict[str, Any] = {"via": pending.via, "agent": pending.agent,
                             "comment_id": pending.comment_id,
                             "message_id": pending.message_id,
                             "chat_id": facts.chat_id, "thread_id": facts.thread_id}
    if not record.articles:
        return (AgentCommandRefused, {
            **where, "command": "knowledge", "argument": pending.query, "reason": "no_article",
            "detail": (f"No published Knowledge article matches {pending.query!r} "
                       f"(language {record.language}); nothing was sent."),
            "request_event_id": pending.request_event_id})
    best = record.articles[0]
    return (AgentReplied, {**where, "text": article_text(best), "article": ArticleRef(
        request_event_id=pending.request_event_id, query=pending.query, id=best.id,
        knowledge_article_id=best.knowledge_article_id, title=best.title, url=best.url,
        version_number=best.version_number, language=best.language or record.language)})


def article_text(article: FoundArticle) -> str:
    """What the customer receives: the title, a short summary, the link."""
    summary = " ".join(article.summary.split())
    if len(summary) > SUMMARY_MAX:
        summary = summary[:SUMMARY_MAX].rsplit(" ", 1)[0].rstrip(".,;:") + "…"
    parts = [article.title.strip(), summary, article.url]
    return "\n\n".join(p for p in parts if p)


def _where(facts: TicketFacts, origin: CommandOrigin) -> dict[str, Any]:
    return {"via": origin.via, "agent": origin.agent, "comment_id": origin.comment_id,
            "message_id": origin.message_id, "chat_id": facts.chat_id,
            "thread_id": facts.thread_id}


def _refused(parsed: ParsedCommand, where: Mapping[str, Any], reason: str,
             detail: str) -> EventSpec:
    return (AgentCommandRefused, {**where, "command": parsed.command,
                                  "argument": parsed.argument[:QUERY_MAX], "reason": reason,
                                  "detail": detail})


def _names(templates: TemplateCatalog) -> str:
    names = sorted(templates.templates)
    return ", ".join(names[:20]) if names else "none set up"
