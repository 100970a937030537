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
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

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


class EagerTransport(faust_aiokafka.Transport):
    Consumer = EagerConsumer


def use_eager_transport(app: faust.App) -> None:
    """Give ``app`` the eager consumer; call it right after creating the app, before
    anything (a topic, a table, the agents) asks for its transport."""
    app.transport = EagerTransport(app.conf.broker_consumer, app)
