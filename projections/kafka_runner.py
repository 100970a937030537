"""Runs the projectors as a Kafka consumer of ``ticket.events``.

Every projector of :data:`projections.registry.PROJECTORS` gets each batch, in one transaction.
The checkpoints in the database are the truth: on every partition assignment the consumer seeks
to the lowest offset any projector stored with its rows (each skips what it already has), so
a crash after the database commit and before the Kafka commit replays nothing, and a crash
before the database commit replays the whole batch (which ``seq`` makes harmless). Offsets
are also committed to Kafka, only so that lag is visible (in the background, off the path of
the next batch).

Batches are written one at a time, in order, each in its own transaction; while one is being
written (in a thread, PostgreSQL doing most of the work) the next is fetched and decoded, and it
begins the moment the write before it commits, with everything that arrived meanwhile (up to
``batch_max``). So a record waits for at most the write in progress, not for that write plus a
fetch and a decode (issue 19: at 1,000 updates/s this wait was most of the end-to-end p99).
On a revocation the write in progress finishes first, and what was prepared is dropped (read
again from the checkpoints).
A record that cannot be decoded, or that a projector cannot write, goes to
``telecase.deadletter`` with the reason and is passed (``projections.bus_runner.project``); the
database down is retried, never fatal.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy import Engine

from projections.bus_runner import DEAD_LETTER_CONSUMER, prepare, write
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
        # not forever: a write retrying a database outage must not hold the group
        await self.runner.settle(timeout=10.0)

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
        self.batch_max = batch_max
        self._stopping = asyncio.Event()
        self._lag, self._lag_due = LagReport(group_id), 0.0
        self._prepared: list[Any] = []
        """Records fetched and decoded, waiting for the write in progress."""
        self._writing: asyncio.Task[None] | None = None
        self._committed: dict[TopicPartition, int] = {}
        """Offsets written to the database and not yet committed to Kafka."""
        self._committing: asyncio.Task[None] | None = None

    def checkpoints(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return resume_positions(conn, self.names.ticket_events)

    def stop(self) -> None:
        self._stopping.set()

    async def settle(self, timeout: float | None = None) -> None:
        """Let the write in progress finish (its failure is the loop's to raise), waiting
        ``timeout`` seconds at most, and drop what was prepared after it."""
        self._prepared = []
        if self._writing is not None:
            await asyncio.wait({self._writing}, timeout=timeout)

    async def run(self) -> None:
        if self._own_bus is not None:
            await self._own_bus.start()
        self.consumer.subscribe([self.names.ticket_events], listener=_SeekToCheckpoint(self))
        await self.consumer.start()
        log.info("projector.started", projectors=list(PROJECTORS))
        fetching: asyncio.Task[dict[Any, list[Any]]] | None = None
        try:
            while not self._stopping.is_set():
                room = self.batch_max - len(self._prepared)
                if fetching is None and room > 0:
                    fetching = asyncio.create_task(
                        self.consumer.getmany(timeout_ms=200, max_records=room))
                waits = {t for t in (fetching, self._writing) if t is not None}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if self._writing is not None and self._writing.done():
                    self._writing.result()  # a failure stops the runner, as before
                    self._writing = None
                if fetching is not None and fetching.done():
                    records = [r for part in fetching.result().values() for r in part]
                    fetching = None
                    if records:
                        self._prepared.extend(await prepare(
                            records, bus=self.bus, names=self.names, stop=self._stopping))
                if self._writing is None and self._prepared:
                    batch, self._prepared = self._prepared, []
                    self._writing = asyncio.create_task(self._write(batch))
                if time.monotonic() >= self._lag_due:  # about once a second, not per batch
                    self._lag_due = time.monotonic() + LAG_INTERVAL
                    self._lag.report(await kafka_lag(self.consumer))
            await self.settle()
            if self._writing is not None:
                self._writing.result()
        finally:
            tasks: list[asyncio.Task[Any]] = [
                t for t in (fetching, self._writing, self._committing) if t is not None]
            for task in tasks:
                if task is fetching:
                    task.cancel()
                await asyncio.wait({task})
                if not task.cancelled():
                    task.exception()  # retrieved: a failure was raised above, or is moot
            self._lag.clear()
            await self.consumer.stop()
            if self._own_bus is not None:
                await self._own_bus.close()
            log.info("projector.stopped", projectors=list(PROJECTORS))

    async def _write(self, items: list[Any]) -> None:
        await write(items, bus=self.bus, names=self.names, engine=self.engine,
                    stop=self._stopping)
        for record, _ in items:
            self._committed[TopicPartition(record.topic, record.partition)] = record.offset + 1
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit())

    async def _commit(self) -> None:
        """Commit what was written to Kafka, only so that lag is visible: the checkpoints
        are the truth."""
        while self._committed:
            offsets, self._committed = self._committed, {}
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:  # e.g. a rebalance under way, or no longer assigned
                log.warning("projector.commit_skipped", error=describe(exc))
