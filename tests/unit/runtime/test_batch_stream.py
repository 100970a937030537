"""The Kafka worker's Faust stream (streams.runtime.kafka.batches) and monitor
(streams.runtime.kafka.sensors): ``take_events`` gives the batches Faust's own gives and
acknowledges every event once the agent is done with its batch; a record of an earlier consumer
generation is dropped and acknowledged; a stream's processors (every agent's stream has one) run
on each event, and one that skips an event drops it, acknowledged; the lean monitor still
records when a partition's stream last took a record."""

from __future__ import annotations

from typing import Any

import faust
from faust.exceptions import Skip
from faust.types import TP

from streams.runtime.kafka.batches import BatchStream
from streams.runtime.kafka.sensors import LeanMonitor
from tests.unit.runtime.conftest import OfflineApp


async def _take(app: faust.App, values: list[int], max_: int,
                ) -> tuple[list[list[int]], list[bool], list[bool], int]:
    """The batches a stream over a channel takes of ``values``; whether each event taken was
    acked once the agent asked for the next batch (or, for the last batch, was still not)
    and once the agent's loop was closed; the stream's event count."""
    channel = app.channel()
    stream: Any = app.stream(channel)
    for value in values:
        await channel.send(value=value)
    batches: list[list[int]] = []
    taken: list[Any] = []
    acked: list[bool] = []
    agen = stream.take_events(max_, within=0.05)
    async for batch in agen:
        acked.extend(e.message.acked for e in taken)  # the batches before: acked by now
        assert not any(e.message.acked for e in batch)
        batches.append([e.value for e in batch])
        taken = list(batch)
        if sum(map(len, batches)) == len(values):
            acked.extend(e.message.acked for e in taken)
            break
    await agen.aclose()
    return batches, acked, [e.message.acked for e in taken], stream.events_total


async def test_the_batches_are_faust_own_and_every_event_is_acked_after_its_batch(
        offline_app: OfflineApp,
) -> None:
    values = list(range(7))
    ours = await _take(offline_app(Stream=BatchStream), values, 3)
    fausts = await _take(offline_app(), values, 3)
    assert ours[0] == fausts[0] == [[0, 1, 2], [3, 4, 5], [6]]
    assert ours[1] == fausts[1] == [True] * 6 + [False]  # the last batch: still the agent's
    assert ours[2] == fausts[2] == [True]  # acked when the agent's loop ends
    assert ours[3] == fausts[3] == 7


async def test_a_record_of_an_earlier_generation_is_dropped_and_acked(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(Stream=BatchStream)
    channel = app.channel()
    stream: Any = app.stream(channel)
    queue = stream.channel.queue
    await channel.send(value=1)
    await channel.send(value=2)
    old, new = list(queue._queue)
    old.message.generation_id = 0
    new.message.generation_id = 1
    app.consumer_generation_id = 1  # a rebalance came between the fetch and the stream
    async for batch in stream.take_events(10, within=0.05):
        assert [e.value for e in batch] == [2]
        assert old.message.acked and not new.message.acked
        break


async def test_an_agents_stream_takes_batches_here_with_its_processors_run(
        offline_app: OfflineApp,
) -> None:
    """Faust gives every yielding agent's stream a processor (its reply unwrapping), so a
    stream with processors must not fall back to Faust's path: they run here, per event, in
    order, with the event current, and the batches are still Faust's."""
    seen: list[tuple[int, int]] = []

    async def take(app: faust.App) -> tuple[list[list[int]], list[tuple[int, int]], str]:
        seen.clear()
        channel = app.channel()
        stream: Any = app.stream(channel)
        stream.add_processor(lambda value: value * 10)
        stream.add_processor(lambda value: seen.append((stream.current_event.value, value)))
        for value in (1, 2, 3):
            await channel.send(value=value)
        batches: list[list[int]] = []
        agen = stream.take_events(2, within=0.05)
        async for batch in agen:
            batches.append([e.value for e in batch])  # the events as taken, not the results
            if sum(map(len, batches)) == 3:
                break
        await agen.aclose()
        return batches, list(seen), agen.ag_code.co_name  # type: ignore[attr-defined]

    ours, fausts = await take(offline_app(Stream=BatchStream)), await take(offline_app())
    assert ours[:2] == fausts[:2] == ([[1, 2], [3]], [(1, 10), (2, 20), (3, 30)])
    assert (ours[2], fausts[2]) == ("_take_batches", "take_events")


async def test_an_event_a_processor_skips_is_dropped_and_acked(offline_app: OfflineApp) -> None:
    app = offline_app(Stream=BatchStream)
    channel = app.channel()
    stream: Any = app.stream(channel)

    def odd_only(value: int) -> int:
        if value % 2 == 0:
            raise Skip()
        return value

    stream.add_processor(odd_only)
    for value in (1, 2, 3):
        await channel.send(value=value)
    skipped = list(stream.channel.queue._queue)[1]
    async for batch in stream.take_events(3, within=0.05):
        assert [e.value for e in batch] == [1, 3]
        assert skipped.message.acked and not any(e.message.acked for e in batch)
        break


async def test_processors_returning_awaitables_run_in_order_as_fausts_do(
        offline_app: OfflineApp,
) -> None:
    """A processor may return an awaitable (Faust awaits it): from the first that does, the
    rest run after it, each on the one before's result, with the event still current, and an
    asynchronous ``Skip`` drops the event (acknowledged); the batches are still Faust's."""
    seen: list[tuple[str, int, int]] = []

    async def take(app: faust.App) -> tuple[list[list[int]], list[tuple[str, int, int]],
                                            list[bool]]:
        seen.clear()
        channel = app.channel()
        stream: Any = app.stream(channel)

        def first(value: int) -> int:
            seen.append(("sync", stream.current_event.value, value))
            return value + 1

        async def later(value: int) -> int:
            seen.append(("async", stream.current_event.value, value))
            if value == 3:  # the event 2, skipped after the sync processor ran
                raise Skip()
            return value * 10

        stream.add_processor(first)
        stream.add_processor(later)
        stream.add_processor(lambda value: seen.append(("last", stream.current_event.value,
                                                        value)))
        for value in (1, 2, 3):
            await channel.send(value=value)
        events = list(stream.channel.queue._queue)
        batches: list[list[int]] = []
        agen = stream.take_events(3, within=0.05)
        async for batch in agen:
            batches.append([e.value for e in batch])
            if sum(map(len, batches)) == 2:
                break
        acked = [e.message.acked for e in events]
        await agen.aclose()
        return batches, list(seen), acked

    ours, fausts = await take(offline_app(Stream=BatchStream)), await take(offline_app())
    assert ours == fausts
    assert ours[0] == [[1, 3]]
    assert ours[1] == [("sync", 1, 1), ("async", 1, 2), ("last", 1, 20),
                       ("sync", 2, 2), ("async", 2, 3),
                       ("sync", 3, 3), ("async", 3, 4), ("last", 3, 40)]
    assert ours[2] == [False, True, False]  # the skipped one acked, the batch's not yet


async def test_the_lean_monitor_records_when_a_stream_last_took_a_record(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(Stream=BatchStream, Monitor=LeanMonitor)
    assert isinstance(app.monitor, LeanMonitor)
    app.sensors.add(app.monitor)
    channel = app.channel()
    stream: Any = app.stream(channel)
    await channel.send(value=1)
    async for batch in stream.take_events(1, within=0.05):
        tp: TP = batch[0].message.tp
        assert app.monitor.stream_inbound_time[tp] > 0
        assert app.monitor.events_total == 0 and app.monitor.messages_received_total == 0
        break
