"""The Kafka worker's hand-over of a whole fetch (streams.runtime.kafka.eager): a partition's
records reach its channels as Faust's own per-record handler delivers them (same events, in
order, the same references taken, a record that does not decode acknowledged and reported the
same way); a full queue is waited for, not overrun; and the consumer's loop drops what was read
already, keeps each partition's read offset, and stops handing a fetch over once the consumer
generation changed."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.conductor import Conductor
from faust.types import TP, Message

from streams.runtime.kafka.eager import (
    BatchConductor,
    BatchHandler,
    EagerConsumer,
)
from streams.runtime.kafka.worker import WorkerConfig, create_app
from tests.unit.runtime.conftest import OfflineApp


class Item(faust.Record):
    n: int


def _channels(app: faust.App) -> list[Any]:
    """Two topics on the same partitions, one raw and one of JSON records: the second decodes
    a record of its own, and refuses one that is not JSON. Each is an iterator of its topic, as
    the conductor's are (the streams iterate them)."""
    raw = app.topic("t", key_type=bytes, value_type=bytes, key_serializer="raw",
                    value_serializer="raw")
    typed = app.topic("t", key_type=bytes, value_type=Item, key_serializer="raw",
                      value_serializer="json")
    return [raw.__aiter__(), typed.__aiter__()]


def _messages(values: list[bytes], partition: int = 0, first: int = 0) -> list[Message]:
    return [Message("t", partition, first + n, 0.0, 0, None, b"k%d" % n, value, None,
                    tp=TP("t", partition), generation_id=0)
            for n, value in enumerate(values)]


def _drained(channel: Any) -> list[Any]:
    """What the channel's queue holds, in order: an event's key and value, or an error."""
    out: list[Any] = []
    while not channel.queue.empty():
        try:  # a decode error is put in the queue, and raised by taking it
            item = channel.queue.get_nowait()
        except Exception as exc:
            out.append(type(exc).__name__)
        else:
            out.append((item.key, item.value, item.message.offset))
    return out


VALUES = [b'{"n": 1}', b'{"n": 2}', b"not json", b'{"n": 4}']


async def test_a_batch_reaches_every_channel_as_fausts_own_handler_delivers_it(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(eager=True)
    channels = _channels(app)
    subscribed = set(channels)  # one set for both: a refused record's fate follows its order
    delivered: list[Any] = []
    for handler in (BatchConductor(app)._build_handler(TP("t", 0), subscribed),
                    Conductor(app)._build_handler(TP("t", 0), subscribed)):
        messages = _messages(VALUES)
        if isinstance(handler, BatchHandler):
            await handler.deliver(messages)
        else:  # Faust's own, one record at a time
            for message in messages:
                await handler(message)
        delivered.append(([_drained(c) for c in channels],
                          [(m.refcount, m.acked) for m in messages]))
    ours, fausts = delivered
    assert ours == fausts
    (raw, typed), refs = ours
    assert [v.n for _, v, _ in typed[1:]] == [1, 2, 4]  # the one that is not JSON refused
    assert typed[0] == "ValueDecodeError"  # and reported
    # the rest in order (the raw channel got the refused record, or the error, as set order
    # decides: the channels after the refusing one get the error)
    assert [e[2] for e in raw if isinstance(e, tuple) and e[2] != 2] == [0, 1, 3]
    assert refs[0] == (2, False) and refs[2][0] < 2  # a reference for each channel it reached


async def test_one_record_through_the_conductors_callback_is_delivered_too(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(eager=True)
    (raw,) = channels = _channels(app)[:1]
    handler = BatchConductor(app)._build_handler(TP("t", 0), set(channels))
    (message,) = _messages([b"x"])
    await handler(message)
    assert _drained(raw) == [(b"k0", b"x", 0)] and message.refcount == 1


async def test_a_full_queue_is_waited_for_and_nothing_is_lost_or_reordered(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(eager=True, stream_buffer_maxsize=2)
    (raw,) = channels = _channels(app)[:1]
    handler = BatchConductor(app)._build_handler(TP("t", 0), set(channels))
    values = [b"%d" % n for n in range(7)]
    delivering = asyncio.ensure_future(handler.deliver(_messages(values)))
    await asyncio.sleep(0.05)
    assert not delivering.done() and raw.queue.qsize() == 2  # waiting for room
    taken = []
    while len(taken) < len(values):
        taken.append((await asyncio.wait_for(raw.queue.get(), 5)).value)
    await asyncio.wait_for(delivering, 5)
    assert taken == values


class _Fetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


async def _drain(app: faust.App, fetches: list[tuple[int, list[tuple[TP, list[Message]]]]],
                 ) -> None:
    """Run the consumer's loop over ``fetches`` (then stop it)."""
    consumer: Any = app.consumer
    fetcher = _Fetcher()
    queue = list(fetches)

    async def fetched(timeout: float) -> tuple[int, list[tuple[TP, list[Message]]]]:
        if not queue:
            fetcher._stopped.set()
            return app.consumer_generation_id, []
        return queue.pop(0)

    consumer._fetched = fetched
    await asyncio.wait_for(consumer._drain_messages(fetcher), 5)


async def test_the_loop_hands_each_partition_over_once_and_keeps_its_read_offset(
        offline_app: OfflineApp,
) -> None:
    app = offline_app(eager=True)
    raw = _channels(app)[0]
    tp0, tp1 = TP("t", 0), TP("t", 1)
    conductor: Any = app.topics
    for tp in (tp0, tp1):
        conductor._tp_to_callback[tp] = conductor._build_handler(tp, {raw})
    first = [(tp0, _messages([b"a", b"b"], 0)), (tp1, _messages([b"c"], 1))]
    # fetched again from offset 1 (Faust redelivers its read offset itself, as after a seek)
    again = [(tp0, _messages([b"b", b"d"], 0, first=1))]
    await _drain(app, [(0, first), (0, again)])
    got = []
    while not raw.queue.empty():
        event = raw.queue.get_nowait()
        got.append((event.message.partition, event.value))
    assert got == [(0, b"a"), (0, b"b"), (1, b"c"), (0, b"b"), (0, b"d")]
    consumer: Any = app.consumer
    assert (consumer._read_offset[tp0], consumer._read_offset[tp1]) == (2, 0)


async def test_a_record_below_the_read_offset_is_dropped(offline_app: OfflineApp) -> None:
    app = offline_app(eager=True)
    raw = _channels(app)[0]
    tp0 = TP("t", 0)
    conductor: Any = app.topics
    conductor._tp_to_callback[tp0] = conductor._build_handler(tp0, {raw})
    consumer: Any = app.consumer
    consumer._read_offset[tp0] = 5
    await _drain(app, [(0, [(tp0, _messages([b"old", b"older", b"new"], 0, first=3))])])
    assert [raw.queue.get_nowait().message.offset for _ in range(raw.queue.qsize())] == [5]


async def test_a_changed_generation_stops_the_rest_of_the_fetch(offline_app: OfflineApp) -> None:
    app = offline_app(eager=True)
    raw = _channels(app)[0]
    tp0, tp1 = TP("t", 0), TP("t", 1)
    seen: list[bytes | None] = []

    async def one_by_one(message: Message) -> None:  # a callback that cannot take batches
        seen.append(message.value)
        app.consumer_generation_id += 1  # a rebalance, as the records are handed over

    conductor: Any = app.topics
    conductor._tp_to_callback[tp0] = one_by_one
    conductor._tp_to_callback[tp1] = conductor._build_handler(tp1, {raw})
    await _drain(app, [(app.consumer_generation_id,
                        [(tp0, _messages([b"a"], 0)), (tp1, _messages([b"b"], 1))])])
    assert seen == [b"a"] and raw.queue.empty()


async def test_the_worker_app_hands_over_by_batches(closes_consumer_loop: Any) -> None:
    app = closes_consumer_loop(create_app(WorkerConfig(bootstrap_servers="127.0.0.1:1")))
    assert isinstance(app.topics, BatchConductor) and isinstance(app.consumer, EagerConsumer)
