"""Which forum topic the intake messenger opened for which ticket (``telegram_intake_topics``).

One row per ticket opened by a bot intake form that got a topic in the team's group. A ticket
with a row never gets a second topic; ``announced_at`` stays empty until both
``IntakeTopicRecord`` records reached ``telegram.updates``, so an announcement lost to a crash
is repeated at the next start. It lives beside the delivery ledger (same database, a
``MetaData`` of its own, created when missing). Synchronous SQLAlchemy; the messenger calls it
through ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from streams.runtime.state_tables import migrate_state

metadata = MetaData()

intake_topics = Table(
    "telegram_intake_topics", metadata,
    Column("ticket_id", String(300), primary_key=True),
    Column("customer_chat_id", BigInteger, nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("thread_id", BigInteger, nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("announced_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class TopicLink:
    ticket_id: str
    customer_chat_id: int
    chat_id: int
    thread_id: int
    name: str
    created_at: datetime


class IntakeTopics:
    """The table on one engine (the delivery ledger's). Nothing connects until :meth:`create`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        migrate_state(self.engine, "intake_topics")

    def links(self) -> dict[str, TopicLink]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(intake_topics)).all()
        return {r.ticket_id: _link(r) for r in rows}

    def record(self, link: TopicLink) -> None:
        row = {"ticket_id": link.ticket_id, "customer_chat_id": link.customer_chat_id,
               "chat_id": link.chat_id, "thread_id": link.thread_id, "name": link.name[:200],
               "created_at": link.created_at, "announced_at": None}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as conn:
            conn.execute(dialect.insert(intake_topics).values(**row).on_conflict_do_update(
                index_elements=["ticket_id"],
                set_={k: v for k, v in row.items() if k != "ticket_id"}))

    def unannounced(self) -> list[TopicLink]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(intake_topics)
                                .where(intake_topics.c.announced_at.is_(None))).all()
        return [_link(r) for r in rows]

    def mark_announced(self, ticket_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(intake_topics).where(intake_topics.c.ticket_id == ticket_id)
                         .values(announced_at=datetime.now(UTC)))


def _link(row: Any) -> TopicLink:
    created = row.created_at
    if created.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        created = created.replace(tzinfo=UTC)
    return TopicLink(row.ticket_id, int(row.customer_chat_id), int(row.chat_id),
                     int(row.thread_id), row.name, created)


__all__ = ["IntakeTopics", "TopicLink", "intake_topics", "metadata"]
