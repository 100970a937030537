"""Serialising a thread's state for a state store (Faust table, embedded store)."""

from __future__ import annotations

from pydantic import TypeAdapter

from streams.core.ticket import ThreadState

_ADAPTER: TypeAdapter[ThreadState] = TypeAdapter(ThreadState)


def dump_thread(state: ThreadState) -> bytes:
    return _ADAPTER.dump_json(state)


def load_thread(data: bytes) -> ThreadState:
    return _ADAPTER.validate_json(data)
