"""Faust's aiokafka transport with a cheaper hand-over of what the consumer fetched.

Faust's consumer hands every record it fetched to the streams one at a time: its fetch loop
(``Consumer._drain_messages``) iterates the fetch record by record (asking the consumer's thread
for the partition's high watermark and telling the monitor about it for each), and for each
record awaits ``wait_first(callback(message), suspend_flow.wait())``, whose callback takes the
conductor's lock to find the partition's handler, which waits for flow control and for Faust's
producer buffer and then decodes the record and puts the event in each subscribed channel's
queue. ``mode``'s ``wait_first`` wraps each argument, and the service's own stopped and crashed
events, in a task, waits, and cancels the losers: four tasks per record, about a quarter of the
worker's CPU per update under Faust's own consumer path (issue 19).

:class:`EagerConsumer` runs such a callback at once instead, to its first suspension (as Python
3.12's eager tasks do). Almost always it finishes there (the queues have room): nothing else is
created. When it does suspend, the rest of it is awaited through Faust's own ``wait_first``,
with the same rivals as before, so a rebalance, a stop or a crash breaks in exactly as it did.

It also hands a fetch over a partition at a time. Its fetch loop does per fetch and partition
what Faust's does per record (the generation and flow checks, the high watermark, the
conductor's lock, the race with ``suspend_flow``) and per record only what must be: the
message, the read-offset check, the decode and the queue put, through the partition's
:class:`BatchHandler` (what :class:`BatchConductor` builds for each partition). In
``telecase bench ingest`` (its ``backlog_cpu_us_per_event``), that took the worker's CPU per
update from 91-96 to 75-79 µs (three pairs, alternately; issue 19). A partition whose
callback is not a :class:`BatchHandler` gets its records one by one, as from Faust's loop.

Everything else (the group, offsets, commits, tables and their changelogs) is Faust's, as is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Generator, Sequence
from typing import Any

import faust
from faust.exceptions import KeyDecodeError, ValueDecodeError
from faust.transport.conductor import Conductor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import Message
from mode.services import WaitResults

log = logging.getLogger(__name__)


class _Started:
    """A coroutine that already ran to its first suspension, as an awaitable: the object it
    yielded there is yielded again (the task awaiting this waits on it), and the coroutine
    is driven on from where it stopped."""

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, passed on to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


def run_first(coros: tuple[Any, ...]) -> WaitResults | _Started:
    """Run ``coros[0]`` (a coroutine) to its first suspension. Finished there: its
    :class:`WaitResults`, the rivals (``coros[1:]``, not started) closed, so none is left
    never awaited (a ``RuntimeWarning`` each, and work for the warnings machinery, on every
    record). Suspended: the awaitable that drives it on, for ``wait_first``."""
    first = coros[0]
    try:
        yielded = first.send(None)
    except StopIteration as done:  # finished without suspending: the usual case
        for rival in coros[1:]:
            if isinstance(rival, Coroutine):
                rival.close()
        return WaitResults([first], [done.value], False)
    return _Started(first, yielded)


class BatchHandler:
    """The conductor's callback for one partition, which also takes a whole fetch of it.

    Called with one record (Faust's contract: the conductor's ``on_message`` calls it), it
    delivers that one. :meth:`deliver` does for many records what Faust's handler does for each:
    wait while flow control is suspended (a rebalance) or Faust's producer buffer is full, then,
    for every record, take a reference per subscribed channel, decode it for each channel and
    put the event in the channel's queue, with the same pressure callbacks (a queue filling up
    pauses the partition's fetching, draining resumes it). A full queue is waited for; a record
    that does not decode is acknowledged for the channels it did not reach and handed to their
    error hooks. The two waits happen once a fetch instead of once a record: nothing can
    suspend the flow between two records unless the delivery itself waits for a full queue,
    and then the consumer's race with ``suspend_flow`` ends the delivery as it ended Faust's.
    """

    def __init__(self, conductor: Any, tp: Any, channels: Any) -> None:
        self.tp, self.channels = tp, channels
        app = conductor.app
        self._flow = app.flow_control.acquire
        self._ebb = app.producer.buffer.wait_until_ebb
        self._on_full = app.sensors.on_topic_buffer_full
        self._consumer = app.consumer

    async def __call__(self, message: Message) -> None:
        await self.deliver((message,))

    def on_pressure_high(self) -> None:
        self._on_full(self.tp)
        self._consumer.on_buffer_full(self.tp)

    def on_pressure_drop(self) -> None:
        self._consumer.on_buffer_drop(self.tp)

    async def deliver(self, messages: Sequence[Message]) -> None:
        await self._flow()
        await self._ebb()
        channels = self.channels
        n = len(channels)
        if not n:
            return
        high, drop = self.on_pressure_high, self.on_pressure_drop
        for message in messages:
            message.incref(n)
            delivered: set[Any] = set()
            full: list[tuple[Any, Any]] = []
            try:
                for channel in channels:
                    event = await channel.decode(message, propagate=True)
                    queue = channel.queue
                    if queue.full():
                        full.append((event, channel))
                        continue
                    queue.put_nowait_enhanced(event, on_pressure_high=high,
                                              on_pressure_drop=drop)
                    delivered.add(channel)
                for event, channel in full:
                    self._on_full(self.tp)
                    await channel.put(event)
                    delivered.add(channel)
            except KeyDecodeError as exc:
                await self._undecoded(message, channels - delivered, exc, key=True)
            except ValueDecodeError as exc:
                await self._undecoded(message, channels - delivered, exc, key=False)

    async def _undecoded(self, message: Message, remaining: Any, exc: Exception,
                         key: bool) -> None:
        message.ack(self._consumer, n=len(remaining))
        for channel in remaining:
            if key:
                await channel.on_key_decode_error(exc, message)
            else:
                await channel.on_value_decode_error(exc, message)


class BatchConductor(Conductor):
    """Faust's conductor, whose callback for each partition is a :class:`BatchHandler`."""

    def _build_handler(self, tp: Any, channels: Any) -> Any:
        return BatchHandler(self, tp, channels)


class EagerConsumer(faust_aiokafka.Consumer):
    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        first = coros[0] if coros else None
        if (not isinstance(first, Coroutine) or timeout is not None
                or self._stopped.is_set() or self._crashed.is_set()):
            return await super().wait_first(*coros, timeout=timeout)
        ran = run_first(coros)
        if isinstance(ran, WaitResults):
            return ran
        return await super().wait_first(ran, *coros[1:])

    async def _fetched(self, timeout: float) -> tuple[int, list[tuple[Any, list[Message]]]]:
        """One fetch, as Faust's ``getmany`` makes it, by partition: the consumer generation it
        was made in and each partition's records as messages (none when flow control is
        suspended: then, as Faust, the consumer seeks back to the committed offsets)."""
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if not records or self.should_stop:
            return generation, []
        if not self.flow_active:
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("seeking to the committed offsets while flow is suspended: %r", exc)
            return generation, []
        buffered, monitor = self._buffered_partitions, self.app.monitor
        to_message = self._to_message
        out: list[tuple[Any, list[Message]]] = []
        for tp, batch in records.items():
            if active is None or tp in active or tp in buffered:
                monitor.track_tp_end_offset(tp, self.highwater(tp))
                out.append((tp, [to_message(tp, record) for record in batch]))
        return generation, out

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's loop handing fetched records to the streams, a partition's records at a
        time (:class:`BatchHandler`); a partition whose callback cannot take a batch gets
        them one by one, as from Faust's own loop. Like Faust's, it drops a record at or
        below the partition's read offset, notes a gap after it for acking topics, commits
        every ``broker_commit_every`` acknowledgements, races each delivery with
        ``suspend_flow`` and stops handing over a fetch once the flow was suspended or the
        consumer generation changed."""
        if self.app.client_only:
            await super()._drain_messages(fetcher)
            return
        conductor: Any = self.app.topics
        read_offset = self._read_offset
        acks_enabled_for = conductor.acks_enabled_for
        suspend_flow = self.suspend_flow
        try:
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                self.diag.set_flag(CONSUMER_FETCHING)
                generation, fetched = await self._fetched(timeout=1.0)
                await self.sleep(0)
                for tp, messages in fetched:
                    if (self.should_stop or not self.flow_active
                            or self.app.consumer_generation_id != generation):
                        break
                    last = read_offset.get(tp)
                    fresh = []
                    for message in messages:
                        offset = message.offset
                        if last is not None and offset < last:
                            continue  # read already
                        if last and offset - last > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, last + 1, offset)
                        fresh.append(message)
                        last = offset
                    if not fresh:
                        continue
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    async with conductor._tp_to_callback_lock:
                        handler = conductor._tp_to_callback[tp]
                    if isinstance(handler, BatchHandler):
                        await self.wait_first(handler.deliver(fresh), suspend_flow.wait())
                        read_offset[tp] = fresh[-1].offset
                        continue
                    for message in fresh:
                        await self.wait_first(handler(message), suspend_flow.wait())
                        read_offset[tp] = message.offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class EagerTransport(faust_aiokafka.Transport):
    Consumer = EagerConsumer
    Conductor = BatchConductor


def use_eager_transport(app: faust.App) -> None:
    """Give ``app`` the eager consumer; call it right after creating the app, before
    anything (a topic, a table, the agents) asks for its transport."""
    app.transport = EagerTransport(app.conf.broker_consumer, app)
