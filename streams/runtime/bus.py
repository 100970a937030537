"""The log as the rest of telecase sees it: append-only topics of keyed records.

Two implementations honour the same contract (``tests/contract`` runs one suite against both):
``streams.runtime.embedded.log.EmbeddedLog`` (one SQLite file, for ``telecase run`` on one
machine) and
``streams.runtime.kafka.bus.KafkaBus`` (Apache Kafka). The contract:

- ``append`` returns only when the records are durable, with the offset each one got;
- records of one partition keep their append order; a topic's records with the same key go to the
  same partition (the key's hash decides unless a partition is named), so per-key order holds;
- ``end_offsets`` tells where each partition ends (the next offset an append gets);
- ``read`` from any offset returns records in offset order, as often as asked (replay);
- a consumer group's committed positions survive restarts of the process and of the log.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float


@dataclass(frozen=True)
class Outgoing:
    """A record to append. ``partition=None``: chosen from the key."""

    key: bytes | None
    value: bytes
    partition: int | None = None


class BusError(Exception):
    """Root of the errors raised by a bus implementation."""


class Bus(Protocol):
    async def append(self, topic: str, records: Sequence[Outgoing]) -> list[int]: ...

    async def partitions(self, topic: str) -> int: ...

    async def read(self, topic: str, partition: int, offset: int, limit: int,
                   wait: float = 0.0) -> list[Record]:
        """Records from ``offset`` on; waits up to ``wait`` seconds when there are none."""
        ...

    async def read_any(self, topic: str, offsets: Mapping[int, int], limit: int,
                       wait: float = 0.0) -> list[Record]:
        """Records of any of ``offsets``' partitions, each from its offset on: at most
        ``limit`` in all, each partition's in order, partition after partition; waits up to
        ``wait`` seconds when none has any."""
        ...

    async def end_offset(self, topic: str, partition: int) -> int: ...

    async def end_offsets(self, topic: str, partitions: Sequence[int] | None = None,
                          ) -> dict[int, int]:
        """``partition -> end offset`` of ``partitions`` (all of the topic's by default), in
        one request where the log can (Kafka)."""
        ...

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """``partition -> next offset`` the group committed (absent: start at 0)."""
        ...

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None: ...

    async def close(self) -> None: ...


def partition_for(key: bytes | None, partitions: int) -> int:
    """The embedded log's key → partition (CRC32), stable in every process. (The Kafka
    runtime's is ``streams.runtime.kafka.bus.kafka_partition``: Kafka's default, murmur2.)"""
    if key is None or partitions == 1:
        return 0
    return zlib.crc32(key) % partitions


BatchHandler = Callable[[int, list[Record]], Awaitable[bool]]
MergedHandler = Callable[[list[Record]], Awaitable[bool]]


async def consume(bus: Bus, topic: str, positions: dict[int, int], handle: BatchHandler,
                  stop: asyncio.Event, *, batch_max: int, linger: float = 0.0,
                  linger_from: int = 8) -> None:
    """Feed ``handle(partition, records)`` every batch of ``topic`` from ``positions`` on,
    until ``stop``. The handler makes its own effects and position durable, and returns
    ``False`` to stop consuming (the batch counts as not handled). ``linger``: under load (a
    batch of ``linger_from`` or more records, short of ``batch_max``) wait that long before
    the next read, so batches grow and per-batch costs are shared; a lone record never waits.
    ``positions`` is updated in place."""
    partitions = await bus.partitions(topic)
    while not stop.is_set():
        idle = True
        for p in range(partitions):
            records = await bus.read(topic, p, positions.get(p, 0), batch_max,
                                     wait=0.2 if partitions == 1 else 0.0)
            if not records:
                continue
            idle = False
            if not await handle(p, records):
                return
            positions[p] = records[-1].offset + 1
            if linger and linger_from <= len(records) < batch_max:
                await asyncio.sleep(linger)
        if idle and partitions > 1:
            await asyncio.sleep(0.05)


async def consume_merged(bus: Bus, topic: str, positions: dict[int, int], handle: MergedHandler,
                         stop: asyncio.Event, *, batch_max: int) -> None:
    """Feed ``handle(records)`` batches of ``topic`` read from every partition at once
    (:meth:`Bus.read_any`): for a consumer whose cost is per batch whatever its partitions
    (the Salesforce sync: about two API calls a batch), so a topic's partition count does not
    multiply it. Each partition's records stay in order; the handler may extend the list in
    place (with each partition's next records) before it makes its effects and positions
    durable, and returns ``False`` to stop (the batch counts as not handled). ``positions``
    is updated in place after each handled batch, from the records the list then holds."""
    partitions = await bus.partitions(topic)
    while not stop.is_set():
        offsets = {p: positions.get(p, 0) for p in range(partitions)}
        records = await bus.read_any(topic, offsets, batch_max, wait=0.2)
        if not records:
            continue
        if not await handle(records):
            return
        positions.update(next_positions(records))


def next_positions(records: Sequence[Record]) -> dict[int, int]:
    """``partition -> the offset after its last record`` in ``records``."""
    out: dict[int, int] = {}
    for rec in records:
        out[rec.partition] = max(out.get(rec.partition, 0), rec.offset + 1)
    return out
