"""Batching the Salesforce sync by time as well as size: a short, adaptive linger.

A batch costs the sync about two API calls whatever its size
(:mod:`connectors.salesforce.case_sync`), so at a low rate, where every record would be a batch
of its own, calls per message are highest. Before applying a batch, the sync runner
(:mod:`connectors.salesforce.sync_runner`) lets it grow (:meth:`Linger.grow_any`): it reads on
from every partition of the topic (a batch is read from all of them at once, so the topic's
partition count does not multiply the calls) until

- the batch holds ``batch_max`` records, or
- its oldest record has waited ``bound`` seconds since it was appended to the log (a record
  that already waited in the log, a backlog after a restart, waits no longer), or
- the rate of records the sync has seen lately (:class:`ArrivalRate`, over the last
  :data:`RATE_WINDOW` seconds) says fewer than one more record would arrive before that
  deadline: at a trickle, lingering would only add latency, so a lone record goes after a
  short probe (:data:`PROBE`, 0.25 s) for a second one. A record arriving during the probe
  (the rest of a conversation that just began, a sync just started) makes the batch grow on
  as the rate says, so events that arrive together are written together.

``bound`` is ``TELECASE_SALESFORCE_SYNC_LINGER`` (default 1.5 s: a sync latency p99 under
2 s). It is meant to stay far below the shortest first-response SLA (minutes): a linger
delays the Case, never the customer's reply, and it can never exceed :data:`MAX_LINGER`.

``widen`` (a callable, default 1.0) multiplies the bound and ``batch_max`` for the batch about
to be gathered: a limit guard watching the org's daily API usage (``Sforce-Limit-Info``)
returns more than 1 when the org is near its limit, so batches grow and calls fall, still
within :data:`MAX_LINGER`. A value below 1, or a failing callable, counts as 1.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

from streams.runtime.bus import Bus, Record, next_positions

DEFAULT_LINGER = 1.5
"""Seconds: ``TELECASE_SALESFORCE_SYNC_LINGER``'s default."""
MAX_LINGER = 10.0
"""Seconds: no setting or widening lingers longer (far below any first-response SLA)."""
RATE_WINDOW = 10.0
"""Seconds of history the arrival rate is measured over."""
POLL = 0.25
"""Longest wait of one read while lingering (the deadline is checked between reads)."""
PROBE = 0.25
"""Seconds a batch that has not grown waits for a second record when the rate alone would
not linger (a conversation's first events, a sync that just started)."""

log = structlog.get_logger("telecase.salesforce.sync")


def unwidened() -> float:
    return 1.0


class ArrivalRate:
    """Records per second over the last :data:`RATE_WINDOW` seconds: the records seen after
    the oldest of them, over the time since it (one record alone: no rate yet)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0

    def add(self, count: int) -> None:
        now = self.clock()
        if count:
            self._seen.append((now, count))
            self._total += count
        self._expire(now)

    def per_second(self) -> float:
        now = self.clock()
        self._expire(now)
        if not self._seen or now <= self._seen[0][0]:
            return 0.0
        return (self._total - self._seen[0][1]) / (now - self._seen[0][0])

    def _expire(self, now: float) -> None:
        while self._seen and now - self._seen[0][0] > RATE_WINDOW:
            self._total -= self._seen.popleft()[1]


class Linger:
    """How long a batch may wait to grow (see the module docstring)."""

    def __init__(self, bound: float, batch_max: int, *,
                 widen: Callable[[], float] = unwidened,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if bound < 0:
            raise ValueError("the linger bound is >= 0 seconds")
        self.bound, self.batch_max, self.widen = bound, batch_max, widen
        self.clock, self.wall = clock, wall
        self.rate = ArrivalRate(clock)

    def factor(self) -> float:
        """``widen()``, at least 1 (a failing guard never stops the sync)."""
        try:
            return max(1.0, float(self.widen()))
        except Exception as exc:  # the guard is advice: the sync goes on unwidened
            log.warning("salesforce.sync.widen_failed", error=type(exc).__name__)
            return 1.0

    def limits(self) -> tuple[float, int]:
        """This batch's bound (seconds) and size, widened."""
        factor = self.factor()
        return min(self.bound * factor, MAX_LINGER), max(1, int(self.batch_max * factor))

    async def grow(self, bus: Bus, topic: str, partition: int, records: list[Record],
                   stop: asyncio.Event) -> None:
        """Extend ``records`` (in place: the consumer's position follows its last record) with
        what arrives on ``partition`` until the batch is full, its oldest record has waited
        the bound, or the rate says it would not grow."""
        async def more(limit: int, wait: float) -> list[Record]:
            return await bus.read(topic, partition, records[-1].offset + 1, limit, wait=wait)

        await self._grow(records, more, stop)

    async def grow_any(self, bus: Bus, topic: str, positions: Mapping[int, int],
                       records: list[Record], stop: asyncio.Event) -> None:
        """:meth:`grow` for a batch read from every partition of ``topic`` at once
        (:func:`streams.runtime.bus.consume_merged`): it grows with what arrives on any of
        them, each read on after its last record in the batch, else from ``positions`` (the
        consumer's, before the batch)."""
        async def more(limit: int, wait: float) -> list[Record]:
            offsets = {**positions, **next_positions(records)}
            return await bus.read_any(topic, offsets, limit, wait=wait)

        await self._grow(records, more, stop)

    async def _grow(self, records: list[Record],
                    more: Callable[[int, float], Awaitable[list[Record]]],
                    stop: asyncio.Event) -> None:
        self.rate.add(len(records))
        bound, size = self.limits()
        if bound <= 0 or not records or len(records) >= size:
            return
        waited = max(0.0, self.wall() - min(r.timestamp for r in records))
        start = self.clock()
        deadline = start + max(0.0, min(bound, bound - waited))
        probe = min(deadline, start + PROBE)
        read = len(records)
        while not stop.is_set() and len(records) < size:
            now = self.clock()
            left = deadline - now
            if left <= 0:
                return
            if self.rate.per_second() * left < 1.0 and (len(records) > read or now >= probe):
                return
            arrived = await more(size - len(records), min(left, POLL))
            self.rate.add(len(arrived))
            records.extend(arrived)
