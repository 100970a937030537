"""Serialising a thread's state for a state store (Faust table, embedded store).

Four stored encodings; :func:`load_thread` reads them all, :func:`dump_thread` writes the
newest:

- **v1** (written before issue 19): the state's JSON, every field spelled out. It starts with
  ``{``.
- **v2**: one version byte ``0x02``, then the thread's *deadline summary* (two big-endian
  signed 64-bit integers, microseconds since the Unix epoch, ``INT64_MIN`` for none), then
  the state's JSON without the fields that equal their defaults (about 60% of the bytes).
- **v3**: one version byte ``0x03``, the deadline summary as in v2, the length of the
  *clocks* (a big-endian unsigned 32-bit integer), the clocks, then the state's JSON as in v2
  but without its tickets' ``sla``. The clocks are a JSON array with one
  ``[ticket_id, seq, sla]`` per ticket, in the state's order, ``sla`` a JSON object with
  every field of the snapshot.
- **v4**: as v3 (version byte ``0x04``), but each ticket's ``sla`` is the snapshot's
  :data:`~streams.sla.snapshot.Row`: an array of its fields in their order, no names (about
  half of v3's clocks' bytes, decoded about three times and encoded four times faster).

The clocks are what a clock tick reads and changes
(:func:`~streams.core.service_level.fire_stored_clock`). So a worker fires a stored thread's
timers from :func:`stored_clocks` and writes the result with :func:`with_clocks`, the rest of
the bytes copied as they are, without decoding or encoding the whole state (issue 19:
decoding and encoding were about half of a restart's work a ticket); v3 bytes are decoded
whole, and written back as v4. The clocks are written and read with ``msgspec`` (its JSON:
the same datetimes, offsets included, read back in the standard library's zones, as below),
about five times faster than pydantic. Being RFC 3339's, their offsets have no seconds: one
with seconds (only local mean times of the 19th century have them) is written to the minute.
A ticket's ``seq`` in the JSON after them is only the one it had when the whole state was
last written: the clocks' is the ticket's. A worker that knows only v1 to v3 cannot read v4:
upgrade every worker of a deployment together (as for v2 and v3).

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

Fields left out at their defaults are part of the v2 to v4 formats: changing a field's default in
:mod:`streams.core.ticket` (or a type it holds) changes what stored v2 states decode to, so it
needs a new version here, not just the new default.

Every version's JSON of the state is read by pydantic with one change: its datetimes (always
pydantic's own ISO 8601 text) are parsed by ``datetime.fromisoformat``, so a decoded state's
instants carry the standard library's zones rather than pydantic's ``TzInfo`` (see
:func:`_stdlib_datetimes`: the same instants and offsets, cheaper to compare and write). A
datetime written as anything but text (pydantic would read a number as epoch seconds) is
refused.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from pydantic import TypeAdapter
from pydantic_core import SchemaValidator, core_schema

from streams.core.service_level import next_due
from streams.core.ticket import ThreadState, replaced
from streams.sla.snapshot import NEXT_AT, Row, SlaSnapshot

__all__ = ["NO_DEADLINE", "Clock", "StoredClocks", "StoredStateError", "dump_thread",
           "load_thread", "stored_clocks", "stored_deadlines", "with_clocks"]

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
_V2, _V4 = 0x02, 0x04
_tuple = tuple.__new__
_HEADER = struct.Struct(">Bqq")
_HEADER_CLOCKS = struct.Struct(">BqqI")
NO_DEADLINE = -(2 ** 63)
"""A summary's value for "no deadline"."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Clock = tuple[str, int, Row | None]
"""A ticket's part of the v4 clocks: its id, its last event's ``seq``, its SLA clocks."""
_ENCODE_CLOCKS = msgspec.json.Encoder().encode
_DECODE_CLOCKS: Callable[[bytes], tuple[Clock, ...]] = msgspec.json.Decoder(
    tuple[Clock, ...]).decode
_DECODE_V3_CLOCKS: Callable[[bytes], tuple[tuple[str, int, SlaSnapshot | None], ...]] = (
    msgspec.json.Decoder(tuple[tuple[str, int, SlaSnapshot | None], ...]).decode)
_WITHOUT_SLA = {"tickets": {"__all__": {"sla"}}}


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
    """``state`` in the newest encoding (v4)."""
    clocks = _ENCODE_CLOCKS([(t.ticket_id, t.seq, None if t.sla is None else t.sla.row())
                             for t in state.tickets])
    return (_HEADER_CLOCKS.pack(_V4, *_deadlines(state), len(clocks)) + clocks
            + _TO_JSON(state, exclude_defaults=True, exclude=_WITHOUT_SLA))


def load_thread(data: bytes) -> ThreadState:
    """A stored state, of any version."""
    version = data[:1]
    if version == b"\x04":
        _, _, clocks, body = _split_clocks(data)
        return _with_clocks_of(_VALIDATE_JSON(body), [
            (ticket_id, seq, None if row is None else SlaSnapshot.from_row(row))
            for ticket_id, seq, row in _DECODE_CLOCKS(clocks)])
    if version == b"{":
        return _VALIDATE_JSON(data)
    if version == b"\x02":
        return _VALIDATE_JSON(data[_HEADER.size:])
    if version == b"\x03":
        _, _, clocks, body = _split_clocks(data)
        return _with_clocks_of(_VALIDATE_JSON(body), _DECODE_V3_CLOCKS(clocks))
    raise StoredStateError(f"not a stored thread state (starts {bytes(data[:8])!r})")


def _split_clocks(data: bytes) -> tuple[int, int, bytes, bytes]:
    """The deadline summary, the clocks and the state's JSON of v3 or v4 bytes."""
    if len(data) < _HEADER_CLOCKS.size:
        raise StoredStateError("a stored state shorter than its header")
    _, sla, form, length = _HEADER_CLOCKS.unpack_from(data)
    end = _HEADER_CLOCKS.size + length
    if len(data) < end:
        raise StoredStateError("a stored state shorter than its clocks")
    return sla, form, data[_HEADER_CLOCKS.size:end], data[end:]


def _with_clocks_of(state: ThreadState,
                    clocks: Sequence[tuple[str, int, SlaSnapshot | None]]) -> ThreadState:
    tickets = state.tickets
    if len(clocks) != len(tickets) or any(
            c[0] != t.ticket_id for c, t in zip(clocks, tickets, strict=True)):
        raise StoredStateError(f"the stored clocks of {state.thread_key} are not its tickets'")
    if not tickets:
        return state
    return replaced(state, {"tickets": tuple(
        replaced(ticket, {"seq": seq, "sla": sla})
        for ticket, (_, seq, sla) in zip(tickets, clocks, strict=True))})


class StoredClocks(NamedTuple):
    """What :func:`stored_clocks` reads of v4 bytes."""

    sla_due: int
    """The deadline summary's SLA deadline (:data:`NO_DEADLINE`: none; an alias thread's)."""
    form_activity: int
    """The summary's open form's last activity (:data:`NO_DEADLINE`: no open form)."""
    clocks: tuple[Clock, ...]
    body: bytes
    """The state's JSON after the clocks, as stored."""


def stored_clocks(data: bytes) -> StoredClocks | None:
    """The clocks of a stored state (v4), without decoding the rest: each ticket's id, last
    ``seq`` and SLA clocks (the snapshot :func:`load_thread` would give, as its
    :data:`~streams.sla.snapshot.Row`), and the deadline summary. ``None`` for an older
    version (decode it whole)."""
    if data[:1] != b"\x04":
        return None
    sla, form, clocks, body = _split_clocks(data)
    # The named tuple made without its ``__new__``'s Python call: once per thread a tick
    # fires (about 0.3 us of a restart's 19 a ticket, issue 19).
    return _tuple(StoredClocks, (sla, form, _DECODE_CLOCKS(clocks), body))


def with_clocks(stored: StoredClocks, clocks: Sequence[Clock]) -> bytes:
    """The stored state of ``stored`` (no alias thread) with its tickets' clocks replaced by
    ``clocks`` (the same tickets, in the same order, every one with SLA clocks): the bytes
    :func:`dump_thread` writes for that state, but for the ``seq`` left in the JSON (see the
    module). The deadline summary's SLA deadline is the clocks' next; the form's stays."""
    due: datetime | None = None
    for _, _, row in clocks:
        if row is None:
            raise ValueError("a ticket without SLA clocks: encode the whole state")
        next_at = row[NEXT_AT]
        if next_at is not None and (due is None or next_at < due):
            due = next_at
    encoded = _ENCODE_CLOCKS(clocks)
    return b"".join((_HEADER_CLOCKS.pack(_V4, _micros(due), stored.form_activity,
                                         len(encoded)),
                     encoded, stored.body))


def stored_deadlines(data: bytes) -> tuple[int, int]:
    """The deadline summary of a stored state: its next SLA deadline and its open intake
    form's last activity, in microseconds since the epoch (:data:`NO_DEADLINE`: none). Read
    from the header of v2 to v4 bytes; v1 bytes are decoded for it."""
    if len(data) > _HEADER.size:
        version, sla, form = _HEADER.unpack_from(data)
        if version in _SUMMARIZED:  # v1 starts with ``{``
            return sla, form
    return _deadlines(load_thread(data))


_SUMMARIZED = frozenset({0x02, 0x03, 0x04})
"""The versions whose header holds the deadline summary (read without slicing the version
byte off: the summary is read for every stored state a restart indexes, issue 19)."""
