"""The dead letters seen from a long-running process: the waiting gauge, and (inside
``telecase run``) the retries ``telecase deadletter retry`` queued while the run held the log.

``telecase_dead_letters_waiting{stage, reason}`` is the number of letters in
``telecase.deadletter`` without a ``deadletter.retried`` marker (:mod:`telecase.ops.deadletter`),
by the stage that wrote them (the ``consumer`` field) and their reason. :func:`watch_dead_letters`
reads only what was appended since its last look, every :data:`WATCH_INTERVAL` seconds; it runs in
``telecase run`` (embedded) and in ``telecase projector`` (Kafka), so it is served once per
deployment by a process that is always up. A (stage, reason) whose letters were all retried
stays, at 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from pathlib import Path

import structlog
from prometheus_client import Gauge

from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.ops.deadletter import Index, RetryInbox, read_new, retry

log = structlog.get_logger("telecase.deadletter")

WAITING = Gauge("telecase_dead_letters_waiting", "Dead letters not retried, by the stage that "
                "wrote them and their reason", ["stage", "reason"])
WATCH_INTERVAL = 2.0
"""Seconds between two looks at ``telecase.deadletter``."""


def publish(index: Index) -> None:
    """Set the gauge from ``index``: every (stage, reason) it has seen, 0 when all of its
    letters were retried."""
    counts = index.waiting()
    for labels in {(x.stage, x.reason) for x in index.letters.values()}:
        WAITING.labels(*labels).set(counts.get(labels, 0))


async def drain(bus: Bus, names: TopicNames, index: Index, inbox: RetryInbox) -> None:
    """Re-drive (or dismiss) the queued letters ``index`` knows, then forget them; an id it
    does not know (yet) stays queued for the next look."""
    rows = await asyncio.to_thread(inbox.take)
    known = [(n, i, d) for n, i, d in rows if i in index.letters]
    for dismiss in (False, True):
        letters = [index.letters[i] for _, i, d in known if d is dismiss]
        if letters:
            await retry(bus, names, letters, dismiss=dismiss)
    if known:
        await asyncio.to_thread(inbox.remove, [n for n, _, _ in known])


async def watch_dead_letters(bus: Bus, names: TopicNames, stop: asyncio.Event, *,
                             inbox: Path | None = None, every: float = WATCH_INTERVAL) -> None:
    """Keep the gauge up to date until ``stop``; with ``inbox`` (the run's
    :class:`RetryInbox`), also re-drive what it queues. A failed look is logged and tried
    again: it never stops the process that hosts it."""
    index = Index()
    queued = None if inbox is None else RetryInbox(inbox)
    while not stop.is_set():
        try:
            await read_new(bus, names.dead_letters, index)
            if queued is not None:
                await drain(bus, names, index, queued)
            publish(index)
        except Exception as exc:
            log.warning("deadletter.watch_failed", error=type(exc).__name__,
                        detail=traceback.format_exception_only(exc)[-1].strip())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
