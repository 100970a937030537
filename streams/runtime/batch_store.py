"""A worker's thread states for one batch (the :class:`~streams.runtime.fold.ThreadStore` the
fold reads), over what the worker has stored: both runtimes' workers use it.

What the batch decided so far is seen by the records after it: states decoded and decided
(``pending``), and states a clock tick fired from their stored bytes and left encoded
(``pending_raw``, :attr:`~streams.runtime.fold.Folded.encoded`); a thread is in one or the
other, never both. After the batch's events are durable, the worker stores
:meth:`BatchStore.encoded` of every thread the batch changed.
"""

from __future__ import annotations

from datetime import datetime

from streams.core.ticket import ThreadState
from streams.runtime.fold import Folded
from streams.runtime.state_codec import dump_thread, load_thread
from streams.runtime.timers import TimerBook, due_threads


class BatchStore:
    """Subclasses say how the worker reads a stored thread: :meth:`read` (decoded) and
    :meth:`read_raw` (its bytes, or ``None`` to have a tick fire it from :meth:`read`)."""

    def __init__(self, timers: TimerBook | None) -> None:
        self.timers = timers
        self.pending: dict[str, ThreadState] = {}
        self.pending_raw: dict[str, bytes] = {}
        self.popped: list[str] = []
        """The threads the index handed to this batch's ticks (scheduled again after it)."""

    def read(self, thread_key: str) -> ThreadState | None:
        raise NotImplementedError

    def read_raw(self, thread_key: str) -> bytes | None:
        raise NotImplementedError

    def take(self, folded: Folded) -> None:
        """What a record's fold decided, for the records after it."""
        for state in folded.states:
            if state is not None:
                self.pending[state.thread_key] = state
                self.pending_raw.pop(state.thread_key, None)
        self.pending_raw.update(folded.encoded)

    def changed(self) -> list[str]:
        """Every thread the batch changed."""
        return [*self.pending, *self.pending_raw]

    def untouched(self) -> list[str]:
        """The threads the index handed to this batch's ticks that the batch did not change:
        to schedule again from what is stored (the changed ones, from what is written)."""
        return [k for k in self.popped if k not in self.pending and k not in self.pending_raw]

    def encoded(self, thread_key: str) -> bytes:
        """The bytes to store for a thread the batch changed."""
        raw = self.pending_raw.get(thread_key)
        return raw if raw is not None else dump_thread(self.pending[thread_key])

    def stored(self, thread_key: str) -> bytes | None:
        if thread_key in self.pending:
            return None
        raw = self.pending_raw.get(thread_key)
        return raw if raw is not None else self.read_raw(thread_key)

    def get(self, thread_key: str) -> ThreadState | None:
        state = self.pending.get(thread_key)
        if state is not None:
            return state
        raw = self.pending_raw.get(thread_key)
        return load_thread(raw) if raw is not None else self.read(thread_key)

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return due_threads(self.timers, self.pending, self.popped, partition, at)
