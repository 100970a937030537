"""Runs a projector over a :class:`~streams.bus.Bus` (the embedded log).

The same projector code as on Kafka (:func:`projections.cases.apply_batch`, rows and checkpoint
in one transaction); only the reading differs: positions come from the projection's own
checkpoint table, so the log keeps no state for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from projections.cases import PROJECTOR, Offset, apply_batch, load_checkpoints
from projections.decode import decode_records
from streams.bus import Bus, Outgoing, Record, consume
from streams.schema.events import TicketEvent
from streams.topics import TopicNames

log = structlog.get_logger("telecase.projector")


class BusProjector:
    def __init__(self, bus: Bus, engine: Engine, names: TopicNames, *,
                 batch_max: int = 2000, linger: float = 0.05) -> None:
        """``linger``: under load (8 or more records read, fewer than a full batch), wait
        this long before reading again so transactions carry more events."""
        self.bus, self.engine, self.names, self.batch_max = bus, engine, names, batch_max
        self.linger = linger
        self.applied = 0

    def _checkpoints(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return load_checkpoints(conn, PROJECTOR, self.names.ticket_events)

    async def run(self, stop: asyncio.Event) -> None:
        positions = await asyncio.to_thread(self._checkpoints)

        async def handle(_: int, records: list[Record]) -> bool:
            await self.handle(records)
            return True

        await consume(self.bus, self.names.ticket_events, positions, handle, stop,
                      batch_max=self.batch_max, linger=self.linger)

    async def handle(self, records: list[Record]) -> None:
        now = datetime.now(UTC)
        batch, letters = decode_records(records, f"projector:{PROJECTOR}", now)
        if letters:
            await self.bus.append(self.names.dead_letters, [
                Outgoing((letter.key or "").encode(), letter.model_dump_json().encode(),
                         partition=0) for letter in letters])
            for letter in letters:
                log.warning("projector.dead_letter", reason=letter.reason, offset=letter.offset)
        self.applied += await asyncio.to_thread(self._write, batch, now)

    def _write(self, batch: list[tuple[Offset, TicketEvent | None]], now: datetime) -> int:
        with self.engine.begin() as conn:
            return apply_batch(conn, batch, now)
