"""Serialising a thread's state for a state store (Faust table, embedded store).

Two stored encodings; :func:`load_thread` reads both, :func:`dump_thread` writes the newest:

- **v1** (written before issue 19): the state's JSON, every field spelled out. It starts with
  ``{``.
- **v2**: one version byte ``0x02``, then the thread's *deadline summary* (two big-endian
  signed 64-bit integers, microseconds since the Unix epoch, ``INT64_MIN`` for none), then
  the state's JSON without the fields that equal their defaults (about 60% of the bytes).

The summary is what a worker needs to index its timers without decoding the state: the
thread's next SLA deadline (:func:`~streams.core.service_level.next_due`) and the last
activity of its open intake form (the form's timeout is configuration, added when indexing:
:class:`~streams.runtime.timers.TimerBook`). An alias thread (``alias_of``) has neither:
it never wants a tick. :func:`stored_deadlines` reads it from v2 bytes and decodes v1 bytes
to compute it, so old stored states index the same.

The summary is what :func:`~streams.core.service_level.next_due` (and the form's last
activity) said when the state was written. It only places the thread in the index: a tick
decodes the state and fires what the core finds due, and the thread is indexed again from the
decoded state. Still, a change to ``next_due`` that would answer differently for a state
already stored (a deadline earlier, or one where there was none) needs a new version here, so
that summaries written before it are recomputed by decoding, as v1's are.

Fields left out at their defaults are part of the v2 format: changing a field's default in
:mod:`streams.core.ticket` (or a type it holds) changes what stored v2 states decode to, so it
needs a new version here, not just the new default.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter

from streams.core.service_level import next_due
from streams.core.ticket import ThreadState

__all__ = ["NO_DEADLINE", "StoredStateError", "dump_thread", "load_thread",
           "stored_deadlines"]

_ADAPTER: TypeAdapter[ThreadState] = TypeAdapter(ThreadState)
_VALIDATE_JSON: Callable[[bytes], ThreadState] = _ADAPTER.validator.validate_json
_TO_JSON = _ADAPTER.serializer.to_json
"""The adapter's own validator and serializer, called without ``TypeAdapter``'s Python
wrappers (which pass each of their options on: about 0.5 us a call of a state's 11, paid for
every state a worker reads or writes; a test holds them equal to the adapter's methods)."""
_V2 = 0x02
_HEADER = struct.Struct(">Bqq")
NO_DEADLINE = -(2 ** 63)
"""A summary's value for "no deadline"."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class StoredStateError(ValueError):
    """Bytes that are no stored thread state of a known version."""


def _micros(when: datetime | None) -> int:
    return NO_DEADLINE if when is None else (when - _EPOCH) // _MICROSECOND


def _deadlines(state: ThreadState) -> tuple[int, int]:
    if state.alias_of is not None:
        return NO_DEADLINE, NO_DEADLINE
    form = state.intake
    activity = (form.last_activity_at if form is not None and form.is_open else None)
    return _micros(next_due(state)), _micros(activity)


def dump_thread(state: ThreadState) -> bytes:
    """``state`` in the newest encoding (v2)."""
    return (_HEADER.pack(_V2, *_deadlines(state))
            + _TO_JSON(state, exclude_defaults=True))


def load_thread(data: bytes) -> ThreadState:
    """A stored state, of any version."""
    if data[:1] == b"{":
        return _VALIDATE_JSON(data)
    if data[:1] == b"\x02":
        return _VALIDATE_JSON(data[_HEADER.size:])
    raise StoredStateError(f"not a stored thread state (starts {bytes(data[:8])!r})")


def stored_deadlines(data: bytes) -> tuple[int, int]:
    """The deadline summary of a stored state: its next SLA deadline and its open intake
    form's last activity, in microseconds since the epoch (:data:`NO_DEADLINE`: none). Read
    from the header of v2 bytes; v1 bytes are decoded for it."""
    if data[:1] == b"\x02" and len(data) > _HEADER.size:
        _, sla, form = _HEADER.unpack_from(data)
        return sla, form
    return _deadlines(load_thread(data))
