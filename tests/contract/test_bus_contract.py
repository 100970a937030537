"""One contract, two logs: the embedded SQLite log and the real Kafka broker must behave the
same for everything telecase relies on (order per key, offsets, replay, durable positions)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from streams.runtime.bus import Bus, Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.bus import KafkaBus

Opener = Callable[[], Awaitable[Any]]


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """A function that opens (or reopens, after a 'restart') the same log."""
    opened: list[Any] = []

    async def open_embedded() -> EmbeddedLog:
        for log in opened:
            await log.close()
        opened.clear()
        log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=4)
        opened.append(log)
        return log

    async def open_kafka() -> KafkaBus:
        servers = request.getfixturevalue("kafka_bootstrap")
        for bus in opened:
            await bus.close()
        opened.clear()
        bus = KafkaBus(servers, default_partitions=4)
        await bus.start()
        opened.append(bus)
        return bus

    yield open_embedded if request.param == "embedded" else open_kafka
    for bus in opened:
        await bus.close()


def topic() -> str:
    return f"contract.{uuid.uuid4().hex[:10]}"


async def read_partition(bus: Bus, name: str, partition: int, start: int = 0) -> list[Any]:
    out: list[Any] = []
    end = await bus.end_offset(name, partition)
    offset = start
    while offset < end:
        batch = await bus.read(name, partition, offset, 100, wait=1.0)
        out.extend(batch)
        if batch:
            offset = batch[-1].offset + 1
    return out


async def test_offsets_are_consecutive_and_reads_return_what_was_appended(
        opener: Opener) -> None:
    bus = await opener()
    name = topic()
    offsets = await bus.append(name, [Outgoing(b"k", b"v%d" % i, partition=0) for i in range(5)])
    assert offsets == [0, 1, 2, 3, 4]
    assert await bus.append(name, [Outgoing(b"k", b"v5", partition=0)]) == [5]
    records = await read_partition(bus, name, 0)
    assert [(r.offset, r.key, r.value) for r in records] == [
        (i, b"k", b"v%d" % i) for i in range(6)]


async def test_records_with_one_key_share_a_partition_and_keep_their_order(
        opener: Opener) -> None:
    bus = await opener()
    name = topic()
    keys = [b"chat:%d" % n for n in range(12)]

    async def writer(key: bytes) -> None:
        for i in range(10):
            await bus.append(name, [Outgoing(key, key + b"#%d" % i)])

    await asyncio.gather(*(writer(k) for k in keys))
    seen: dict[bytes, list[bytes]] = {}
    partitions_of: dict[bytes, set[int]] = {}
    for p in range(await bus.partitions(name)):
        for r in await read_partition(bus, name, p):
            assert r.key is not None
            seen.setdefault(r.key, []).append(r.value)
            partitions_of.setdefault(r.key, set()).add(p)
    assert {k: v for k, v in seen.items()} == {k: [k + b"#%d" % i for i in range(10)]
                                               for k in keys}
    assert all(len(ps) == 1 for ps in partitions_of.values())


async def test_replay_from_any_offset_is_repeatable(opener: Opener) -> None:
    bus = await opener()
    name = topic()
    await bus.append(name, [Outgoing(None, b"%d" % i, partition=1) for i in range(20)])
    first = [r.value for r in await read_partition(bus, name, 1, start=7)]
    again = [r.value for r in await read_partition(bus, name, 1, start=7)]
    assert first == again == [b"%d" % i for i in range(7, 20)]


async def test_asking_other_partitions_for_their_end_between_reads_loses_nothing(
        opener: Opener) -> None:
    """One reader walking a partition while another task asks every partition for its end
    (the reconciler beside the reply mirror on one bus)."""
    bus = await opener()
    name = topic()
    await bus.append(name, [Outgoing(None, b"%d" % i, partition=0) for i in range(30)])
    await bus.append(name, [Outgoing(None, b"x", partition=2)])
    seen: list[bytes] = []
    offset = 0
    while offset < 30:
        batch = await bus.read(name, 0, offset, 7, wait=1.0)
        assert batch, f"an empty read at offset {offset}"
        seen += [r.value for r in batch]
        offset = batch[-1].offset + 1
        assert [await bus.end_offset(name, p) for p in (1, 2, 3)] == [0, 1, 0]
    assert seen == [b"%d" % i for i in range(30)]


async def test_committed_positions_and_records_survive_a_restart(opener: Opener) -> None:
    bus = await opener()
    name, group = topic(), f"g-{uuid.uuid4().hex[:6]}"
    await bus.append(name, [Outgoing(None, b"x", partition=0) for _ in range(3)])
    assert await bus.committed(group, name) == {}
    await bus.commit(group, name, {0: 2})
    bus = await opener()  # a new process on the same log
    assert await bus.committed(group, name) == {0: 2}
    assert [r.offset for r in await read_partition(bus, name, 0, start=2)] == [2]
    assert await bus.end_offset(name, 0) == 3


async def test_a_consumer_that_crashes_before_committing_sees_the_batch_again(
        opener: Opener) -> None:
    bus = await opener()
    name, group = topic(), f"g-{uuid.uuid4().hex[:6]}"
    await bus.append(name, [Outgoing(None, b"%d" % i, partition=0) for i in range(6)])
    applied: dict[int, bytes] = {}  # an idempotent consumer: keyed by offset

    async def consume_once(limit: int, commit: bool) -> None:
        start = (await bus.committed(group, name)).get(0, 0)
        batch = await bus.read(name, 0, start, limit, wait=1.0)
        for r in batch:
            applied[r.offset] = r.value
        if commit and batch:
            await bus.commit(group, name, {0: batch[-1].offset + 1})

    await consume_once(3, commit=True)
    await consume_once(2, commit=False)  # crash: applied, not committed
    bus = await opener()
    await consume_once(10, commit=True)
    assert applied == {i: b"%d" % i for i in range(6)}
    assert await bus.committed(group, name) == {0: 6}


async def test_read_waits_for_new_records(opener: Opener) -> None:
    bus = await opener()
    name = topic()
    await bus.append(name, [Outgoing(None, b"first", partition=0)])
    waiting = asyncio.create_task(bus.read(name, 0, 1, 10, wait=10.0))
    await asyncio.sleep(0.3)
    await bus.append(name, [Outgoing(None, b"second", partition=0)])
    records = await asyncio.wait_for(waiting, 10)
    assert [r.value for r in records] == [b"second"]


async def test_read_any_reads_every_partition_in_order_from_its_own_offset(
        opener: Opener) -> None:
    bus = await opener()
    name = topic()
    for p in range(4):
        await bus.append(name, [Outgoing(None, b"%d:%d" % (p, i), partition=p)
                                for i in range(5)])
    offsets = {0: 3, 1: 0, 2: 5, 3: 4}  # partition 2 is read to its end
    seen: list[Any] = []
    for _ in range(20):  # a broker may hand partitions over in several fetches
        records = await bus.read_any(name, offsets, 100, wait=1.0)
        seen += records
        for r in records:
            offsets[r.partition] = r.offset + 1
        if len(seen) >= 2 + 5 + 1:
            break
    got = {p: [r.value for r in seen if r.partition == p] for p in range(4)}
    assert got == {0: [b"0:3", b"0:4"], 1: [b"1:%d" % i for i in range(5)], 2: [],
                   3: [b"3:4"]}
    assert all(r.offset == int(r.value.split(b":")[1]) for r in seen)
    assert await bus.read_any(name, offsets, 100, wait=0.2) == []


async def test_read_any_returns_at_most_limit_and_waits_for_any_partition(
        opener: Opener) -> None:
    bus = await opener()
    name = topic()
    await bus.append(name, [Outgoing(None, b"x", partition=p) for p in range(4)
                            for _ in range(10)])
    assert 1 <= len(await bus.read_any(name, {p: 0 for p in range(4)}, 7, wait=1.0)) <= 7
    ends = {p: 10 for p in range(4)}
    waiting = asyncio.create_task(bus.read_any(name, ends, 10, wait=10.0))
    await asyncio.sleep(0.3)
    await bus.append(name, [Outgoing(None, b"late", partition=2)])
    records = await asyncio.wait_for(waiting, 10)
    assert [(r.partition, r.offset, r.value) for r in records] == [(2, 10, b"late")]
