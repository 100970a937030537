"""Runs the projectors as a Kafka consumer of ``ticket.events``.

Every projector of :data:`projections.registry.PROJECTORS` gets each batch, in one transaction.
The checkpoints in the database are the truth: on every partition assignment the consumer seeks
to the lowest offset any projector stored with its rows (each skips what it already has), so
a crash after the database commit and before the Kafka commit replays nothing, and a crash
before the database commit replays the whole batch (which ``seq`` makes harmless). Offsets
are also committed to Kafka, only so that lag is visible.
A record that cannot be decoded, or that a projector cannot write, goes to
``telecase.deadletter`` with the reason and is passed (``projections.bus_runner.project``); the
database down is retried, never fatal.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from sqlalchemy import Engine

from projections.bus_runner import DEAD_LETTER_CONSUMER, project
from projections.registry import PROJECTORS, resume_positions
from streams.runtime.bus import Bus
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.lag import LAG_INTERVAL, LagReport, kafka_lag
from streams.runtime.quarantine import describe, retry_infrastructure
from streams.runtime.topics import TopicNames

log = structlog.get_logger("telecase.projector")


class _SeekToCheckpoint(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: KafkaProjector) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        stored = await retry_infrastructure(lambda: asyncio.to_thread(self.runner.checkpoints),
                                            stage=DEAD_LETTER_CONSUMER)
        for tp in assigned:
            if tp.partition in stored:
                self.runner.consumer.seek(tp, stored[tp.partition])
            else:
                await self.runner.consumer.seek_to_beginning(tp)


class KafkaProjector:
    def __init__(self, engine: Engine, bootstrap_servers: str, *,
                 group_id: str = "telecase-projector", batch_max: int = 2000,
                 names: TopicNames | None = None, session_timeout: float = 30.0,
                 bus: Bus | None = None, instance_id: str | None = None) -> None:
        """``bus``: the process's, started and closed by its owner (else one of its own).
        ``instance_id``: static group membership (``group.instance.id``), so a restarted
        projector with the same id takes its partitions back at once."""
        self.engine = engine
        self.names = names or TopicNames()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=group_id,
            group_instance_id=instance_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=batch_max, isolation_level="read_committed",
            session_timeout_ms=int(session_timeout * 1000),
            heartbeat_interval_ms=int(max(0.5, session_timeout / 6) * 1000))
        self._own_bus: KafkaBus | None = None
        if bus is None:
            bus = self._own_bus = KafkaBus(bootstrap_servers)
        self.bus: Bus = bus  # its writes: dead letters
        self._stopping = asyncio.Event()
        self._lag, self._lag_due = LagReport(group_id), 0.0

    def checkpoints(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return resume_positions(conn, self.names.ticket_events)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        if self._own_bus is not None:
            await self._own_bus.start()
        self.consumer.subscribe([self.names.ticket_events], listener=_SeekToCheckpoint(self))
        await self.consumer.start()
        log.info("projector.started", projectors=list(PROJECTORS))
        try:
            while not self._stopping.is_set():
                batches = await self.consumer.getmany(timeout_ms=200)
                records = [r for part in batches.values() for r in part]
                if records:
                    await self._handle(records)
                    try:  # only so that lag is visible: the checkpoints are the truth
                        await self.consumer.commit()
                    except KafkaError as exc:  # e.g. a rebalance under way
                        log.warning("projector.commit_skipped", error=describe(exc))
                if time.monotonic() >= self._lag_due:  # about once a second, not per batch
                    self._lag_due = time.monotonic() + LAG_INTERVAL
                    self._lag.report(await kafka_lag(self.consumer))
        finally:
            self._lag.clear()
            await self.consumer.stop()
            if self._own_bus is not None:
                await self._own_bus.close()
            log.info("projector.stopped", projectors=list(PROJECTORS))

    async def _handle(self, records: list[Any]) -> None:
        await project(records, bus=self.bus, names=self.names, engine=self.engine,
                      stop=self._stopping)
