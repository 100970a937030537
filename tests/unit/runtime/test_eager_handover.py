"""The Kafka worker's eager hand-over of a fetched record (streams.runtime.kafka.eager):
a callback that finishes without suspending is done at once and leaves no rival coroutine
never awaited; one that suspends is driven on to its result, or cancelled like any task."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
from mode.services import WaitResults

from streams.runtime.kafka.eager import run_first


async def _put(queue: list[int], value: int) -> int:
    queue.append(value)
    return value


async def _put_later(queue: list[int], value: int, gate: asyncio.Event) -> int:
    await gate.wait()
    queue.append(value)
    return value


async def test_a_callback_that_does_not_suspend_is_done_and_its_rival_closed() -> None:
    queue: list[int] = []
    flow = asyncio.Event()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a rival never awaited would warn when collected
        ran = run_first((_put(queue, 7), flow.wait()))
        gc.collect()
    assert isinstance(ran, WaitResults)
    assert (ran.results, ran.stopped, queue) == ([7], False, [7])


async def test_a_callback_that_suspends_is_driven_on_to_its_result() -> None:
    queue: list[int] = []
    gate = asyncio.Event()
    ran = run_first((_put_later(queue, 3, gate),))
    assert not isinstance(ran, WaitResults) and queue == []
    task = asyncio.ensure_future(ran)
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.wait_for(task, 5) == 3 and queue == [3]


async def test_a_suspended_callback_is_cancelled_like_a_task() -> None:
    queue: list[int] = []
    gate = asyncio.Event()
    ran = run_first((_put_later(queue, 3, gate),))
    task = asyncio.ensure_future(ran)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    await asyncio.sleep(0)
    assert queue == []
