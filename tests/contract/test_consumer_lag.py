"""``telecase_consumer_lag`` on both logs: what a consumer still has to read, per partition,
0 once it has caught up, and gone once it stops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from prometheus_client import REGISTRY

from streams.runtime.bus import Outgoing, Record
from streams.runtime.lag import LagReport, consume
from tests.contract.test_bus_contract import Opener, opener, topic

__all__ = ["opener"]  # the fixture, shared with the bus contract


def lag(group: str, name: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("telecase_consumer_lag", {
        "group": group, "topic": name, "partition": str(partition)})


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_lag_is_what_is_left_to_read_and_drops_to_zero(opener: Opener) -> None:
    async with asyncio.timeout(90):  # a broker in trouble fails the test, never hangs it
        await _lag_drops_to_zero(opener)


async def _lag_drops_to_zero(opener: Opener) -> None:
    bus = await opener()
    name, group = topic(), f"g-{uuid.uuid4().hex[:8]}"
    partitions = await bus.partitions(name)
    await bus.append(name, [Outgoing(b"a", b"%d" % i, partition=0) for i in range(10)])
    await bus.append(name, [Outgoing(b"b", b"x", partition=1)])
    release, stop = asyncio.Event(), asyncio.Event()
    handled: list[Record] = []

    async def handle(partition: int, records: list[Record]) -> bool:
        await release.wait()
        handled.extend(records)
        return True

    consumer = asyncio.create_task(consume(bus, name, {}, handle, stop, group=group,
                                           batch_max=4, interval=0.05))
    # the first batch of partition 0 is in the handler: nothing is handled yet
    await until(lambda: lag(group, name, 0) == 10 and lag(group, name, 1) == 1)
    assert [lag(group, name, p) for p in range(2, partitions)] == [0] * (partitions - 2)
    release.set()
    await until(lambda: len(handled) == 11)
    await until(lambda: all(lag(group, name, p) == 0 for p in range(partitions)))
    await bus.append(name, [Outgoing(b"a", b"late", partition=0)])
    await until(lambda: len(handled) == 12)
    await until(lambda: lag(group, name, 0) == 0)
    stop.set()
    await consumer
    assert [lag(group, name, p) for p in range(partitions)] == [None] * partitions


def test_a_partition_given_away_is_no_longer_reported() -> None:
    report, name = LagReport(f"g-{uuid.uuid4().hex[:8]}"), topic()
    report.report({(name, 0): 5, (name, 1): -1})  # a stale end never reads as negative
    assert (lag(report.group, name, 0), lag(report.group, name, 1)) == (5, 0)
    report.report({(name, 1): 2})
    assert (lag(report.group, name, 0), lag(report.group, name, 1)) == (None, 2)
    report.clear()
    assert lag(report.group, name, 1) is None
