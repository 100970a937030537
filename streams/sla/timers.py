"""Which tickets' SLA timers are due: a due-time index for a worker holding many tickets.

A worker keeps one entry per ticket: the instant its SLA state next has something to say
(:func:`streams.sla.clock.due`). After every fact or firing it calls :meth:`TimerIndex.schedule`
with the ticket's new due time (``None`` when nothing is pending), sleeps until
:meth:`~TimerIndex.next_due`, and fires the tickets :meth:`~TimerIndex.pop_due` hands it. A
worker that starts (or takes over partitions) builds the index from the states it loaded with
:meth:`~TimerIndex.rebuild`; whatever came due while nothing ran pops at once.

Pure data structure: no clock, times are arguments. Due times are ``datetime`` (timezone-aware)
or epoch seconds (``float``); they are kept as epoch seconds, so the two compare with each other.

How: a binary heap of ``(due, sequence, key)`` entries with lazy deletion. Rescheduling pushes a
new entry and leaves the old one in the heap; the ``live`` map knows each key's current entry, so
a superseded entry is recognised (by identity) and dropped when it reaches the top. When stale
entries outnumber live ones the heap is rebuilt from the live entries, so memory stays within
about twice the live entries under any churn, at an amortised constant cost per operation.
Entries due at the same instant pop in the order they were scheduled. A backlog (more due at
once than a 64th of the heap, as after downtime) is split off in one pass and sorted, instead of
being popped one logarithmic step at a time.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from itertools import islice
from operator import eq, itemgetter
from typing import Generic, TypeVar

__all__ = ["TimerIndex", "epoch_seconds"]

K = TypeVar("K", bound=Hashable)

_Entry = tuple[float, int, K]
_COMPACT_MIN = 1024
"""Below this many heap entries the heap is never compacted (not worth it)."""
_BULK_MIN = 1024
"""``pop_due`` pops at least this many keys one by one before it considers a bulk split."""
_due = itemgetter(0)
_due_then_sequence = itemgetter(0, 1)


def epoch_seconds(when: datetime | float) -> float:
    """``when`` as seconds since the Unix epoch. A ``datetime`` must be timezone-aware (a naive
    one would depend on the machine's time zone)."""
    if isinstance(when, datetime):
        if when.tzinfo is UTC:  # what the SLA clock hands out: no offset to look up
            return when.timestamp()
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"due times must be timezone-aware, got {when.isoformat()}")
        return when.timestamp()
    return float(when)


class TimerIndex(Generic[K]):
    """Tickets by due time: at most one due time per key; the earliest pops first."""

    __slots__ = ("_heap", "_live", "_sequence")

    def __init__(self, entries: Iterable[tuple[K, datetime | float | None]] = ()) -> None:
        self._heap: list[_Entry[K]] = []
        self._live: dict[K, _Entry[K]] = {}
        self._sequence = 0
        self.rebuild(entries)

    def __len__(self) -> int:
        """How many keys have a due time."""
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def __repr__(self) -> str:
        return f"TimerIndex(live={len(self._live)}, heap={len(self._heap)})"

    @property
    def heap_size(self) -> int:
        """Entries in the heap, superseded ones included (at most about twice the live ones)."""
        return len(self._heap)

    def due_of(self, key: K) -> float | None:
        """``key``'s due time in epoch seconds, ``None`` if it has none."""
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def schedule(self, key: K, due: datetime | float | None) -> None:
        """Make ``due`` the only due time of ``key`` (``None``: remove it)."""
        if due is None:
            if self._live.pop(key, None) is not None:
                self._maybe_compact()
            return
        entry = (epoch_seconds(due), self._sequence, key)
        self._sequence += 1
        replaced = self._live.get(key)
        self._live[key] = entry
        heapq.heappush(self._heap, entry)
        if replaced is not None:
            self._maybe_compact()

    def schedule_many(self, entries: Iterable[tuple[K, datetime | float | None]]) -> None:
        """:meth:`schedule` for each ``(key, due)`` in turn (the same result), for a batch such
        as the tickets just fired: a batch that is large against the heap is heapified once
        instead of pushed one logarithmic step at a time."""
        heap, live = self._heap, self._live
        sequence = self._sequence
        pushed: list[_Entry[K]] = []
        for key, due in entries:
            if due is None:
                live.pop(key, None)
                continue
            if type(due) is float:  # a worker's stored states' summaries (epoch seconds)
                entry = (due, sequence, key)
            elif type(due) is datetime and due.tzinfo is UTC:  # the common case, inline
                entry = (due.timestamp(), sequence, key)
            else:
                entry = (epoch_seconds(due), sequence, key)
            sequence += 1
            live[key] = entry
            pushed.append(entry)
        self._sequence = sequence
        if len(pushed) > len(heap) >> 3:
            heap += pushed
            heapq.heapify(heap)
        else:
            for entry in pushed:
                heapq.heappush(heap, entry)
        self._maybe_compact()

    def next_due(self) -> float | None:
        """The earliest due time (epoch seconds), ``None`` when the index is empty."""
        heap, live = self._heap, self._live
        while heap:
            entry = heap[0]
            if live.get(entry[2]) is entry:
                return entry[0]
            heapq.heappop(heap)  # superseded or removed
        return None

    def pop_due(self, now: datetime | float) -> list[K]:
        """Remove and return every key due at or before ``now``, earliest first. A key comes
        back only if it is scheduled again."""
        limit = epoch_seconds(now)
        heap, live = self._heap, self._live
        due: list[K] = []
        # One by one while few are due; past a share of the heap (a backlog after downtime)
        # one pass splits the rest, which beats a logarithmic, cache-missing pop per key.
        budget = max(_BULK_MIN, len(heap) >> 6)
        while heap and heap[0][0] <= limit:
            if not budget:
                return due + self._pop_bulk(limit)
            budget -= 1
            entry = heapq.heappop(heap)
            key = entry[2]
            if live.get(key) is entry:
                del live[key]
                due.append(key)
        return due

    def _pop_bulk(self, limit: float) -> list[K]:
        """Every live key due at or before ``limit``, in due order; the heap keeps the rest."""
        live, heap = self._live, self._heap
        if len(heap) == len(live):  # nothing superseded: every entry is live
            ready = [e for e in heap if e[0] <= limit]
        else:
            ready = [e for e in heap if e[0] <= limit and live.get(e[2]) is e]
        rest = [e for e in heap if e[0] > limit]  # superseded ones too: compaction drops them
        heapq.heapify(rest)
        self._heap = rest
        ready.sort(key=_due)  # a sort on plain floats; ties (rare) then by sequence
        dues = [e[0] for e in ready]
        if any(map(eq, dues, islice(dues, 1, None))):
            ready.sort(key=_due_then_sequence)
        if len(ready) == len(live):
            live.clear()
        else:
            for entry in ready:
                del live[entry[2]]
        return [entry[2] for entry in ready]

    def rebuild(self, entries: Iterable[tuple[K, datetime | float | None]]) -> None:
        """Replace the contents with ``entries`` (a key given twice keeps its last due time);
        linear time (one ``heapify``), for a worker loading its states."""
        live: dict[K, _Entry[K]] = {}
        sequence = 0
        for key, due in entries:
            if due is None:
                live.pop(key, None)
                continue
            if type(due) is float:  # a worker's stored states' summaries (epoch seconds)
                live[key] = (due, sequence, key)
            elif type(due) is datetime and due.tzinfo is UTC:  # the common case, inline
                live[key] = (due.timestamp(), sequence, key)
            else:
                live[key] = (epoch_seconds(due), sequence, key)
            sequence += 1
        self._live = live
        self._heap = list(live.values())
        heapq.heapify(self._heap)
        self._sequence = sequence

    def _maybe_compact(self) -> None:
        """Drop superseded entries once they outnumber the live ones."""
        heap = self._heap
        if len(heap) > _COMPACT_MIN and len(heap) > 2 * len(self._live):
            heap[:] = self._live.values()
            heapq.heapify(heap)
