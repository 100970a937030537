"""One ledgered Salesforce runner over ``ticket.events``: what the deadline notifications
(:mod:`connectors.salesforce.notifications`), the customers' Files
(:mod:`connectors.salesforce.files`) and the deals (:mod:`connectors.salesforce.opportunities`)
share.

**The ledger** (:class:`SqlLedger`, :class:`MemoryLedger`): a table of keys, each with the
Salesforce record it became (or the Case it is about), a short word on how (``copied``,
``linked``, ``sent``, ``refused``) and when. A key is recorded right after Salesforce
answered, so a redelivered or replayed event finds it and writes nothing; the one window left
is a crash between Salesforce's answer and the row. Each user keeps its own table and Alembic
branch (:mod:`streams.runtime.state_tables`) in the write ledger's database; only the column
order is shared: key, record id, how, when.

**The runner** (:class:`LedgeredRunner`): a consumer of ``ticket.events`` with a group of its
own, beside the Case sync. Each batch's events (undecodable ones left to the projector, which
dead-letters them) go to ``work``; the position is committed once it returns. What can happen:

- a :class:`~connectors.errors.TransientError` (Salesforce unreachable, a Case the sync has
  not written yet, a notification type not made yet) keeps the batch and tries it again after
  a backoff, doubling up to ``max_backoff`` (a server's ``retry_after`` wins, within
  ``max_backoff``): WARNING ``salesforce.<stage>.waiting``;
- a request Salesforce refuses as a whole (:class:`~connectors.errors.PermanentError`) is an
  ERROR ``salesforce.<stage>.failed`` and the batch is passed over, so the rest of telecase
  runs on;
- the limit guard (:mod:`connectors.salesforce.limit_guard`), when given: at ``conserve``
  batches linger longer and grow larger (:class:`~connectors.salesforce.linger.Linger`
  widened by the guard, as the Case sync's); at ``essential_only`` a runner whose ``kind`` is
  not essential holds its batch (:class:`~connectors.salesforce.limit_guard.LimitHeld`,
  waited out like any transient fault) until the org's usage falls again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog
from sqlalchemy import Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.limit_guard import CallKind, LimitGuard
from connectors.salesforce.linger import Linger
from connectors.salesforce.resync import decoded
from streams.runtime.bus import Bus, Record
from streams.runtime.lag import consume
from streams.runtime.retry import retry_after_of
from streams.runtime.state_tables import Branch, migrate_state
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent

log = structlog.get_logger(__name__)

Work = Callable[[list[TicketEvent]], Awaitable[int]]
"""A batch's effect; returns how many things it did (counted in :attr:`LedgeredRunner.done`)."""
Before = Callable[[int, list[Record], list[TicketEvent]], Awaitable[None]]
"""Called with each batch before ``work`` (a notifier reading a ticket's history, say)."""


# -- the ledger ------------------------------------------------------------------------------

class Ledger(Protocol):
    def find(self, keys: Sequence[str]) -> dict[str, str]:
        """``{key: record id}`` for the keys already recorded."""
        ...

    def record(self, key: str, record_id: str, how: str) -> None:
        """Remember that ``key`` became (or is about) ``record_id``, and how."""
        ...


class MemoryLedger:
    """A ledger for one process (tests)."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.hows: dict[str, str] = {}

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        """``{key: record id}`` for the keys recorded."""
        return {k: self.ids[k] for k in keys if k in self.ids}

    def record(self, key: str, record_id: str, how: str) -> None:
        """Remember ``key`` (the first answer stands)."""
        self.ids.setdefault(key, record_id)
        self.hows.setdefault(key, how)


class SqlLedger:
    """The ledger in ``table`` on ``engine`` (columns: key, record id, how, when);
    :meth:`create` migrates it (Alembic ``branch``)."""

    def __init__(self, engine: Engine, table: Table, branch: Branch) -> None:
        self.engine, self.table, self.branch = engine, table, branch
        self._key, self._id, self._how, self._at = list(table.columns)[:4]

    def create(self) -> None:
        migrate_state(self.engine, self.branch)

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(self._key, self._id).where(self._key.in_(list(keys))))
            return {str(key): str(record_id) for key, record_id in rows}

    def record(self, key: str, record_id: str, how: str) -> None:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as conn:
            conn.execute(dialect.insert(self.table).values({
                self._key.name: key, self._id.name: record_id, self._how.name: how,
                self._at.name: datetime.now(UTC)})
                .on_conflict_do_nothing(index_elements=[self._key.name]))


# -- the runner ------------------------------------------------------------------------------

class LedgeredRunner:
    """``work`` as a consumer of ``ticket.events`` (group ``group``; see the module)."""

    def __init__(self, bus: Bus, names: TopicNames, work: Work, *, group: str, stage: str,
                 guard: LimitGuard | None = None, kind: CallKind = "essential",
                 linger: float = 0.0, before: Before | None = None, batch_max: int = 100,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        self.bus, self.names, self.work = bus, names, work
        self.group, self.stage, self.guard, self.kind = group, stage, guard, kind
        self.before, self.batch_max = before, batch_max
        self.max_backoff, self.first_backoff = max_backoff, first_backoff
        self.linger = Linger(linger, batch_max, widen=guard.widen) if guard is not None \
            and linger > 0 else None
        self.done = 0

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(self.group, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            if self.linger is not None:
                await self.linger.grow(self.bus, topic, partition, records, stop)
            events = decoded(records)
            if self.before is not None:
                await self.before(partition, records, events)
            if events and not await self._work(events, stop):
                return False  # stopping while waiting: the batch stays
            await self.bus.commit(self.group, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=self.group,
                      batch_max=self.batch_max)

    async def _work(self, events: list[TicketEvent], stop: asyncio.Event) -> bool:
        delay = self.first_backoff
        while not stop.is_set():
            try:
                if self.guard is not None:
                    self.guard.hold(self.kind)
                self.done += await self.work(events)
                return True
            except PermanentError as exc:
                log.error(f"salesforce.{self.stage}.failed", error=str(exc),
                          events=len(events), advice="run `telecase salesforce check`")
                return True
            except TransientError as exc:
                wait = min(max(delay, retry_after_of(exc) or 0.0), self.max_backoff)
                log.warning(f"salesforce.{self.stage}.waiting", error=str(exc), retry_in=wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                delay = min(delay * 2, self.max_backoff)
        return False
