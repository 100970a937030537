"""Runs the projectors over a :class:`~streams.runtime.bus.Bus` (the embedded log).

The same projector code as on Kafka (every projector of :data:`projections.registry.PROJECTORS`,
rows and checkpoints of all of them in one transaction per batch); only the reading differs:
it starts from the lowest of the projectors' own checkpoints (each skips what it already has),
so the log keeps no state for them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from projections.cases import EVENTS_APPLIED, PROJECTOR, Offset
from projections.decode import decode_records
from projections.registry import apply_all, resume_positions
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent

log = structlog.get_logger("telecase.projector")
DEAD_LETTER_CONSUMER = f"projector:{PROJECTOR}"
"""How dead letters name this runner (it keeps the name of its first projection)."""
LAG_GROUP = "telecase-projector"
"""How ``telecase_consumer_lag`` names this runner (the Kafka projector's default group)."""


class BusProjector:
    def __init__(self, bus: Bus, engine: Engine, names: TopicNames, *,
                 batch_max: int = 2000, linger: float = 0.05) -> None:
        """``linger``: under load (8 or more records read, fewer than a full batch), wait
        this long before reading again so transactions carry more events."""
        self.bus, self.engine, self.names, self.batch_max = bus, engine, names, batch_max
        self.linger = linger
        self.applied = 0
        """Events the ``cases`` projection applied (each new event changes its row)."""

    def _checkpoints(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return resume_positions(conn, self.names.ticket_events)

    async def run(self, stop: asyncio.Event) -> None:
        positions = await asyncio.to_thread(self._checkpoints)

        async def handle(_: int, records: list[Record]) -> bool:
            await self.handle(records)
            return True

        await consume(self.bus, self.names.ticket_events, positions, handle, stop,
                      group=LAG_GROUP, batch_max=self.batch_max, linger=self.linger)

    async def handle(self, records: list[Record]) -> None:
        now = datetime.now(UTC)
        batch, letters = decode_records(records, DEAD_LETTER_CONSUMER, now)
        if letters:
            await self.bus.append(self.names.dead_letters, [
                Outgoing((letter.key or "").encode(), letter.model_dump_json().encode(),
                         partition=0) for letter in letters])
            for letter in letters:
                DEAD_LETTERS.labels(DEAD_LETTER_CONSUMER, letter.reason).inc()
                log.warning("projector.dead_letter", reason=letter.reason, offset=letter.offset)
        self.applied += await asyncio.to_thread(self._write, batch, now)

    def _write(self, batch: list[tuple[Offset, TicketEvent | None]], now: datetime) -> int:
        with self.engine.begin() as conn:
            changed = apply_all(conn, batch, now)
        for name, count in changed.items():  # the cases projector counts its own, per event
            if name != PROJECTOR:
                EVENTS_APPLIED.labels(name, "applied").inc(count)
        return changed[PROJECTOR]
