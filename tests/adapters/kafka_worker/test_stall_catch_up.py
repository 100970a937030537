"""The worker's catch-up of a stalled partition, against a real broker: records past the owed
offset that the stream does not deliver are read back from the topic and folded once, in
order; nothing is folded while the stream makes progress, while the worker's assignment or
tables are in flux, or when the agent's own batch got there first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.runtime.bus import Outgoing
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.kafka.stall import CatchUp, StallWatch
from streams.runtime.kafka.worker import _GapReader
from streams.runtime.topics import TopicNames

pytestmark = pytest.mark.integration

AFTER = 30.0


@dataclass
class Partition:
    """A worker's view of one held partition: what it folded and the offset it owes next."""

    reader: _GapReader
    topic: str
    owed: int = 0
    folded: list[int] = field(default_factory=list)
    now: float = 0.0
    ready: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def fold(self, records: Sequence[Any]) -> None:
        for rec in records:
            assert rec.offset == self.owed, "folded out of order or twice"
            self.folded.append(rec.offset)
            self.owed = rec.offset + 1

    def catch_up(self) -> CatchUp:
        return CatchUp(watch=StallWatch(AFTER), lock=self.lock,
                       held=lambda: [(self.topic, 0)],
                       owed=lambda p: self.owed if p == (self.topic, 0) else None,
                       ends=self.reader.ends, read=self.reader.read, fold=self.fold,
                       ready=lambda: self.ready, clock=lambda: self.now)


@pytest.fixture
async def partition(kafka_bootstrap: str) -> AsyncIterator[Partition]:
    names = TopicNames(f"stall-{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, names, partitions=2)
    bus = KafkaBus(kafka_bootstrap, 2)
    await bus.start()
    try:
        await bus.append(names.telegram_updates,
                         [Outgoing(b"chat", b"update %d" % i, partition=0) for i in range(10)])
    finally:
        await bus.close()
    reader = _GapReader(kafka_bootstrap)
    try:
        yield Partition(reader, names.telegram_updates)
    finally:
        await reader.stop()


async def test_a_stalled_partition_is_read_back_and_folded_once_in_order(
        partition: Partition) -> None:
    partition.owed = 3
    partition.folded = [0, 1, 2]
    catch_up = partition.catch_up()
    assert await catch_up.check() == 0  # first look: the wait begins
    partition.now = AFTER - 1
    assert await catch_up.check() == 0
    partition.now = AFTER
    assert await catch_up.check() == 7
    assert partition.folded == list(range(10))
    partition.now = 10 * AFTER
    assert await catch_up.check() == 0  # nothing waits any more


async def test_a_stream_that_makes_progress_is_left_alone(partition: Partition) -> None:
    catch_up = partition.catch_up()
    for step in range(1, 10):
        partition.now = step * AFTER
        await partition.fold([_Record(partition.owed)])  # the agent folds one each time
        assert await catch_up.check() == 0
    assert partition.folded == list(range(9))


async def test_nothing_is_folded_while_the_assignment_or_tables_are_in_flux(
        partition: Partition) -> None:
    catch_up = partition.catch_up()
    await catch_up.check()
    partition.ready = False
    partition.now = 10 * AFTER
    assert await catch_up.check() == 0
    assert partition.folded == []


async def test_records_the_agent_folds_while_the_catch_up_waits_are_not_folded_again(
        partition: Partition) -> None:
    catch_up = partition.catch_up()
    await catch_up.check()
    partition.now = AFTER
    await partition.lock.acquire()  # the agent is folding a batch
    looking = asyncio.create_task(catch_up.check())
    await asyncio.sleep(0.1)
    assert not looking.done()
    await partition.fold([_Record(o) for o in range(10)])  # the stream delivered them after all
    partition.lock.release()
    assert await looking == 0
    assert partition.folded == list(range(10))


@dataclass(frozen=True)
class _Record:
    offset: int
