"""The sync's adaptive linger on the embedded log (connectors.salesforce.linger): a batch at a
low rate waits and merges, never longer than its bound; a conversation that begins is one
batch; a lone record at a trickle goes after a short probe, and a record that already waited
in the log at once; a limit guard's widen stretches the bound
and the size; and, end to end against the simulator, a steady 20 messages a second costs at
most 0.2 API calls per message with the sync latency within the bound."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.linger import MAX_LINGER, PROBE, ArrivalRate, Linger
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing, Record, partition_for
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import CustomerMessageReceived, encode_event
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.infra import wait_until

TOPIC = "ticket.events"


async def _first(log: EmbeddedLog) -> list[Record]:
    await log.append(TOPIC, [Outgoing(b"k", b"0")])
    return await log.read(TOPIC, 0, 0, 10)


async def _trickle(log: EmbeddedLog, count: int, every: float) -> None:
    for n in range(count):
        await asyncio.sleep(every)
        await log.append(TOPIC, [Outgoing(b"k", str(n + 1).encode())])


def _primed(linger: Linger, per_second: float) -> Linger:
    """``linger`` as if it had seen ``per_second`` records a second for a while."""
    now = time.monotonic()
    linger.rate.clock = lambda: now - 1.0
    linger.rate.add(1)
    linger.rate.clock = lambda: now
    linger.rate.add(int(per_second))
    linger.rate.clock = time.monotonic
    return linger


async def test_a_batch_at_a_low_rate_waits_and_merges(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        records = await _first(log)
        linger = _primed(Linger(1.0, 500), per_second=10)
        feeder = asyncio.create_task(_trickle(log, 5, 0.1))
        start = time.monotonic()
        await linger.grow(log, TOPIC, 0, records, asyncio.Event())
        waited = time.monotonic() - start
        await feeder
        assert [r.offset for r in records] == [0, 1, 2, 3, 4, 5]  # one batch of six
        assert waited <= 1.0 + 0.1
    finally:
        await log.close()


async def test_the_linger_never_exceeds_its_bound(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        records = await _first(log)
        linger = _primed(Linger(0.5, 500), per_second=20)
        feeder = asyncio.create_task(_trickle(log, 60, 0.05))  # still arriving after 3 s
        start = time.monotonic()
        await linger.grow(log, TOPIC, 0, records, asyncio.Event())
        waited = time.monotonic() - start
        feeder.cancel()
        assert 0.3 <= waited <= 0.5 + 0.1
        assert len(records) > 1
    finally:
        await log.close()


async def test_a_full_batch_goes_at_once(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        await log.append(TOPIC, [Outgoing(b"k", str(n).encode()) for n in range(5)])
        records = await log.read(TOPIC, 0, 0, 5)
        linger = _primed(Linger(5.0, 5), per_second=100)
        start = time.monotonic()
        await linger.grow(log, TOPIC, 0, records, asyncio.Event())
        assert time.monotonic() - start < 0.1 and len(records) == 5
    finally:
        await log.close()


async def test_a_conversation_that_begins_is_one_batch(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        records = await _first(log)  # a sync that just started: no rate yet
        feeder = asyncio.create_task(_trickle(log, 2, 0.1))
        await Linger(1.5, 500).grow(log, TOPIC, 0, records, asyncio.Event())
        await feeder
        assert [r.offset for r in records] == [0, 1, 2]
    finally:
        await log.close()


async def test_a_lone_record_at_a_trickle_and_an_old_record_go_at_once(tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        records = await _first(log)
        start = time.monotonic()
        await Linger(1.5, 500).grow(log, TOPIC, 0, records, asyncio.Event())  # no rate yet
        assert time.monotonic() - start < PROBE + 0.1  # waited for a second record, no more
        old = [Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp - 2.0)
               for r in records]
        start = time.monotonic()
        await _primed(Linger(1.5, 500), 100).grow(log, TOPIC, 0, old, asyncio.Event())
        assert time.monotonic() - start < 0.1  # it waited in the log longer than the bound
    finally:
        await log.close()


def test_the_arrival_rate_follows_the_records() -> None:
    now = [100.0]
    rate = ArrivalRate(lambda: now[0])
    rate.add(1)
    assert rate.per_second() == 0.0  # one record alone: no rate yet
    now[0] = 100.1
    rate.add(1)
    assert round(rate.per_second()) == 10
    now[0] = 105.1  # then silence: the rate falls
    assert 0.19 < rate.per_second() < 0.2
    now[0] = 200.0  # out of the window
    assert rate.per_second() == 0.0


def test_widen_stretches_the_bound_and_the_size_within_the_cap() -> None:
    assert Linger(1.5, 500).limits() == (1.5, 500)
    assert Linger(1.5, 500, widen=lambda: 4.0).limits() == (6.0, 2000)
    assert Linger(1.5, 500, widen=lambda: 100.0).limits()[0] == MAX_LINGER
    assert Linger(1.5, 500, widen=lambda: 0.2).limits() == (1.5, 500)

    def broken() -> float:
        raise RuntimeError("guard down")
    assert Linger(1.5, 500, widen=broken).limits() == (1.5, 500)


@contextlib.asynccontextmanager
async def _running_sync(sf: Any, tmp_path: Path,
                        partitions: int) -> AsyncIterator[tuple[EmbeddedLog, TopicNames]]:
    """A SyncRunner lingering up to 1 s on a fresh embedded log, running until the block
    ends."""
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=partitions)
    names = TopicNames()
    runner = SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)), max_backoff=0.2,
                        linger=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield log, names
    finally:
        stop.set()
        await task
        await log.close()


async def test_twenty_messages_a_second_cost_at_most_a_fifth_of_a_call_each(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    async with _running_sync(sf, tmp_path, partitions=1) as (log, names):
        events = [e for n in range(4) for e in conversation(f"tg:-100:t{900 + n}",
                                                             customer(900 + n), 15)]
        messages = sum(isinstance(e, CustomerMessageReceived) for e in events)
        before = await driver.api_calls()
        appended: list[float] = []
        for e in events:  # 64 events, 20 a second
            await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(),
                                                            encode_event(e))])
            appended.append(time.monotonic())
            await asyncio.sleep(0.05)
        await wait_until(lambda: _committed(log, names, len(events)), timeout=10)
        done = time.monotonic()
        calls = await driver.api_calls() - before
        assert len(await driver.records("Task")) == messages == 60
        assert calls / messages <= 0.2, calls
        assert done - appended[-1] <= 1.0 + 0.5  # the last one waited no longer than the bound


async def test_a_batch_spans_partitions_so_their_count_does_not_multiply_the_calls(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    async with _running_sync(sf, tmp_path, partitions=4) as (log, names):
        talks = [conversation(f"tg:-100:t{950 + n}", customer(950 + n), 7) for n in range(8)]
        events = [e for round_ in zip(*talks, strict=True) for e in round_]  # interleaved
        spread = {partition_for(e.ticket_id.encode(), 4) for e in events}
        assert len(spread) >= 3, spread  # the conversations land on most partitions
        messages = sum(isinstance(e, CustomerMessageReceived) for e in events)
        before = await driver.api_calls()
        for e in events:  # 64 events, 20 a second, across the partitions
            await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(),
                                                            encode_event(e))])
            await asyncio.sleep(0.05)
        ends = await log.end_offsets(names.ticket_events)
        await wait_until(lambda: _at(log, names, ends), timeout=10)
        calls = await driver.api_calls() - before
        assert len(await driver.records("Task")) == messages == 56
        assert len(await driver.records("Case")) == 8
        assert calls / messages <= 0.2, calls


async def _at(log: EmbeddedLog, names: TopicNames, ends: dict[int, int]) -> bool:
    committed = await log.committed(GROUP, names.ticket_events)
    return {p: e for p, e in ends.items() if e} == committed


async def _committed(log: EmbeddedLog, names: TopicNames, n: int) -> bool:
    return await log.committed(GROUP, names.ticket_events) == {0: n}
