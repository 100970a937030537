"""Prometheus counters for agents' commands (``streams.core.agent_tools``), counted where the
worker decides them: templates used (by template), Knowledge searches and links, and commands
refused (by reason). A record re-folded after a crash counts again, as every decision counter
does; the log itself (``agent.replied`` with ``template``/``article``,
``knowledge.requested``, ``agent_command.refused``) is exact."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from streams.schema.events import (
    AgentCommandRefused,
    AgentReplied,
    KnowledgeRequested,
    TicketEvent,
)

TEMPLATES_USED = Counter("telecase_templates_used_total", "Agent replies expanded from a "
                         "response template", ["template", "source", "via"])
KNOWLEDGE_REQUESTED = Counter("telecase_knowledge_requests_total", "Knowledge searches agents "
                              "asked for (/kb)", ["via"])
KNOWLEDGE_LINKED = Counter("telecase_knowledge_links_total", "Knowledge articles sent to "
                           "customers", ["via"])
COMMANDS_REFUSED = Counter("telecase_agent_commands_refused_total", "Agents' commands that "
                           "sent nothing (the agent was told why)", ["command", "reason"])


def count(events: Iterable[TicketEvent]) -> None:
    for event in events:
        if isinstance(event, AgentReplied):
            if event.template is not None:
                TEMPLATES_USED.labels(event.template.name, event.template.source,
                                      event.via).inc()
            elif event.article is not None:
                KNOWLEDGE_LINKED.labels(event.via).inc()
        elif isinstance(event, KnowledgeRequested):
            KNOWLEDGE_REQUESTED.labels(event.via).inc()
        elif isinstance(event, AgentCommandRefused):
            COMMANDS_REFUSED.labels(event.command, event.reason).inc()
