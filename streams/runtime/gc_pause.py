"""Python's cyclic garbage collector kept out of a worker's batches.

A batch (a tick firing up to :data:`~streams.runtime.timers.TICK_MAX_DUE` threads, or a
backlog's 2,000 records) builds new thread states, events and their encodings that all stay
alive until the batch is written. Each of them counts towards the collector's next run, and the
runs promote them from generation to generation, so a large batch sets off many young
collections and several full ones over an ever larger heap, none of which frees anything: the
batch's objects are referenced, and what it drops is freed by reference counting at once. On a
worker restart with 100,000 overdue timers the collector took about 40% of the restart
(``telecase bench timers --live``; issue 19).

:func:`gc_paused` holds the collector off for the length of a batch. Whatever cycles a batch
leaves are found by the first collection after it (the allocations counted during the batch set
one off at once), so memory stays bounded by one batch. Both workers fold each attempt at a
batch inside it (a broker or log outage's retries wait outside, with the collector on), and
``bench timers --live`` measures them so. Nested or overlapping pauses re-enable the collector
when the last one ends, and never enable a collector that was off before the first.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside the block (reference counting still frees)."""
    global _depth, _was_enabled
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()
