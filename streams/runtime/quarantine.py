"""Poison records are quarantined, never fatal; a stage's own infrastructure is retried.

One policy for every stage that consumes a log (the ticket workers, the projectors, the desk,
the reply mirror):

- a fault of the stage's **infrastructure** (:func:`is_infrastructure`: its database or log
  unavailable or locked, the broker unreachable, a connection dropped) is nobody's record's
  fault: the stage waits (:data:`DEFAULT_BACKOFF`, the one retry policy) and tries the same
  work again, for as long as it takes, and never exits over it;
- **anything else** raised while handling records is the fault of one of them. A batch that
  fails is handled again record by record (:func:`isolate`), so the others still commit as
  usual; the record that fails alone is quarantined: a :class:`DeadLetter` naming the reason,
  the origin (topic, partition, offset), the stage (``consumer``) and the traceback goes to
  ``telecase.deadletter``, and the stage moves past it.

Logs name the stage, topic, partition and offset of what failed (bound once per record); an
error that does stop a stage carries a note saying where (``stage <name> at <topic>[<partition>]
offsets <first>-<last>``), which the supervisors log with the traceback.
The traceback stored and logged is the stack and the error's type and short detail
(:func:`describe`), never the error's full text: a database error quotes the statement's
parameters, which may hold message bodies.

This module raises nothing of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

import psycopg
import structlog
from aiokafka.errors import KafkaConnectionError, KafkaError
from sqlalchemy import exc as sa_exc

from streams.runtime.bus import BusError
from streams.runtime.retry import RetryPolicy
from streams.schema.deadletter import DeadLetter

log = structlog.get_logger("telecase.quarantine")
T = TypeVar("T")
R = TypeVar("R")

_INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset, timeouts, disk I/O
    sqlite3.OperationalError,  # the embedded log or database locked, unopenable, I/O
    sqlite3.InterfaceError,
    BusError,  # a bus implementation's own faults (the embedded log unavailable)
    KafkaConnectionError,
    sa_exc.OperationalError,  # the database down, the connection dropped
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection in time
    # The same faults raised by the driver itself, where SQLAlchemy does not wrap them: the
    # projectors' COPY of a large batch runs on psycopg's own cursor (projections.bulk)
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
TRACEBACK_CHARS = 8000
"""A stored traceback keeps its last this many characters (the frames nearest the fault)."""


def is_infrastructure(exc: BaseException) -> bool:
    """Whether ``exc`` is a fault of the stage's own infrastructure (retry), not of a record."""
    if isinstance(exc, _INFRASTRUCTURE):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def describe(exc: BaseException) -> str:
    """``Type: short detail``, without what a database error quotes of its statement."""
    cause: BaseException = exc
    if isinstance(exc, sa_exc.StatementError) and exc.orig is not None:
        cause = exc.orig
    detail = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def format_traceback(exc: BaseException) -> str:
    """The stack of ``exc`` (innermost last) and :func:`describe`'s line, capped."""
    text = "".join(traceback.format_tb(exc.__traceback__)) + describe(exc)
    return text[-TRACEBACK_CHARS:]


class Origin(Protocol):
    """What a record of any runtime has (the embedded log's, aiokafka's, the Faust worker's)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def dead_letter(record: Origin, stage: str, reason: str, exc: BaseException,
                now: datetime) -> DeadLetter:
    """The quarantine record of ``record``, which ``stage`` could not process."""
    return DeadLetter(
        reason=reason, detail=describe(exc)[:500], consumer=stage, topic=record.topic,
        partition=record.partition, offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        payload_b64=DeadLetter.encode_payload(record.value or b""), failed_at=now,
        traceback=format_traceback(exc))


#: How a stage waits out a fault of its own infrastructure (the one retry policy,
#: :mod:`streams.runtime.retry`): 0.2 s after the first failure, doubling, at most 30 s.
DEFAULT_BACKOFF = RetryPolicy(initial=0.2, cap=30.0, jitter=0.2)


async def retry_infrastructure(operation: Callable[[], Awaitable[R]], *, stage: str,
                               stop: asyncio.Event | None = None,
                               backoff: RetryPolicy = DEFAULT_BACKOFF, **context: Any) -> R:
    """``operation()``, tried again after :func:`is_infrastructure` faults until it succeeds.
    Other errors propagate. Once ``stop`` is set a fault propagates (the stage is stopping;
    what it did not commit is done again by the next start)."""
    attempt = 0
    while True:
        try:
            result = await operation()
        except Exception as exc:
            if not is_infrastructure(exc) or (stop is not None and stop.is_set()):
                raise
            attempt += 1
            delay = backoff.wait(attempt)
            log.warning("stage.infrastructure_retry", stage=stage, attempt=attempt,
                        retry_in=round(delay, 2), error=describe(exc), **context)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            continue
        if attempt:
            log.info("stage.infrastructure_recovered", stage=stage, attempts=attempt,
                     **context)
        return result


async def isolate(records: Sequence[T], handle: Callable[[Sequence[T]], Awaitable[None]],
                  quarantine: Callable[[T, Exception], Awaitable[None]], *, stage: str,
                  origin: Callable[[T], Origin], stop: asyncio.Event | None = None,
                  backoff: RetryPolicy = DEFAULT_BACKOFF) -> None:
    """``handle(records)`` (infrastructure faults retried); when it fails otherwise, each
    record alone, in order, and ``quarantine(record, error)`` for one that fails alone.
    ``handle`` must leave no trace of a failed attempt (its writes in one transaction, or
    repeatable)."""
    if not records:
        return
    try:
        await _isolate(records, handle, quarantine, stage=stage, origin=origin, stop=stop,
                       backoff=backoff)
    except Exception as exc:  # the stage stops (stopping, or its quarantine failed): say where
        if not any(note.startswith("stage ") for note in getattr(exc, "__notes__", ())):
            first, last = origin(records[0]), origin(records[-1])
            exc.add_note(f"stage {stage} at {first.topic}[{first.partition}] offsets "
                         f"{first.offset}-{last.offset}")
        raise


async def _isolate(records: Sequence[T], handle: Callable[[Sequence[T]], Awaitable[None]],
                   quarantine: Callable[[T, Exception], Awaitable[None]], *, stage: str,
                   origin: Callable[[T], Origin], stop: asyncio.Event | None,
                   backoff: RetryPolicy) -> None:
    try:
        await retry_infrastructure(lambda: handle(records), stage=stage, stop=stop,
                                   backoff=backoff)
        return
    except Exception as exc:
        if len(records) == 1:
            where = origin(records[0])
            bound = log.bind(stage=stage, topic=where.topic, partition=where.partition,
                             offset=where.offset)
            bound.error("stage.quarantined", error=describe(exc),
                        traceback=format_traceback(exc))
            poison, error = records[0], exc
            await retry_infrastructure(lambda: quarantine(poison, error), stage=stage,
                                       stop=stop, backoff=backoff)
            return
        first, last = origin(records[0]), origin(records[-1])
        log.warning("stage.batch_failed", stage=stage, topic=first.topic,
                    partition=first.partition, offsets=f"{first.offset}-{last.offset}",
                    error=describe(exc), action="handling its records one by one")
    for record in records:
        await _isolate([record], handle, quarantine, stage=stage, origin=origin, stop=stop,
                       backoff=backoff)
