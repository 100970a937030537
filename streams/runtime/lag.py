"""The stream consumers' own series: consumer lag, and the ticket events the worker appends.

``telecase_consumer_lag{group, topic, partition}`` is the number of records between a
consumer's position (the next offset it will handle) and the end of the partition: 0 when it
has caught up. It is refreshed about once a second per consumer, never per record:

- every consumer of the :class:`~streams.runtime.bus.Bus` interface (the embedded worker and
  projector,
  the desk, the Salesforce sync and the reply mirror, on either runtime) reads through
  :func:`consume` here, which looks up the partitions' ends in a side task
  (:meth:`Bus.end_offsets`: the embedded log knows them in memory; on Kafka, one request for
  all partitions, from a client of the bus's own beside its reader) while
  ``streams.runtime.bus.consume`` advances the positions;
- the Kafka consumer-group clients (the Faust worker, the Kafka projector) hand what their
  client already knows to a :class:`LagReport` (:func:`kafka_lag`).

A partition a consumer no longer holds (a rebalance gave it away, or the consumer stopped) has
its series removed, so no process reports lag it is not responsible for. The gauge says what
the consumer *read*; a consumer that commits later than it reads (the reply mirror holds its
commit below undelivered replies) may restart a little behind it.

``telecase_ticket_events_appended_total{type}`` counts the ticket events the worker (either
runtime) made durable in ``ticket.events``, after the append: a batch re-derived after a crash
is counted again, as it was appended again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from streams.runtime.bus import BatchHandler, Bus, MergedHandler, consume_merged
from streams.runtime.bus import consume as consume_bus
from streams.schema.events import TicketEvent

CONSUMER_LAG = Gauge("telecase_consumer_lag", "Records between a consumer's position and the "
                     "end of the partition", ["group", "topic", "partition"])
EVENTS_APPENDED = Counter("telecase_ticket_events_appended_total", "Ticket events the worker "
                          "appended to ticket.events, by type", ["type"])
LAG_INTERVAL = 1.0
"""Seconds between two looks at a consumer's lag."""

log = structlog.get_logger("telecase.lag")


def count_appended(events: Iterable[TicketEvent]) -> None:
    for type_, count in collections.Counter(e.type for e in events).items():
        EVENTS_APPENDED.labels(type_).inc(count)


class LagReport:
    """One consumer's series: sets the partitions it reports, removes the ones it dropped."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._held: set[tuple[str, int]] = set()

    def report(self, lags: Mapping[tuple[str, int], int]) -> None:
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(max(0, lag))
        for topic, partition in self._held - lags.keys():
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group, topic, str(partition))
        self._held = set(lags)

    def clear(self) -> None:
        self.report({})


async def kafka_lag(consumer: Any, positions: Mapping[tuple[str, int], int] | None = None,
                    ) -> dict[tuple[str, int], int]:
    """Lag of each partition an aiokafka (or Faust) consumer holds, from what the client
    knows without asking the broker: the high watermark its last fetch saw, and ``positions``
    (``(topic, partition) -> next offset`` handled) where the caller knows better than the
    client's fetch position. Partitions not fetched yet, or given away while it looked, are
    left out: this never raises (a rebalance must not stop a consumer over a metric)."""
    out: dict[tuple[str, int], int] = {}
    try:
        held = list(consumer.assignment())
    except Exception:  # not started yet, or stopping
        return out
    for tp in held:
        try:
            end = consumer.highwater(tp)
            at = (positions or {}).get((tp.topic, tp.partition))
            if end is not None and at is None:
                at = await consumer.position(tp)
        except Exception:  # revoked meanwhile
            continue
        if end is not None and at is not None:
            out[tp.topic, tp.partition] = int(end) - int(at)
    return out


async def consume(bus: Bus, topic: str, positions: dict[int, int], handle: BatchHandler,
                  stop: asyncio.Event, *, group: str, batch_max: int, linger: float = 0.0,
                  linger_from: int = 8, interval: float = LAG_INTERVAL) -> None:
    """:func:`streams.runtime.bus.consume`, reporting ``group``'s lag on ``topic`` meanwhile (the
    ends from the log, the positions from the dict ``consume`` advances)."""
    await _reporting(consume_bus(bus, topic, positions, handle, stop, batch_max=batch_max,
                                 linger=linger, linger_from=linger_from),
                     bus, topic, positions, group, interval)


async def consume_all(bus: Bus, topic: str, positions: dict[int, int], handle: MergedHandler,
                      stop: asyncio.Event, *, group: str, batch_max: int,
                      interval: float = LAG_INTERVAL) -> None:
    """:func:`streams.runtime.bus.consume_merged` (batches across partitions), reporting
    ``group``'s lag on ``topic`` meanwhile."""
    await _reporting(consume_merged(bus, topic, positions, handle, stop, batch_max=batch_max),
                     bus, topic, positions, group, interval)


async def _reporting(consuming: Coroutine[Any, Any, None], bus: Bus, topic: str,
                     positions: dict[int, int], group: str, interval: float) -> None:
    report = LagReport(group)
    done = asyncio.Event()
    watcher = asyncio.create_task(_watch(bus, topic, positions, report, done, interval),
                                  name=f"lag:{group}:{topic}")
    try:
        await consuming
    finally:
        done.set()
        try:  # a side task stuck on the log is cancelled, not waited for
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher, 5.0)
        finally:
            report.clear()


async def _watch(bus: Bus, topic: str, positions: dict[int, int],
                 report: LagReport, done: asyncio.Event, interval: float) -> None:
    failing = False
    while not done.is_set():
        try:
            last = await bus.end_offsets(topic)
        except Exception as exc:  # the lag is best effort: it never stops a consumer
            if not failing:
                log.warning("lag.unavailable", group=report.group, topic=topic,
                            error=type(exc).__name__)
            failing = True
        else:
            failing = False
            report.report({(topic, p): end - positions.get(p, 0) for p, end in last.items()})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), interval)
