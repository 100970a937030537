"""The reply mirror's delivery ledger: what it already put in front of customers.

Three tables, in a ``MetaData`` of their own (created when missing, on PostgreSQL or SQLite):

- ``telegram_deliveries``: one row per message the mirror delivered, with the Telegram
  ``message_id`` it became. The primary key (column ``event_id``) is the delivery id: an
  ``AgentReplied``'s ``event_id`` (``<event_id>/2``, ``/3``... for the further parts of a long
  reply), or for an escalation notice ``<event_id>/notify/<action index>`` (parts likewise).
  A message whose id is here is never sent again, whatever the consumer position says.
- ``telegram_thread_links``: ``(chat_id, old_thread_id) -> new_thread_id`` for topics the
  mirror recreated after someone deleted them; ``announced_at`` stays empty until the
  ``TopicRecreated`` record reached the log, so an announcement lost to a crash is repeated.
- ``telegram_ticket_subjects``: each ticket's topic name (from ``TicketOpened`` and
  ``TopicRenamed``), so a topic recreated after a restart still gets its name back.

Synchronous SQLAlchemy; the mirror calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
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
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from streams.runtime.state_tables import migrate_state

metadata = MetaData()

deliveries = Table(
    "telegram_deliveries", metadata,
    Column("event_id", String(300), primary_key=True),
    Column("ticket_id", String(300), nullable=False, index=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("thread_id", BigInteger, nullable=True),
    Column("message_id", BigInteger, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

thread_links = Table(
    "telegram_thread_links", metadata,
    Column("chat_id", BigInteger, primary_key=True),
    Column("old_thread_id", BigInteger, primary_key=True),
    Column("new_thread_id", BigInteger, nullable=False),
    Column("ticket_id", String(300), nullable=False),
    Column("name", String(200), nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("announced_at", DateTime(timezone=True), nullable=True),
)

ticket_subjects = Table(
    "telegram_ticket_subjects", metadata,
    Column("ticket_id", String(300), primary_key=True),
    Column("subject", String(200), nullable=False),
)

ThreadRef = tuple[int, int]
"""``(chat_id, thread_id)`` of a forum topic."""


@dataclass(frozen=True)
class Delivery:
    event_id: str
    ticket_id: str
    chat_id: int
    thread_id: int | None
    message_id: int
    sent_at: datetime


@dataclass(frozen=True)
class ThreadLink:
    chat_id: int
    old_thread_id: int
    new_thread_id: int
    ticket_id: str
    name: str
    linked_at: datetime


def make_ledger_engine(url: str) -> Engine:
    """An engine for ``postgresql://``/``postgresql+psycopg://`` or ``sqlite:///path``."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _wal(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # a delivery row must survive a power cut
        cur.close()

    return engine


_CREATING = threading.Lock()
ATTEMPTS_TO_CREATE = 3


class DeliveryLedger:
    """The ledger on one engine. Nothing connects until :meth:`create` is called."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str) -> DeliveryLedger:
        return cls(make_ledger_engine(url))

    def create(self) -> None:
        """Create the tables that are missing. The reply mirror and the intake messenger of
        one process share the ledger: they create it one at a time. Two processes starting
        together may both find a table missing; the one that loses the race sees "already
        exists" and checks again."""
        with _CREATING:
            for attempt in range(ATTEMPTS_TO_CREATE):
                try:
                    migrate_state(self.engine, "telegram_ledger")
                    return
                except DBAPIError:
                    if attempt == ATTEMPTS_TO_CREATE - 1:
                        raise

    def dispose(self) -> None:
        self.engine.dispose()

    # -- deliveries ------------------------------------------------------------------------

    def delivered(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` were already delivered."""
        wanted = list(dict.fromkeys(event_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                found.update(conn.execute(select(deliveries.c.event_id)
                                          .where(deliveries.c.event_id.in_(chunk))).scalars())
        return found

    def record_delivery(self, delivery: Delivery) -> None:
        """Write one delivery (a second write of the same ``event_id`` is a no-op)."""
        row = {"event_id": delivery.event_id, "ticket_id": delivery.ticket_id,
               "chat_id": delivery.chat_id, "thread_id": delivery.thread_id,
               "message_id": delivery.message_id, "sent_at": delivery.sent_at}
        with self.engine.begin() as conn:
            conn.execute(self._insert(deliveries).values(**row)
                         .on_conflict_do_nothing(index_elements=["event_id"]))

    def deliveries(self) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries).order_by(deliveries.c.sent_at)).all()
        return [Delivery(r.event_id, r.ticket_id, r.chat_id, r.thread_id, r.message_id,
                         _aware(r.sent_at)) for r in rows]

    def delivery_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(deliveries)).scalar_one())

    # -- re-linked threads -----------------------------------------------------------------

    def links(self) -> dict[ThreadRef, int]:
        """Every ``(chat_id, old_thread_id) -> new_thread_id``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(thread_links.c.chat_id, thread_links.c.old_thread_id,
                                       thread_links.c.new_thread_id)).all()
        return {(int(c), int(o)): int(n) for c, o, n in rows}

    def record_link(self, link: ThreadLink) -> None:
        row = {"chat_id": link.chat_id, "old_thread_id": link.old_thread_id,
               "new_thread_id": link.new_thread_id, "ticket_id": link.ticket_id,
               "name": link.name, "linked_at": link.linked_at, "announced_at": None}
        with self.engine.begin() as conn:
            conn.execute(self._insert(thread_links).values(**row).on_conflict_do_update(
                index_elements=["chat_id", "old_thread_id"],
                set_={"new_thread_id": link.new_thread_id, "name": link.name,
                      "linked_at": link.linked_at, "announced_at": None}))

    def unannounced_links(self) -> list[ThreadLink]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(thread_links)
                                .where(thread_links.c.announced_at.is_(None))).all()
        return [ThreadLink(r.chat_id, r.old_thread_id, r.new_thread_id, r.ticket_id, r.name,
                           _aware(r.linked_at)) for r in rows]

    def mark_announced(self, chat_id: int, old_thread_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(thread_links)
                         .where(thread_links.c.chat_id == chat_id,
                                thread_links.c.old_thread_id == old_thread_id)
                         .values(announced_at=datetime.now(UTC)))

    # -- ticket subjects -------------------------------------------------------------------

    def remember_subjects(self, subjects: Mapping[str, str]) -> None:
        if not subjects:
            return
        with self.engine.begin() as conn:
            for ticket_id, subject in subjects.items():
                conn.execute(self._insert(ticket_subjects)
                             .values(ticket_id=ticket_id, subject=subject[:200])
                             .on_conflict_do_update(index_elements=["ticket_id"],
                                                    set_={"subject": subject[:200]}))

    def subject(self, ticket_id: str) -> str | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(ticket_subjects.c.subject)
                                 .where(ticket_subjects.c.ticket_id == ticket_id))
            return found.scalar_one_or_none()

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which has ``on_conflict_do_*`` on both PostgreSQL and SQLite."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise ValueError(f"the delivery ledger supports PostgreSQL and SQLite, not {dialect}")


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time stored here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


__all__ = ["Delivery", "DeliveryLedger", "ThreadLink", "ThreadRef", "make_ledger_engine",
           "metadata"]
