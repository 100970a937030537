"""Appending raw inbound records durably to the log.

A connector acknowledges an outside system (answers Telegram's webhook, advances the
``getUpdates`` offset) only after :meth:`RawLog.append` returned, which for Kafka means every
in-sync replica has the record (``acks=all``, idempotent producer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streams.runtime import topics
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.kafka.bus import KafkaBus


class RawEnvelope(Protocol):
    """A raw envelope ready for the log (``RawTelegramUpdate`` or ``EncodedUpdate``)."""

    def routing_key(self) -> str: ...

    def to_bytes(self) -> bytes: ...


class RawLog(Protocol):
    async def append(self, envelopes: Sequence[RawEnvelope]) -> None: ...


class BusRawLog:
    """A raw topic (``telegram.updates`` by default) on any :class:`~streams.runtime.bus.Bus`:
    the embedded log, or a started :class:`~streams.runtime.kafka.bus.KafkaBus`."""

    def __init__(self, bus: Bus, topic: str = topics.TELEGRAM_UPDATES) -> None:
        self.bus, self.topic = bus, topic

    async def append(self, envelopes: Sequence[RawEnvelope]) -> None:
        await self.bus.append(self.topic, [Outgoing(e.routing_key().encode(), e.to_bytes())
                                           for e in envelopes])


class KafkaRawLog(BusRawLog):
    """A raw topic on Kafka, through a :class:`~streams.runtime.kafka.bus.KafkaBus` of its
    own (started and stopped with it): keyed by chat, placed by the bus's partitioner
    (Kafka's default), so each chat keeps its order."""

    def __init__(self, bootstrap_servers: str, topic: str = topics.TELEGRAM_UPDATES,
                 partitions: int = 4) -> None:
        kafka = KafkaBus(bootstrap_servers, partitions)
        super().__init__(kafka, topic)
        self.kafka = kafka

    async def start(self) -> None:
        await self.kafka.start()

    async def stop(self) -> None:
        await self.kafka.close()
