"""A ticket worker's SLA timer index, one per partition it holds, and when to tick.

The deadlines themselves live in the tickets' states (the Faust table, the embedded store);
this is only an index over them, rebuilt from the stored states whenever the worker gains a
partition (or starts), so it can be lost at any moment. The worker's ticker asks
:meth:`TimerBook.wants_tick` each interval and appends a :class:`~streams.schema.commands.Tick`
to a partition of ``ticket.commands`` when something there is due (or its index is not built
yet); folding that tick asks :meth:`TimerBook.pop_due` which threads to fire, and the states
stored afterwards are scheduled again with :meth:`TimerBook.schedule`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from prometheus_client import Gauge

from streams.core.service_level import next_due
from streams.core.ticket import ThreadState
from streams.runtime.bus import partition_for
from streams.sla.timers import TimerIndex

TIMERS = Gauge("telecase_sla_timer_threads", "Threads with a pending SLA timer, by partition",
               ["partition"])
TICK_RESEND_AFTER = 30.0
"""Seconds after which a tick not yet folded is sent again (the first may be behind a backlog,
or lost with a worker that died)."""


Partitioner = Callable[[bytes, int], int]
DueOf = Callable[[ThreadState], datetime | None]
"""When a thread next wants a tick: SLA timers (``next_due``, the default), and intake form
timeouts with them (``UpdateFolder.timer_due``)."""


def partition_of(thread_key: str, partitions: int,
                 partitioner: Partitioner = partition_for) -> int:
    """The partition of a thread: that of its chat's routing key ``chat:<id>`` in the raw
    topics (``partition_for`` on the embedded log; ``kafka_partition`` on Kafka)."""
    return partitioner(f"chat:{thread_key.split(':', 1)[0]}".encode(), partitions)


class TimerBook:
    def __init__(self, partitions: int, partitioner: Partitioner = partition_for,
                 due: DueOf = next_due) -> None:
        self.partitions, self.partitioner, self.due = partitions, partitioner, due
        self.indexes: dict[int, TimerIndex[str]] = {}
        self.ticks_in_flight: dict[int, float] = {}

    def partition_of(self, thread_key: str) -> int:
        return partition_of(thread_key, self.partitions, self.partitioner)

    def built(self, partition: int) -> bool:
        return partition in self.indexes

    def build(self, partition: int, states: Iterable[ThreadState]) -> None:
        """Index ``partition`` from its stored states (every state given must belong to it)."""
        self.indexes[partition] = TimerIndex((s.thread_key, self.due(s)) for s in states
                                             if s.alias_of is None)
        TIMERS.labels(str(partition)).set(len(self.indexes[partition]))

    def invalidate(self) -> None:
        """Forget every index (partitions moved): each is rebuilt at its next tick."""
        self.indexes.clear()
        self.ticks_in_flight.clear()

    def schedule(self, states: Iterable[ThreadState]) -> None:
        for state in states:
            index = self.indexes.get(self.partition_of(state.thread_key))
            if index is not None:
                index.schedule(state.thread_key, self.due(state))

    def pop_due(self, partition: int, at: datetime) -> list[str]:
        index = self.indexes.get(partition)
        return [] if index is None else index.pop_due(at)

    def wants_tick(self, partition: int, now: float) -> bool:
        """Whether to append a tick for ``partition`` now (epoch seconds)."""
        sent = self.ticks_in_flight.get(partition)
        if sent is not None and now - sent < TICK_RESEND_AFTER:
            return False
        index = self.indexes.get(partition)
        if index is not None:
            TIMERS.labels(str(partition)).set(len(index))
            due = index.next_due()
            if due is None or due > now:
                return False
        self.ticks_in_flight[partition] = now
        return True

    def tick_folded(self, partition: int) -> None:
        self.ticks_in_flight.pop(partition, None)


def due_threads(timers: TimerBook | None, pending: dict[str, ThreadState], popped: list[str],
                partition: int, at: datetime) -> list[str]:
    """The index's due threads of ``partition`` (remembered in ``popped``, to be scheduled
    again after the batch) and those decided earlier in the batch that are due too."""
    if timers is None:
        return []
    due = timers.pop_due(partition, at)
    popped += due
    seen = set(due)
    for key, state in pending.items():
        if key not in seen and timers.partition_of(key) == partition:
            soonest = timers.due(state)
            if soonest is not None and soonest <= at:
                due.append(key)
    return due
