"""The garbage collector paused for a worker's batch (``streams.runtime.gc_pause``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.runtime.gc_pause import gc_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_is_on_again_after_the_batch_raised() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_nested_pauses_enable_it_when_the_outermost_ends() -> None:
    gc.enable()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_cycle_left_by_a_batch_is_collected_after_it_without_being_asked() -> None:
    class Node:
        peer: object = None

    gc.enable()
    gc.collect()
    with gc_paused():
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        left = weakref.ref(a)
        del a, b
        kept = [[] for _ in range(10 * gc.get_threshold()[0])]  # a batch's live objects
        assert left() is not None  # no collection ran during the batch
    more = [[] for _ in range(10)]  # the first allocations after it set one off
    assert left() is None
    assert kept and more
