"""Stored thread states as older telecase versions wrote them (``streams.runtime.state_codec``
reads every version): for tests of what is read back."""

from __future__ import annotations

import struct

import msgspec
from pydantic import TypeAdapter

from streams.core.ticket import ThreadState
from streams.runtime.state_codec import stored_deadlines

_ADAPTER: TypeAdapter[ThreadState] = TypeAdapter(ThreadState)


def dump_v1(state: ThreadState) -> bytes:
    """The encoding written before v2: the state's JSON, every field spelled out."""
    return _ADAPTER.dump_json(state)


def dump_v2(state: ThreadState) -> bytes:
    """v2: a version byte, the deadline summary, the JSON without the fields at their
    defaults."""
    return (struct.pack(">Bqq", 2, *stored_deadlines(dump_v1(state)))
            + _ADAPTER.dump_json(state, exclude_defaults=True))


def dump_v3(state: ThreadState) -> bytes:
    """v3: a version byte, the deadline summary, the clocks (each ticket's snapshot a JSON
    object), the JSON without the tickets' ``sla``."""
    clocks = msgspec.json.encode([(t.ticket_id, t.seq, t.sla) for t in state.tickets])
    return (struct.pack(">BqqI", 3, *stored_deadlines(dump_v1(state)), len(clocks)) + clocks
            + _ADAPTER.dump_json(state, exclude_defaults=True,
                                 exclude={"tickets": {"__all__": {"sla"}}}))
