"""Opening a runtime from settings: the one place that knows what each
:class:`~telecase.settings.RuntimeKind` is made of.

- embedded: the log is ``<data dir>/log.sqlite`` (:class:`EmbeddedLog`; read-only on request,
  which takes no lock and so works beside a running ``telecase run``), the projections and the
  desk's state are in it or beside it (:class:`EmbeddedDeskStore`);
- Kafka: the topics are made sure of (:func:`ensure_kafka_topics`), the log is a
  :class:`KafkaBus` (every write of the process goes through it, raw logs included), and the
  desk's state is in the projections database (:class:`SqlDeskStore`).

Callers hold an :class:`OpenRuntime` (``async with open_runtime(settings, kind) as rt``) and
ask it for the bus, a raw log of a topic, the projection engine or the desk store; they never
branch on the kind themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from connectors.raw_log import BusRawLog
from projections.db import make_engine
from streams.runtime.bus import Bus
from streams.runtime.desk import DeskStore, EmbeddedDeskStore
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.kafka.desk_store import SqlDeskStore
from streams.runtime.topics import TopicNames
from telecase.settings import RuntimeKind, Settings

LOG_FILE = "log.sqlite"
"""The embedded log's file in the data directory."""


def embedded_log_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / LOG_FILE


def topic_names(settings: Settings) -> TopicNames:
    return TopicNames(settings.topic_prefix)


def projection_engine(settings: Settings, kind: RuntimeKind | str) -> Engine:
    """The projections database of ``kind`` (``TELECASE_DATABASE_URL`` when set)."""
    return make_engine(settings.projection_url(RuntimeKind.parse(kind)))


async def ensure_kafka_topics(settings: Settings) -> None:
    """Create the deployment's Kafka topics that do not exist yet."""
    await ensure_topics(settings.kafka_bootstrap_servers, topic_names(settings),
                        partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor)


async def ensure_embedded_topics(log: EmbeddedLog, settings: Settings) -> None:
    """The embedded log's topics that do not exist yet, as on Kafka: ``desk.requests`` with
    one partition (one ordered stream of people's requests), the others with
    ``TELECASE_EMBEDDED_PARTITIONS``."""
    names = topic_names(settings)
    for topic in (names.telegram_updates, names.ticket_commands, names.ticket_events,
                  names.dead_letters):
        await log.create_topic(topic, settings.embedded_partitions)
    await log.create_topic(names.desk_requests, 1)


async def open_embedded_log(settings: Settings, *, read_only: bool = False) -> EmbeddedLog:
    """``<data dir>/log.sqlite``, its topics made sure of (``read_only``: a snapshot, no lock,
    no writes). Raises ``LogUnavailableError`` when it cannot be opened (another process holds
    it, ...)."""
    path = embedded_log_path(settings)
    if read_only:
        return await EmbeddedLog.open_read_only(path)
    log = await EmbeddedLog.open(path, settings.embedded_partitions)
    try:
        await ensure_embedded_topics(log, settings)
    except BaseException:
        await log.close()
        raise
    return log


async def open_kafka_bus(settings: Settings, *, read_only: bool = False) -> KafkaBus:
    """A :class:`KafkaBus` of the configured cluster. To write: the topics made sure of and
    the producer started. ``read_only``: neither (nothing connects until the first read)."""
    bus = KafkaBus(settings.kafka_bootstrap_servers, settings.topic_partitions)
    if not read_only:
        await ensure_kafka_topics(settings)
        await bus.start()
    return bus


async def open_bus(settings: Settings, kind: RuntimeKind | str, *,
                   read_only: bool = False) -> Bus:
    """The log of ``kind``, opened (``bus.close()`` closes it)."""
    if RuntimeKind.parse(kind) is RuntimeKind.KAFKA:
        return await open_kafka_bus(settings, read_only=read_only)
    return await open_embedded_log(settings, read_only=read_only)


@dataclass
class OpenRuntime:
    """A runtime opened from settings: its log and what is built on it."""

    kind: RuntimeKind
    settings: Settings
    bus: Bus
    names: TopicNames
    _engines: list[Engine] = field(default_factory=list)

    @property
    def embedded_log(self) -> EmbeddedLog:
        """The embedded log (only on the embedded runtime)."""
        assert isinstance(self.bus, EmbeddedLog), f"the {self.kind} runtime has no embedded log"
        return self.bus

    def raw_log(self, topic: str) -> BusRawLog:
        """Appends raw envelopes to ``topic`` through the runtime's bus."""
        return BusRawLog(self.bus, topic)

    def projection_engine(self) -> Engine:
        """The projections database (disposed when the runtime closes)."""
        engine = projection_engine(self.settings, self.kind)
        self._engines.append(engine)
        return engine

    async def desk_store(self) -> DeskStore:
        """Where the desk keeps its state and positions: the embedded log, or (Kafka) the
        projections database, its tables made."""
        if self.kind is RuntimeKind.KAFKA:
            store = SqlDeskStore(self.projection_engine(), self.bus, self.names)
            await asyncio.to_thread(store.create)
            return store
        return EmbeddedDeskStore(self.embedded_log, self.names)

    async def close(self) -> None:
        try:
            await self.bus.close()
        finally:
            for engine in self._engines:
                await asyncio.to_thread(engine.dispose)


@asynccontextmanager
async def open_runtime(settings: Settings, kind: RuntimeKind | str | None = None, *,
                       read_only: bool = False) -> AsyncIterator[OpenRuntime]:
    """The runtime ``kind`` (the settings' default when ``None``; a string is parsed, so an
    unknown one raises ``SettingsError``), closed on exit."""
    chosen = settings.default_runtime if kind is None else RuntimeKind.parse(kind)
    bus = await open_bus(settings, chosen, read_only=read_only)
    rt = OpenRuntime(chosen, settings, bus, topic_names(settings))
    try:
        yield rt
    finally:
        await rt.close()
