"""Catching up a partition whose records the Faust consumer stopped delivering.

The worker folds what Faust's stream hands it. Faust can stop handing a partition's records
over while the worker still holds the partition (seen once in a CI run after a worker was
killed with SIGKILL and another took its partitions: the new worker folded for a while, then
no more records reached its agent, with no error logged and nothing pending in the worker's
own code). A stopped stream is the one failure that loses nothing yet answers nobody: the
records sit in the log while customers wait.

:class:`StallWatch` notices it. For each partition the worker holds it compares the next
offset the worker owes (stored with the thread states, see :mod:`streams.runtime.kafka.worker`)
with the partition's end offset asked of the broker (a stopped consumer's own view of the
end is stale). Records past the owed offset while the owed offset has not moved for
``after`` seconds are a stall. :class:`CatchUp` then reads that range back from the topic
itself and folds it, under the same lock as the agent's batches, judged against the same
stored position: records the stream delivers later are dropped as folded already, so a
false alarm (a stream merely slow to resume) costs a read, never a doubled event.

Nothing runs while Faust rebalances or recovers its tables (the caller's ``ready``): the
thread states must be whole before anything is folded against them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter

RECORDS_CAUGHT_UP = Counter("telecase_worker_records_caught_up_total",
                            "Raw records a stalled consumer did not deliver, read back and "
                            "folded by the worker itself")
STALLS = Counter("telecase_worker_stalls_total",
                 "Times a held partition had records past the worker's position and no "
                 "progress for the stall threshold")

log = structlog.get_logger("telecase.worker")

Partition = tuple[str, int]


@dataclass(frozen=True)
class Stall:
    partition: Partition
    owed: int
    """The next offset the worker owes."""
    end: int
    """The partition's end offset (one past its last record)."""
    idle: float
    """Seconds the owed offset has not moved while records were waiting."""


class StallWatch:
    """Which held partitions have records waiting and no progress for ``after`` seconds.
    Time is an argument: the caller passes its clock's reading."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._since: dict[Partition, tuple[int, float]] = {}

    def stalled(self, owed: Mapping[Partition, int], ends: Mapping[Partition, int],
                now: float) -> list[Stall]:
        """The stalls among ``ends`` (partitions held, with their end offsets); a partition
        with nothing waiting, or whose owed offset moved, starts its wait again."""
        out: list[Stall] = []
        for partition, end in ends.items():
            at = owed.get(partition)
            if at is None or at >= end:
                self._since.pop(partition, None)
                continue
            seen = self._since.get(partition)
            if seen is None or seen[0] != at:
                self._since[partition] = (at, now)
                continue
            if now - seen[1] >= self.after:
                out.append(Stall(partition, at, end, now - seen[1]))
        for partition in set(self._since) - set(ends):
            del self._since[partition]  # no longer held
        return out

    def forget(self, partition: Partition) -> None:
        self._since.pop(partition, None)


class CatchUp:
    """Folds a stalled partition's waiting records itself (see the module docstring).

    ``held`` lists the source partitions the worker holds now, ``owed`` reads the stored next
    offset of one (``None``: nothing folded there yet, so nothing to judge a stall by),
    ``ends`` asks the broker for end offsets, ``read`` reads ``[start, end)`` of a partition
    back, ``fold`` folds records exactly as the agent's batches are folded, and ``ready`` is
    false while the worker's assignment or tables are in flux. ``lock`` is the one the
    agent's batches hold."""

    def __init__(self, *, watch: StallWatch, lock: asyncio.Lock,
                 held: Callable[[], Iterable[Partition]],
                 owed: Callable[[Partition], int | None],
                 ends: Callable[[Sequence[Partition]], Awaitable[Mapping[Partition, int]]],
                 read: Callable[[str, int, int, int], Awaitable[Sequence[Any]]],
                 fold: Callable[[Sequence[Any]], Awaitable[None]],
                 ready: Callable[[], bool], clock: Callable[[], float]) -> None:
        self.watch, self.lock = watch, lock
        self.held, self.owed, self.ends, self.read = held, owed, ends, read
        self.fold, self.ready, self.clock = fold, ready, clock

    async def check(self) -> int:
        """Look once; fold what waits on stalled partitions. Returns the records folded."""
        if not self.ready():
            return 0
        partitions = sorted(self.held())
        if not partitions:
            return 0
        # The broker is asked before the lock is taken: its round trip (and, the first time,
        # the reading consumer's start) must not hold the agent's batches up (issue 19: it
        # stalled the worker's batches for up to 1.5 s every few seconds under load). An end
        # read a moment early only makes a stall look smaller; the owed offsets are read
        # under the lock, as the agent stores them.
        ends = await self.ends(partitions)
        async with self.lock:
            if not self.ready():
                return 0
            held = set(self.held())
            ends = {p: end for p, end in ends.items() if p in held}
            owed = {p: at for p in ends if (at := self.owed(p)) is not None}
            stalls = self.watch.stalled(owed, ends, self.clock())
            folded = 0
            for stall in stalls:
                if not self.ready() or stall.partition not in set(self.held()):
                    break  # a rebalance began meanwhile: the new owner takes it from here
                folded += await self._fold(stall)
            return folded

    async def _fold(self, stall: Stall) -> int:
        topic, partition = stall.partition
        STALLS.inc()
        records = await self.read(topic, partition, stall.owed, stall.end)
        log.warning("worker.partition_stalled", topic=topic, partition=partition,
                    owed=stall.owed, end=stall.end, idle_s=round(stall.idle, 1),
                    folding=len(records))
        if records:
            await self.fold(records)
            RECORDS_CAUGHT_UP.inc(len(records))
        self.watch.forget(stall.partition)
        return len(records)
