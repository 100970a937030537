"""The worker of the embedded runtime: the same fold as the Faust agent, over the embedded log.

Each batch of ``telegram.updates`` or ``salesforce.changes`` records is folded with
:class:`~streams.processing.UpdateFolder` (the function the Faust agent calls), and then its
ticket events, its dead letters, the threads' new states and the worker's position are written
in **one** SQLite transaction: on one machine an update is folded exactly once, whatever crashes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from streams.bus import Outgoing, Record, consume
from streams.core.ticket import ThreadState
from streams.embedded_log import EmbeddedLog
from streams.processing import Folded, Position, UpdateFolder
from streams.schema.events import encode_event
from streams.state_codec import dump_thread, load_thread
from streams.topics import TopicNames

log = structlog.get_logger("telecase.worker")
GROUP = "telecase-worker"
LINGER_FROM = 8
STATE_SPACE = "threads"


class EmbeddedWorker:
    def __init__(self, log_: EmbeddedLog, names: TopicNames, *, batch_max: int = 1000,
                 linger: float = 0.02, agents: frozenset[int] = frozenset()) -> None:
        """``linger``: under load (a batch of at least ``LINGER_FROM`` records, but not a full
        one), wait this long before reading again, so batches grow and per-batch costs (one
        transaction, one state write per thread) are shared by more updates. A lone update
        is never held back."""
        self.log, self.names, self.batch_max, self.linger = log_, names, batch_max, linger
        self.folder = UpdateFolder(agents)
        self.cache: dict[str, ThreadState] = {}
        self.folded = 0
        self._one_batch_at_a_time = asyncio.Lock()

    def _state(self, thread_key: str) -> ThreadState | None:
        cached = self.cache.get(thread_key)
        if cached is not None:
            return cached
        raw = self.log.get_state(STATE_SPACE, thread_key.encode())
        return load_thread(raw) if raw is not None else None

    async def run(self, stop: asyncio.Event) -> None:
        """Fold both raw topics until ``stop``; one batch at a time, whichever topic it is
        from, so every batch decides against the states the previous one stored."""

        async def follow(topic: str) -> None:
            positions = await self.log.committed(GROUP, topic)

            async def handle(partition: int, records: list[Record]) -> bool:
                async with self._one_batch_at_a_time:
                    await self.fold_batch(partition, records)  # its position commits with it
                return True

            await consume(self.log, topic, positions, handle, stop, batch_max=self.batch_max,
                          linger=self.linger, linger_from=LINGER_FROM)

        await asyncio.gather(follow(self.names.telegram_updates),
                             follow(self.names.salesforce_changes))

    async def fold_batch(self, partition: int, records: list[Record]) -> None:
        pending: dict[str, ThreadState] = {}
        store = _Overlay(pending, self._state)
        results: list[Folded] = []
        now = datetime.now(UTC)
        for rec in records:
            key = rec.key.decode(errors="replace") if rec.key else None
            folded = self.folder.fold(rec.value, store, Position(rec.topic, rec.partition,
                                                                    rec.offset, key), now)
            for state in (folded.thread, *folded.aliases):
                if state is not None:
                    pending[state.thread_key] = state
            results.append(folded)
        events = [Outgoing(e.ticket_id.encode(), encode_event(e), partition=partition)
                  for f in results for e in f.events]
        letters = [Outgoing((f.dead_letter.key or "").encode(),
                            f.dead_letter.model_dump_json().encode(), partition=0)
                   for f in results if f.dead_letter is not None]
        states = [(k.encode(), dump_thread(s)) for k, s in pending.items()]
        position = {partition: records[-1].offset + 1}

        def write(db: sqlite3.Connection) -> None:
            if events:
                self.log.append_in(db, self.names.ticket_events, events)
            if letters:
                self.log.append_in(db, self.names.dead_letters, letters)
            self.log.put_states_in(db, STATE_SPACE, states)
            self.log.commit_in(db, GROUP, records[0].topic, position)

        await self.log.transact(write)
        self.cache.update(pending)
        if len(self.cache) > 50_000:
            self.cache.clear()
        self.folded += len(records)
        if letters:
            log.warning("worker.dead_letters", partition=partition, count=len(letters))


class _Overlay:
    """States decided earlier in this batch, over what is stored."""

    def __init__(self, pending: dict[str, ThreadState],
                 stored: Callable[[str], ThreadState | None]) -> None:
        self.pending, self.stored = pending, stored

    def get(self, thread_key: str) -> ThreadState | None:
        return self.pending.get(thread_key) or self.stored(thread_key)
