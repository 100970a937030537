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

Both versions are read by pydantic with one change: their datetimes (always pydantic's own
ISO 8601 text) are parsed by ``datetime.fromisoformat``, so a decoded state's instants carry
the standard library's zones rather than pydantic's ``TzInfo`` (see :func:`_stdlib_datetimes`:
the same instants and offsets, cheaper to compare and write). A datetime written as anything
but text (pydantic would read a number as epoch seconds) is refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaValidator, core_schema

from streams.core.service_level import next_due
from streams.core.ticket import ThreadState

__all__ = ["NO_DEADLINE", "StoredStateError", "dump_thread", "load_thread",
           "stored_deadlines"]

_ADAPTER: TypeAdapter[ThreadState] = TypeAdapter(ThreadState)
_STDLIB_DATETIME = core_schema.no_info_after_validator_function(
    datetime.fromisoformat, core_schema.str_schema(strict=True))


def _stdlib_datetimes(schema: Any) -> Any:
    """A copy of ``schema`` (a core schema, or a part of one) that reads each datetime with
    ``datetime.fromisoformat`` instead of pydantic's parser.

    The instants are the same (every stored datetime is pydantic's own ISO 8601: seconds or
    microseconds, ``Z``, an offset or none); the zone is the standard library's
    (``datetime.UTC`` for ``Z``) where pydantic gives each parsed datetime a ``TzInfo`` of its
    own. Datetimes of two different zone objects compare, subtract and serialize through a
    Python call to each zone's ``utcoffset`` (pydantic issue 7897: some 0.3 us a comparison,
    where two ``datetime.UTC`` instants compare in 0.04); the SLA clock compares a stored
    state's instants with the tick's several times a firing, and each is written back. Reading
    costs the same. A datetime schema with a constraint is refused here rather than read
    without it."""
    if isinstance(schema, dict):
        if schema.get("type") == "datetime":
            if schema.keys() - {"type", "microseconds_precision", "metadata"}:
                raise TypeError(f"a thread state's datetime is constrained: {schema}")
            return _STDLIB_DATETIME
        return {key: _stdlib_datetimes(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_stdlib_datetimes(item) for item in schema]
    return schema


_VALIDATE_JSON: Callable[[bytes], ThreadState] = SchemaValidator(
    _stdlib_datetimes(_ADAPTER.core_schema)).validate_json
_TO_JSON = _ADAPTER.serializer.to_json
"""The adapter's serializer, and a validator of its schema whose datetimes are the standard
library's (:func:`_stdlib_datetimes`), both called without ``TypeAdapter``'s Python wrappers
(which pass each of their options on: about 0.5 us a call of a state's 11, paid for every
state a worker reads or writes). A test holds them to the adapter's methods: the same bytes,
equal states, the same offsets."""
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
