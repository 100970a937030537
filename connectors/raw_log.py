"""Appending raw inbound records durably to the log.

A connector acknowledges an outside system (answers Telegram's webhook, advances the
``getUpdates`` offset) only after :meth:`RawLog.append` returned, which for Kafka means every
in-sync replica has the record (``acks=all``, idempotent producer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer

from streams.runtime import topics
from streams.runtime.bus import Bus, Outgoing


class RawEnvelope(Protocol):
    """A raw envelope ready for the log (``RawTelegramUpdate`` or ``EncodedUpdate``)."""

    def routing_key(self) -> str: ...

    def to_bytes(self) -> bytes: ...


class RawLog(Protocol):
    async def append(self, envelopes: Sequence[RawEnvelope]) -> None: ...


class KafkaRawLog:
    """``telegram.updates`` on Kafka, keyed by chat so each chat keeps its order."""

    def __init__(self, bootstrap_servers: str, topic: str = topics.TELEGRAM_UPDATES) -> None:
        self.topic = topic
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all",
                                         enable_idempotence=True, linger_ms=2,
                                         compression_type=None)

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def append(self, envelopes: Sequence[RawEnvelope]) -> None:
        futures = [await self.producer.send(self.topic, e.to_bytes(),
                                            key=e.routing_key().encode()) for e in envelopes]
        for fut in futures:
            await fut


class BusRawLog:
    """``telegram.updates`` on any :class:`~streams.runtime.bus.Bus` (the embedded log)."""

    def __init__(self, bus: Bus, topic: str = topics.TELEGRAM_UPDATES) -> None:
        self.bus, self.topic = bus, topic

    async def append(self, envelopes: Sequence[RawEnvelope]) -> None:
        await self.bus.append(self.topic, [Outgoing(e.routing_key().encode(), e.to_bytes())
                                           for e in envelopes])
