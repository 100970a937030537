"""What the Salesforce connector writes to ``salesforce.changes`` after searching Salesforce
Knowledge for an agent's ``/kb <query>``: the articles it found, as found.

The search is I/O, so it happens in the connector (``connectors.salesforce.knowledge``), once
per ``knowledge.requested`` event; the worker folds this record into the ticket's events (the
first article becomes an ``agent.replied`` with ``article``; none, an
``agent_command.refused``). Replaying the log or re-folding the record never searches again.

Keyed ``chat:<chat id>`` like every record about a ticket (:func:`routing_key`), so it lands on
the partition that holds the ticket's state. ``search_id`` (``kb:<request event id>``) is its
idempotency key: a connector that searched twice (a crash before it committed) appends two
records with one ``search_id``, and the worker takes the first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from streams.schema.salesforce import routing_key


class FoundArticle(BaseModel):
    """One published article version (``Knowledge__kav``) the search returned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    knowledge_article_id: str
    title: str
    summary: str = ""
    url_name: str | None = None
    url: str
    """Where the customer reads it (``TELECASE_KNOWLEDGE_ARTICLE_URL`` filled in)."""
    article_number: str | None = None
    version_number: int | None = None
    language: str | None = None


class KnowledgeSearched(BaseModel):
    """Version 1 of a Knowledge search result record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["salesforce.knowledge_searched"] = "salesforce.knowledge_searched"
    version: Literal[1] = 1
    search_id: str
    ticket_id: str
    request_event_id: str
    query: str
    language: str
    articles: tuple[FoundArticle, ...] = ()
    """Best match first; empty when nothing matched."""
    searched_at: datetime

    def routing_key(self) -> str:
        return routing_key(self.ticket_id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
