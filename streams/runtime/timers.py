"""A ticket worker's SLA timer index, one per partition it holds, and when to tick.

The deadlines themselves live in the tickets' states (the Faust table, the embedded store);
this is only an index over them, rebuilt from the stored states whenever the worker gains a
partition (or starts), so it can be lost at any moment. A restart rebuilds it from the stored
bytes without decoding them (:meth:`TimerBook.build_stored`: each stored state's deadline
summary, :func:`~streams.runtime.state_codec.stored_deadlines`); only the threads that come
due are decoded, when a tick fires them. The worker's ticker asks
:meth:`TimerBook.wants_tick` each interval and appends a :class:`~streams.schema.commands.Tick`
to a partition of ``ticket.commands`` when something there is due (or its index is not built
yet); folding that tick asks :meth:`TimerBook.pop_due` which threads to fire, and the states
stored afterwards are scheduled again from their encoded bytes' summaries
(:meth:`TimerBook.schedule_stored`; :meth:`TimerBook.schedule` for decoded states).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Gauge

from streams.core.intake import IntakeRules
from streams.core.service_level import next_due
from streams.core.ticket import ThreadState
from streams.runtime.bus import partition_for
from streams.runtime.state_codec import NO_DEADLINE, stored_deadlines
from streams.sla.timers import TimerIndex

TIMERS = Gauge("telecase_sla_timer_threads", "Threads with a pending SLA timer, by partition",
               ["partition"])
TICK_MAX_DUE = 10_000
"""At most this many of a partition's due threads fire in one tick; the rest wait in the
partition's backlog, in due order, for the next ticks (sent at once while a backlog remains).
A restart after a long downtime (a million overdue timers) so fires in batches the worker
writes one at a time, instead of holding every fired state and event in memory at once (about
3.5 KB a thread until its batch is written: some 35 MB for a full tick, 3.5 GB for a million),
and the updates arriving meanwhile are folded between them (``bench timers --live``). Smaller
ticks also cost less CPU: a tick's objects are freed before the next one's are made, where one
tick of 50,000 threads had the process fault in some 48,000 fresh pages (about 7% of a cold
restart's CPU, issue 19)."""
POPPED_PARTITIONS = 2 * TICK_MAX_DUE
"""How many threads handed to ticks :attr:`TimerBook.popped_partitions` remembers the
partitions of (some 1 MB at most)."""
TICK_RESEND_AFTER = 30.0
"""Seconds after which a tick not yet folded is sent again (the first may be behind a backlog,
or lost with a worker that died)."""


Partitioner = Callable[[bytes, int], int]


class TimedFolder(Protocol):
    """What :meth:`TimerBook.for_folder` reads of an ``UpdateFolder``."""

    @property
    def sla_policy(self) -> object | None: ...
    @property
    def intake(self) -> IntakeRules | None: ...

    def timer_due(self, state: ThreadState) -> datetime | None: ...

DueOf = Callable[[ThreadState], datetime | None]
"""When a thread next wants a tick: SLA timers (``next_due``, the default), and intake form
timeouts with them (``UpdateFolder.timer_due``)."""


def partition_of(thread_key: str, partitions: int,
                 partitioner: Partitioner = partition_for) -> int:
    """The partition of a thread: that of its chat's routing key ``chat:<id>`` in the raw
    topics (``partition_for`` on the embedded log; ``kafka_partition`` on Kafka)."""
    return partitioner(f"chat:{thread_key.split(':', 1)[0]}".encode(), partitions)


class TimerBook:
    """``due`` says when a decoded state wants a tick; ``sla`` and ``form_timeout`` say the same
    of a stored state's deadline summary (:meth:`build_stored`), and must agree with ``due``:
    the SLA deadline counts when ``sla``, an open intake form's last activity plus
    ``form_timeout`` when that is given (:meth:`for_folder` sets all three from a folder)."""

    def __init__(self, partitions: int, partitioner: Partitioner = partition_for,
                 due: DueOf = next_due, *, sla: bool = True,
                 form_timeout: timedelta | None = None, max_due: int | None = None) -> None:
        self.partitions, self.partitioner, self.due = partitions, partitioner, due
        self.sla = sla
        self.max_due = max_due
        """At most this many due threads a tick (``None``: :data:`TICK_MAX_DUE`)."""
        self.form_timeout_us = (None if form_timeout is None
                                else form_timeout // timedelta(microseconds=1))
        self.indexes: dict[int, TimerIndex[str]] = {}
        self.backlogs: dict[int, list[str]] = {}
        """Per partition, due threads popped from its index and not yet handed to a tick."""
        self.ticks_in_flight: dict[int, float] = {}
        self.popped_partitions: dict[str, int] = {}
        """The partitions of the threads :meth:`pop_due` handed out lately (at most
        :data:`POPPED_PARTITIONS`): each is scheduled again after its batch, and its partition
        looked up here rather than hashed again (Kafka's murmur2, in Python, was about 1.3 us
        a thread: some 2% of a restart's firing with two partitions)."""

    @classmethod
    def for_folder(cls, folder: TimedFolder, partitions: int,
                   partitioner: Partitioner = partition_for,
                   max_due: int | None = None) -> TimerBook:
        """The book of a worker folding with ``folder`` (an ``UpdateFolder``)."""
        return cls(partitions, partitioner, due=folder.timer_due, max_due=max_due,
                   sla=folder.sla_policy is not None,
                   form_timeout=None if folder.intake is None else folder.intake.timeout)

    def partition_of(self, thread_key: str) -> int:
        if self.partitions == 1:  # what every partitioner answers
            return 0
        partition = self.popped_partitions.get(thread_key)
        if partition is None:
            partition = partition_of(thread_key, self.partitions, self.partitioner)
        return partition

    def built(self, partition: int) -> bool:
        return partition in self.indexes

    def build(self, partition: int, states: Iterable[ThreadState]) -> None:
        """Index ``partition`` from its stored states (every state given must belong to it)."""
        self.indexes[partition] = TimerIndex((s.thread_key, self.due(s)) for s in states
                                             if s.alias_of is None)
        TIMERS.labels(str(partition)).set(len(self.indexes[partition]))

    def stored_due(self, data: bytes) -> float | None:
        """When a stored state wants a tick (epoch seconds), from its deadline summary: the
        same instant as ``due`` of the decoded state."""
        sla_us, form_us = stored_deadlines(data)
        if not self.sla:
            sla_us = NO_DEADLINE
        if form_us != NO_DEADLINE and self.form_timeout_us is not None:
            form_us += self.form_timeout_us
            sla_us = form_us if sla_us == NO_DEADLINE else min(sla_us, form_us)
        return None if sla_us == NO_DEADLINE else sla_us / 1e6

    def build_stored(self, stored: Iterable[tuple[str, bytes]],
                     partitions: Iterable[int] = (),
                     known: Callable[[str], int | None] | None = None) -> dict[int, int]:
        """Index ``partitions`` (those of the states given, and any others named: empty) from
        stored states ``(thread_key, bytes)``, in one pass and without decoding them (see
        :meth:`stored_due`); a partition already built is left as it is. How many threads each
        partition indexed. ``known``: a thread's partition where the store already knows it
        (a Kafka table recovered from its changelog knows each key's partition), else it is
        hashed (murmur2 in Python, about 1.6 us a thread: some 7% of a restart split over two
        workers)."""
        entries: dict[int, list[tuple[str, float | None]]] = {p: [] for p in partitions}
        stored_due, partition_of_key = self.stored_due, self.partition_of
        for key, data in stored:
            partition = None if known is None else known(key)
            if partition is None:
                partition = partition_of_key(key)
            entries.setdefault(partition, []).append((key, stored_due(data)))
        counts: dict[int, int] = {}
        for partition, dues in entries.items():
            if partition in self.indexes:
                continue
            index = self.indexes[partition] = TimerIndex(dues)
            counts[partition] = len(index)
            TIMERS.labels(str(partition)).set(len(index))
        return counts

    def invalidate(self) -> None:
        """Forget every index (partitions moved): each is rebuilt at its next tick."""
        self.indexes.clear()
        self.backlogs.clear()
        self.ticks_in_flight.clear()
        self.popped_partitions.clear()

    def schedule(self, states: Iterable[ThreadState]) -> None:
        """Index each state's next due time (an alias thread has none, as in :meth:`build`)."""
        for state in states:
            index = self.indexes.get(self.partition_of(state.thread_key))
            if index is not None:
                index.schedule(state.thread_key,
                               None if state.alias_of is not None else self.due(state))

    def schedule_stored(self, stored: Iterable[tuple[str, bytes]]) -> None:
        """:meth:`schedule` of states just encoded for the store, ``(thread_key, bytes)``,
        from their deadline summaries (:meth:`stored_due`: the same due times, without
        computing ``due`` of each state again, which
        :func:`~streams.runtime.state_codec.dump_thread` just did)."""
        by_partition: dict[int, list[tuple[str, float | None]]] = {}
        stored_due, partition_of_key = self.stored_due, self.partition_of
        for key, data in stored:
            by_partition.setdefault(partition_of_key(key), []).append((key, stored_due(data)))
        for partition, dues in by_partition.items():
            index = self.indexes.get(partition)
            if index is not None:
                index.schedule_many(dues)

    def pop_due(self, partition: int, at: datetime) -> list[str]:
        """The threads of ``partition`` due by ``at``, earliest first, at most
        :attr:`max_due` (the others stay in the partition's backlog)."""
        index = self.indexes.get(partition)
        if index is None:
            return []
        backlog = self.backlogs.get(partition)
        due = index.pop_due(at)
        if backlog:
            due = backlog + due
        limit = self.max_due or TICK_MAX_DUE
        if len(due) > limit:
            self.backlogs[partition] = due[limit:]
            due = due[:limit]
        else:
            self.backlogs.pop(partition, None)
        if self.partitions > 1:
            if len(self.popped_partitions) + len(due) > POPPED_PARTITIONS:
                self.popped_partitions.clear()
            self.popped_partitions.update(dict.fromkeys(due, partition))
        return due

    def backlog(self, partition: int) -> int:
        """How many due threads of ``partition`` wait for the next ticks."""
        return len(self.backlogs.get(partition, ()))

    def wants_tick(self, partition: int, now: float) -> bool:
        """Whether to append a tick for ``partition`` now (epoch seconds)."""
        sent = self.ticks_in_flight.get(partition)
        if sent is not None and now - sent < TICK_RESEND_AFTER:
            return False
        index = self.indexes.get(partition)
        if index is not None:
            TIMERS.labels(str(partition)).set(len(index) + self.backlog(partition))
            due = index.next_due()
            if (due is None or due > now) and not self.backlog(partition):
                return False
        self.ticks_in_flight[partition] = now
        return True

    def tick_folded(self, partition: int) -> bool:
        """A tick of ``partition`` was folded; whether its backlog wants the next one now (a
        restart's overdue timers beyond :attr:`max_due`: the workers send it at once rather
        than at their ticker's next look, up to a tick interval idle per tick)."""
        self.ticks_in_flight.pop(partition, None)
        return self.backlog(partition) > 0


def due_threads(timers: TimerBook | None, pending: dict[str, ThreadState], popped: list[str],
                partition: int, at: datetime) -> list[str]:
    """The index's due threads of ``partition`` (remembered in ``popped``, to be scheduled
    again after the batch) and those decided earlier in the batch that are due too."""
    if timers is None:
        return []
    due = list(dict.fromkeys(timers.pop_due(partition, at)))  # a backlog's thread due again
    popped += due
    if not pending:  # a tick first in its batch (a restart's ticks all are)
        return due
    seen = set(due)
    for key, state in pending.items():
        if key not in seen and timers.partition_of(key) == partition:
            soonest = timers.due(state)
            if soonest is not None and soonest <= at:
                due.append(key)
    return due
