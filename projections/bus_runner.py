"""Runs the projectors over a :class:`~streams.runtime.bus.Bus` (the embedded log).

The same projector code as on Kafka (every projector of :data:`projections.registry.PROJECTORS`,
rows and checkpoints of all of them in one transaction per batch); only the reading differs:
it starts from the lowest of the projectors' own checkpoints (each skips what it already has),
so the log keeps no state for them.

:func:`project` is what both runners do with a batch read: undecodable records go to the
dead-letter topic; the rest is applied in one transaction. A batch a projector cannot write
(say, a chat id beyond 64 bits for a ``bigint`` column) is applied again event by event, each
with its checkpoints in its own transaction, and the one that still fails is quarantined
(:mod:`streams.runtime.quarantine`: dead-lettered with the traceback, its checkpoints moved
past it), so no event stops the projections. The database down is retried, never fatal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from projections.cases import EVENTS_APPLIED, PROJECTOR, Offset
from projections.decode import decode_records
from projections.registry import apply_all, resume_positions
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume
from streams.runtime.quarantine import dead_letter, isolate, retry_infrastructure
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent

log = structlog.get_logger("telecase.projector")
DEAD_LETTER_CONSUMER = f"projector:{PROJECTOR}"
"""How dead letters name this runner (it keeps the name of its first projection)."""
LAG_GROUP = "telecase-projector"
"""How ``telecase_consumer_lag`` names this runner (the Kafka projector's default group)."""

_Item = tuple[Any, tuple[Offset, TicketEvent | None]]
"""A record read and what it decoded to."""


def _write(engine: Engine, batch: Sequence[tuple[Offset, TicketEvent | None]],
           now: datetime) -> int:
    """Apply ``batch`` to every projector in one transaction; what ``cases`` changed."""
    with engine.begin() as conn:
        changed = apply_all(conn, batch, now)
    for name, count in changed.items():  # the cases projector counts its own, per event
        if name != PROJECTOR:
            EVENTS_APPLIED.labels(name, "applied").inc(count)
    return changed[PROJECTOR]


async def _dead_letters(bus: Bus, names: TopicNames, letters: Sequence[DeadLetter]) -> None:
    await bus.append(names.dead_letters, [
        Outgoing((letter.key or "").encode(), letter.model_dump_json().encode(), partition=0)
        for letter in letters])
    for letter in letters:
        DEAD_LETTERS.labels(letter.consumer, letter.reason).inc()
        log.warning("projector.dead_letter", reason=letter.reason, topic=letter.topic,
                    partition=letter.partition, offset=letter.offset)


async def project(records: Sequence[Any], *, bus: Bus, names: TopicNames, engine: Engine,
                  stop: asyncio.Event | None = None) -> int:
    """Project records of ``ticket.events`` (they need ``topic``, ``partition``, ``offset``,
    ``key`` and ``value``); how many events the ``cases`` projection applied. Dead letters
    are durable before the checkpoints that pass them."""
    items = await prepare(records, bus=bus, names=names, stop=stop)
    return await write(items, bus=bus, names=names, engine=engine, stop=stop)


async def prepare(records: Sequence[Any], *, bus: Bus, names: TopicNames,
                  stop: asyncio.Event | None = None) -> list[_Item]:
    """The first half of :func:`project`: records decoded, the undecodable ones durably
    dead-lettered. A runner may prepare a batch while the one before it is written."""
    batch, letters = decode_records(records, DEAD_LETTER_CONSUMER, datetime.now(UTC))
    if letters:
        await retry_infrastructure(lambda: _dead_letters(bus, names, letters),
                                   stage=DEAD_LETTER_CONSUMER, stop=stop)
    return list(zip(records, batch, strict=True))


async def write(items: Sequence[_Item], *, bus: Bus, names: TopicNames, engine: Engine,
                stop: asyncio.Event | None = None) -> int:
    """The second half of :func:`project`: prepared records applied in one transaction (the
    rows stamped ``projected_at`` now), or one by one with the failing one quarantined."""
    now = datetime.now(UTC)
    applied = 0

    async def apply(part: Sequence[_Item]) -> None:
        nonlocal applied
        applied += await asyncio.to_thread(_write, engine, [p for _, p in part], now)

    async def quarantine(item: _Item, exc: Exception) -> None:
        record, (pos, _) = item
        letter = dead_letter(record, DEAD_LETTER_CONSUMER, "projection_failed", exc, now)
        await _dead_letters(bus, names, [letter])
        await asyncio.to_thread(_write, engine, [(pos, None)], now)  # checkpoints past it

    await isolate(list(items), apply, quarantine,
                  stage=DEAD_LETTER_CONSUMER, origin=lambda item: item[0], stop=stop)
    return applied


class BusProjector:
    def __init__(self, bus: Bus, engine: Engine, names: TopicNames, *,
                 batch_max: int = 2000, linger: float = 0.05) -> None:
        """``linger``: under load (8 or more records read, fewer than a full batch), wait
        this long before reading again so transactions carry more events."""
        self.bus, self.engine, self.names, self.batch_max = bus, engine, names, batch_max
        self.linger = linger
        self.applied = 0
        """Events the ``cases`` projection applied (each new event changes its row)."""
        self._stop: asyncio.Event | None = None

    def _checkpoints(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return resume_positions(conn, self.names.ticket_events)

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        positions = await retry_infrastructure(lambda: asyncio.to_thread(self._checkpoints),
                                               stage=DEAD_LETTER_CONSUMER, stop=stop)

        async def handle(_: int, records: list[Record]) -> bool:
            await self.handle(records)
            return True

        await consume(self.bus, self.names.ticket_events, positions, handle, stop,
                      group=LAG_GROUP, batch_max=self.batch_max, linger=self.linger)

    async def handle(self, records: list[Record]) -> None:
        self.applied += await project(records, bus=self.bus, names=self.names,
                                      engine=self.engine, stop=self._stop)
