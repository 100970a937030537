"""Faust's aiokafka transport with a cheaper hand-over of each fetched record.

Faust's consumer hands every record it fetched to the streams with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: the callback puts the
record in its streams' queues, and the wait on ``suspend_flow`` lets a rebalance break in
should a full queue block it. ``mode``'s ``wait_first`` wraps each argument, and the service's
own stopped and crashed events, in a task, waits, and cancels the losers: four tasks per record,
about a quarter of the worker's CPU per update under Faust's own consumer path (issue 19).

:class:`EagerConsumer` runs the callback at once instead, to its first suspension (as Python
3.12's eager tasks do). Almost always it finishes there (the queues have room): nothing else is
created. When it does suspend, the rest of it is awaited through Faust's own ``wait_first``,
with the same rivals as before, so a rebalance, a stop or a crash breaks in exactly as it did.
Everything else (the group, offsets, commits, tables and their changelogs) is Faust's, as is.

Its consumer also **fetches in batches** (:class:`BatchingConsumerThread`). Faust's consumer asks
the broker with Kafka's default ``fetch.min.bytes`` of 1 (and ``fetch.max.wait.ms`` 1500), so
under live traffic the broker answers a fetch as soon as one record arrives: at 1,000 updates
a second the worker's consumer thread fetched about once a record, and took 0.29 ms of CPU an
update, its main thread (every fetch handed over to it) another 0.36 ms. With
``fetch_min_bytes`` (64 KiB) and ``fetch_max_wait`` (5 ms), the broker holds a fetch until that
much has arrived or that long has passed (the consumer configs ``fetch.min.bytes`` and
``fetch.max.wait.ms``: https://kafka.apache.org/documentation/#consumerconfigs): a backlog
still comes back at once in full fetches, and a live record waits at most ``fetch_max_wait``
more, which the worker takes off its own linger (``WorkerConfig.batch_within``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.services import WaitResults


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


    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return BatchingConsumerThread(self, loop=self.loop, beacon=self.beacon)


class BatchingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, its aiokafka consumers fetching with the transport's
    ``fetch_min_bytes`` and ``fetch_max_wait`` (see the module)."""

    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_consumer(loop)
        transport = self.consumer.transport
        if isinstance(transport, EagerTransport):
            set_fetch_batching(consumer, transport.fetch_min_bytes, transport.fetch_max_wait)
        return consumer


def set_fetch_batching(consumer: aiokafka.AIOKafkaConsumer, min_bytes: int,
                       max_wait: float) -> None:
    """Give a consumer not yet started ``fetch_min_bytes`` and ``fetch_max_wait_ms``.

    Faust builds its consumers itself (``fetch_max_wait_ms=1500``, ``fetch_min_bytes`` left at
    1) and has no setting for either; aiokafka's consumer keeps both constructor arguments as
    they were given until ``start()`` hands them to its fetcher, so they are set there. A
    consumer that no longer keeps them so (another aiokafka) raises, rather than fetching
    one record at a time unnoticed."""
    if not (hasattr(consumer, "_fetch_min_bytes") and hasattr(consumer, "_fetch_max_wait_ms")):
        raise RuntimeError("this aiokafka's consumer takes no fetch batching after construction")
    consumer._fetch_min_bytes = min_bytes
    consumer._fetch_max_wait_ms = round(max_wait * 1000)


class EagerTransport(faust_aiokafka.Transport):
    Consumer = EagerConsumer
    fetch_min_bytes = 64 * 1024
    fetch_max_wait = 0.005


def use_eager_transport(app: faust.App, *, fetch_min_bytes: int = EagerTransport.fetch_min_bytes,
                        fetch_max_wait: float = EagerTransport.fetch_max_wait) -> None:
    """Give ``app`` the eager consumer, fetching in batches of ``fetch_min_bytes`` or
    ``fetch_max_wait`` seconds, whichever comes first; call it right after creating the app,
    before anything (a topic, a table, the agents) asks for its transport."""
    transport = EagerTransport(app.conf.broker_consumer, app)
    transport.fetch_min_bytes, transport.fetch_max_wait = fetch_min_bytes, fetch_max_wait
    app.transport = transport
