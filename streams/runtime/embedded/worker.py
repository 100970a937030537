"""The worker of the embedded runtime: the same fold as the Faust agent, over the embedded log.

Each batch of ``telegram.updates``, ``salesforce.changes`` or ``ticket.commands`` records is
folded with :class:`~streams.runtime.fold.UpdateFolder` (the function the Faust agent calls), and
then its ticket events, its dead letters, the threads' new states and the worker's position are
written in **one** SQLite transaction: on one machine an update is folded exactly once, whatever
crashes. A record the fold raises on is dead-lettered with its traceback, and a batch that fails
otherwise is folded again record by record, the failing one dead-lettered alone
(:mod:`streams.runtime.quarantine`); the log locked or unavailable is retried, never fatal.

With an SLA policy, a ticker appends a clock tick to a partition of ``ticket.commands`` when the
worker's timer index (built from the stored states at start, so timers that came due while
nothing ran fire at once) says something there is due; folding the tick fires those timers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from streams.core.intake import IntakeRules
from streams.core.pilot import EVERYTHING, PilotGate
from streams.core.ticket import ThreadState
from streams.runtime.batch_store import BatchStore
from streams.runtime.bus import Outgoing, Record
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.fold import Folded, Position, UpdateFolder
from streams.runtime.gc_pause import gc_paused
from streams.runtime.lag import consume, count_appended
from streams.runtime.quarantine import dead_letter, isolate
from streams.runtime.state_codec import load_thread
from streams.runtime.timers import TimerBook
from streams.runtime.topics import TopicNames
from streams.schema.commands import Tick
from streams.schema.events import encode_event
from streams.sla.policy import SlaPolicy

log = structlog.get_logger("telecase.worker")
GROUP = "telecase-worker"
LINGER_FROM = 8
STATE_SPACE = "threads"


class EmbeddedWorker:
    def __init__(self, log_: EmbeddedLog, names: TopicNames, *, batch_max: int = 1000,
                 linger: float = 0.02, agents: frozenset[int] = frozenset(),
                 sla_policy: SlaPolicy | None = None, tick_interval: float = 1.0,
                 clock: Callable[[], float] = time.time, intake: IntakeRules | None = None,
                 pilot: PilotGate = EVERYTHING, tick_max_due: int | None = None) -> None:
        """``clock``: the ticker's time (epoch seconds; a test drives it). ``linger``: under
        load (a batch of at least ``LINGER_FROM`` records, but not a full one), wait this
        long before reading again, so batches grow and per-batch costs (one transaction, one
        state write per thread) are shared by more updates. A lone update is never held
        back. ``intake``, ``pilot``: see :class:`~streams.runtime.fold.UpdateFolder`.
        ``tick_max_due``: at most this many threads' timers fired a tick (``None``:
        :data:`~streams.runtime.timers.TICK_MAX_DUE`)."""
        self.log, self.names, self.batch_max, self.linger = log_, names, batch_max, linger
        self.folder = UpdateFolder(agents, sla_policy, intake=intake, pilot=pilot)
        self.tick_interval, self.clock = tick_interval, clock
        self.tick_max_due = tick_max_due
        self.cache: dict[str, ThreadState] = {}
        self.folded = 0
        self.timers: TimerBook | None = None
        self._one_batch_at_a_time = asyncio.Lock()
        self._backlog_left = asyncio.Event()

    def _state(self, thread_key: str) -> ThreadState | None:
        cached = self.cache.get(thread_key)
        if cached is not None:
            return cached
        raw = self.log.get_state(STATE_SPACE, thread_key.encode())
        return load_thread(raw) if raw is not None else None

    def _raw(self, thread_key: str) -> bytes | None:
        """A stored thread's bytes, unless it is held decoded (``None``)."""
        if thread_key in self.cache:
            return None
        return self.log.get_state(STATE_SPACE, thread_key.encode())

    async def run(self, stop: asyncio.Event) -> None:
        """Fold both raw topics until ``stop``; one batch at a time, whichever topic it is
        from, so every batch decides against the states the previous one stored."""

        async def follow(topic: str) -> None:
            positions = await self.log.committed(GROUP, topic)

            async def handle(partition: int, records: list[Record]) -> bool:
                async with self._one_batch_at_a_time:  # its position commits with it
                    await isolate(
                        records, lambda batch: self.fold_batch(partition, list(batch)),
                        lambda record, exc: self.fold_batch(partition, [record], poison=exc),
                        stage=self.folder.consumer, origin=lambda record: record, stop=stop)
                return True

            await consume(self.log, topic, positions, handle, stop, group=GROUP,
                          batch_max=self.batch_max, linger=self.linger, linger_from=LINGER_FROM)

        if self.folder.needs_timers:
            await self._build_timers()
        tasks = [follow(t) for t in (self.names.telegram_updates, self.names.salesforce_changes,
                                     self.names.ticket_commands)]
        if self.timers is not None:
            tasks.append(self._tick(stop))
        await asyncio.gather(*tasks)

    async def _build_timers(self) -> None:
        """Index every stored thread's next SLA deadline, by partition."""
        partitions = await self.log.partitions(self.names.ticket_commands)
        book = TimerBook.for_folder(self.folder, partitions, max_due=self.tick_max_due)
        book.build_stored(((key.decode(), raw)
                           for key, raw in await self.log.scan_states(STATE_SPACE)),
                          range(partitions))  # from the deadline summaries: nothing decoded
        self.timers = book
        log.info("worker.timers_indexed", threads=sum(len(i) for i in book.indexes.values()))

    async def _tick(self, stop: asyncio.Event) -> None:
        """Append a clock tick to each partition with something due: every ``tick_interval``,
        and at once when a tick's batch left due threads in a partition's backlog (a restart
        after downtime fires its overdue timers in ticks of at most ``tick_max_due`` threads;
        waiting out the interval between them left the worker idle up to a second per tick)."""
        assert self.timers is not None
        while not stop.is_set():
            self._backlog_left.clear()  # set after this is seen by the check below or the wait
            now = self.clock()
            ticks = [Outgoing(b"tick", Tick(partition=p, at=datetime.fromtimestamp(now, UTC))
                              .to_bytes(), partition=p)
                     for p in range(self.timers.partitions) if self.timers.wants_tick(p, now)]
            if ticks:
                await self.log.append(self.names.ticket_commands, ticks)
            waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._backlog_left)]
            try:
                await asyncio.wait(waits, timeout=self.tick_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

    async def fold_batch(self, partition: int, records: list[Record],
                         poison: Exception | None = None) -> None:
        """Fold ``records`` and commit all they led to in one transaction. ``poison``: the
        error the one record raised on alone; it is dead-lettered, not folded."""
        store = _Overlay(self._state, self._raw, self.timers)
        results: list[Folded] = []
        now = datetime.now(UTC)
        if poison is not None:
            [rec] = records
            results.append(Folded(dead_letter=dead_letter(rec, self.folder.consumer,
                                                          "worker_failed", poison, now)))
        try:
            with gc_paused():  # the batch's objects live until it is written
                await self._fold_and_commit(partition, records if poison is None else [],
                                            results, store, now, records)
        except BaseException:
            if self.timers is not None:  # the timers it took out go back in
                self.timers.schedule(s for k in store.popped
                                     if (s := self._state(k)) is not None)
            raise
        self.folded += len(records)

    async def _fold_and_commit(self, partition: int, to_fold: list[Record],
                               results: list[Folded],
                               store: _Overlay, now: datetime, records: list[Record]) -> None:
        for rec in to_fold:
            key = rec.key.decode(errors="replace") if rec.key else None
            folded = self.folder.fold(rec.value, store, Position(rec.topic, rec.partition,
                                                                    rec.offset, key), now)
            store.take(folded)
            results.append(folded)
        events = [Outgoing(e.ticket_id.encode(), encode_event(e), partition=partition)
                  for f in results for e in f.events]
        letters = [Outgoing((f.dead_letter.key or "").encode(),
                            f.dead_letter.model_dump_json().encode(), partition=0)
                   for f in results if f.dead_letter is not None]
        states = [(k.encode(), store.encoded(k)) for k in store.changed()]
        position = {partition: records[-1].offset + 1}
        forwards = [r for f in results for r in f.forwards]  # keyed by chat, like the sources

        def write(db: sqlite3.Connection) -> None:
            if events:
                self.log.append_in(db, self.names.ticket_events, events)
            if forwards:
                self.log.append_in(db, self.names.ticket_commands, forwards)
            if letters:
                self.log.append_in(db, self.names.dead_letters, letters)
            self.log.put_states_in(db, STATE_SPACE, states)
            self.log.commit_in(db, GROUP, records[0].topic, position)

        await self.log.transact(write)
        count_appended(e for f in results for e in f.events)
        if self.timers is not None:
            self.timers.schedule_stored((k.decode(), raw) for k, raw in states)
            self.timers.schedule(s for k in store.untouched()
                                 if (s := self._state(k)) is not None)
            if (records[0].topic == self.names.ticket_commands
                    and self.timers.tick_folded(partition)):
                self._backlog_left.set()  # the ticker sends the next tick now
        self.cache.update(store.pending)
        for thread_key in store.pending_raw:  # stored encoded: decoded again when read
            self.cache.pop(thread_key, None)
        if len(self.cache) > 50_000:
            self.cache.clear()
        if letters:
            log.warning("worker.dead_letters", topic=records[0].topic, partition=partition,
                        offsets=[f.dead_letter.offset for f in results if f.dead_letter],
                        count=len(letters))


class _Overlay(BatchStore):
    """The stored states (decoded, or held decoded in the worker's cache) under what the
    batch decided."""

    def __init__(self, state: Callable[[str], ThreadState | None],
                 raw: Callable[[str], bytes | None], timers: TimerBook | None) -> None:
        """``state``: a stored thread decoded; ``raw``: its bytes, ``None`` when the worker
        holds it decoded already (a tick fires it from that)."""
        super().__init__(timers)
        self.state, self.raw = state, raw

    def read(self, thread_key: str) -> ThreadState | None:
        return self.state(thread_key)

    def read_raw(self, thread_key: str) -> bytes | None:
        return self.raw(thread_key)
