"""``telecase replay``: the composition root of a rebuild (see ``projections.replay``).

It reads ``ticket.events`` from the configured runtime without touching anything live, as
``telecase sla simulate`` does:

- embedded: ``<data dir>/log.sqlite`` opened read-only (:meth:`EmbeddedLog.open_read_only`: no
  lock, no writes), so it runs beside ``telecase run``; to see what was appended since, it opens
  a new snapshot whenever it asks for the end offsets;
- Kafka: a consumer without a group (nothing joins, nothing is committed; read_committed like
  the live projector) assigned every partition of ``ticket.events``.

Nothing here produces to a topic, and no Salesforce or Telegram client is built. The progress
bar shows events/s and the time left to the end offsets; the last line is a JSON summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text

from projections.decode import decode_records
from projections.replay import (
    DEFAULT_BATCH,
    DEFAULT_LAG,
    Fetched,
    Progress,
    RebuildTarget,
    RecordSource,
    ReplayError,
    ReplayResult,
    choose,
    rebuild_engine,
    replay,
)
from streams.runtime.embedded.log import EmbeddedLog, LogUnavailableError
from telecase.bootstrap.runtime import embedded_log_path, topic_names
from telecase.settings import RuntimeKind, Settings

CONSUMER = "replay"


def _decoded(records: list[Any], positions: dict[int, int]) -> Fetched:
    """Decoded records; the undecodable ones are counted, never dead-lettered again (the
    live projector did that, and replay has no side effects)."""
    batch, letters = decode_records(records, CONSUMER, datetime.now(UTC))
    return Fetched(batch, positions, len(letters))


class EmbeddedSource:
    """``ticket.events`` of the embedded log, read-only."""

    def __init__(self, path: Path, topic: str) -> None:
        self.path, self.topic = path, topic
        self.log: EmbeddedLog | None = None
        self.positions: dict[int, int] = {}
        self.ends: dict[int, int] = {}

    async def end_offsets(self) -> dict[int, int]:
        if self.log is not None:  # a new snapshot: what was committed since
            await self.log.close()
        try:
            self.log = await EmbeddedLog.open_read_only(self.path)
            self.ends = {p: await self.log.end_offset(self.topic, p)
                         for p in range(await self.log.partitions(self.topic))}
        except LogUnavailableError as exc:
            raise ReplayError(str(exc)) from None
        return dict(self.ends)

    async def seek(self, positions: dict[int, int]) -> None:
        self.positions = dict(positions)

    async def fetch(self, max_records: int) -> Fetched:
        assert self.log is not None, "end_offsets() first"
        records: list[Any] = []
        for partition, end in sorted(self.ends.items()):
            at = self.positions.get(partition, 0)
            if at >= end or len(records) >= max_records:
                continue
            try:
                got = await self.log.read(self.topic, partition, at,
                                          min(max_records - len(records), end - at))
            except LogUnavailableError as exc:
                raise ReplayError(str(exc)) from None
            if got:
                self.positions[partition] = got[-1].offset + 1
                records += got
        return _decoded(records, dict(self.positions))

    async def close(self) -> None:
        if self.log is not None:
            await self.log.close()
            self.log = None


class KafkaSource:
    """``ticket.events`` on Kafka, through a consumer that belongs to no group."""

    def __init__(self, servers: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer
        self.servers, self.topic = servers, topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None,
                                         enable_auto_commit=False,
                                         auto_offset_reset="earliest",
                                         isolation_level="read_committed")
        self.tps: list[Any] = []

    async def start(self) -> None:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError
        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers)
        try:
            await admin.start()
            described = ([] if self.topic not in await admin.list_topics()
                         else await admin.describe_topics([self.topic]))
            partitions = sorted(p["partition"] for d in described for p in d["partitions"])
            if not partitions:
                raise ReplayError(f"Kafka at {self.servers} has no topic {self.topic}")
            await self.consumer.start()
            self.tps = [TopicPartition(self.topic, p) for p in partitions]
            self.consumer.assign(self.tps)
        except KafkaError as exc:
            raise ReplayError(f"Kafka at {self.servers}: {exc}") from None
        finally:
            await admin.close()

    async def end_offsets(self) -> dict[int, int]:
        ends = await self.consumer.end_offsets(self.tps)
        return {tp.partition: int(o) for tp, o in ends.items()}

    async def seek(self, positions: dict[int, int]) -> None:
        for tp in self.tps:
            if positions.get(tp.partition, 0) > 0:
                self.consumer.seek(tp, positions[tp.partition])
            else:
                await self.consumer.seek_to_beginning(tp)

    async def fetch(self, max_records: int) -> Fetched:
        got = await self.consumer.getmany(timeout_ms=500, max_records=max_records)
        records = [r for tp in self.tps for r in got.get(tp, [])]
        positions = {tp.partition: await self.consumer.position(tp) for tp in self.tps}
        return _decoded(records, positions)

    async def close(self) -> None:
        await self.consumer.stop()


class _Rate(ProgressColumn):
    """Events per second (rich's own speed column speaks of bytes)."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- ev/s" if speed is None else f"{speed:,.0f} ev/s", style="cyan")


def progress_bar(console: Console) -> Bar:
    return Bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), _Rate(), TextColumn("eta"), TimeRemainingColumn(),
               TimeElapsedColumn(), console=console, transient=False)


async def _source(settings: Settings, kind: RuntimeKind,
                  ) -> tuple[RecordSource, Callable[[], Any]]:
    topic = topic_names(settings).ticket_events
    if kind is RuntimeKind.KAFKA:
        kafka = KafkaSource(settings.kafka_bootstrap_servers, topic)
        await kafka.start()
        return kafka, kafka.close
    embedded = EmbeddedSource(embedded_log_path(settings), topic)
    return embedded, embedded.close


async def run(settings: Settings, *, runtime: RuntimeKind | str, projections: list[str] | None,
              batch: int = DEFAULT_BATCH, restart: bool = False, max_lag: int = DEFAULT_LAG,
              console: Console | None = None) -> ReplayResult:
    """Rebuild and swap; shows a progress bar on ``console`` (none when ``None``)."""
    kind = RuntimeKind.parse(runtime)
    specs = choose(projections)
    engine = rebuild_engine(settings.projection_url(kind))
    target = RebuildTarget(engine, specs, topic_names(settings).ticket_events)
    source, close = await _source(settings, kind)
    bar = progress_bar(console) if console is not None else None
    task: Any = None

    def show(p: Progress) -> None:
        nonlocal task
        if bar is None:
            return
        label = f"{p.phase} {', '.join(target.names)}"
        if task is None:
            task = bar.add_task(label, total=p.total, completed=p.done)
        bar.update(task, description=label, total=max(p.total, p.done), completed=p.done)

    try:
        if bar is not None:
            bar.start()
        return await replay(target, source, batch=batch, restart=restart, max_lag=max_lag,
                            on_progress=show)
    finally:
        if bar is not None:
            bar.stop()
        await close()
        await asyncio.to_thread(engine.dispose)
