"""The bot's queue of pending updates, shared by ``getUpdates`` and webhook delivery.

Telegram keeps each update until the bot confirms it: with ``getUpdates`` by calling again
with ``offset`` greater than its ``update_id``; with a webhook by answering its POST with a 2xx.
``update_id`` increases by one per update.

``allowed_updates`` (from ``getUpdates`` or ``setWebhook``) decides which updates are created
at all; like the real Bot API it does not affect updates already queued, a call without it
keeps the previous setting, and the default (unset or empty list) is every type except
``chat_member``, ``message_reaction`` and ``message_reaction_count``.

Telegram keeps an update at most 24 hours ("Getting updates": "they will not be kept longer
than 24 hours"): an update pending longer than ``max_age`` seconds (by ``clock``, the
simulation's wall clock) is dropped, by ``getUpdates`` and by webhook delivery alike.

A *replay* is a second copy of an update that was already handed over (what Telegram does when
a webhook answer timed out). In polling mode a replay is returned once, at its place in the
queue even though its id is lower than the offset, and is forgotten at the next call that
passes an ``offset``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_AGE = 24 * 3600.0
"""Seconds Telegram keeps an unconfirmed update."""
WaitOutcome = Literal["ready", "timeout", "superseded", "closed"]


def update_type(update: dict[str, Any]) -> str:
    """The update's type: its one field other than ``update_id``."""
    return next((key for key in update if key != "update_id"), "unknown")


def delivery_key(update: dict[str, Any]) -> str:
    """The lane an update is delivered in: its chat, else its user, else its own."""
    body = update.get(update_type(update))
    if isinstance(body, dict):
        chat = body.get("chat")
        if not isinstance(chat, dict):
            inner = body.get("message")
            chat = inner.get("chat") if isinstance(inner, dict) else None
        if isinstance(chat, dict) and "id" in chat:
            return f"chat:{chat['id']}"
        user = body.get("from") or body.get("user")
        if isinstance(user, dict) and "id" in user:
            return f"user:{user['id']}"
    return f"update:{update.get('update_id')}"


@dataclass
class Pending:
    """One update waiting to be handed over and confirmed."""

    seq: int
    update: dict[str, Any]
    key: str
    replay: bool = False
    returned: bool = False
    queued_at: float = 0.0

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


class UpdateQueue:
    """Pending updates in order, with long-poll waiting and listeners for new ones."""

    def __init__(self, first_update_id: int = 1, *,
                 clock: Callable[[], float] = time.time, max_age: float = MAX_AGE) -> None:
        self.clock, self.max_age = clock, max_age
        self._ids = itertools.count(first_update_id)
        self._seq = itertools.count(1)
        self.pending: dict[int, Pending] = {}
        self.history: dict[int, dict[str, Any]] = {}
        self.subscription: list[str] = []
        self.listeners: list[Callable[[Pending], None]] = []
        self._changed = asyncio.Event()
        self._poll_token = 0
        self._closed = False

    # -- adding ----------------------------------------------------------------------------

    def wants(self, kind: str) -> bool:
        """Whether the current ``allowed_updates`` lets an update of ``kind`` be created."""
        if not self.subscription:
            return kind not in DEFAULT_EXCLUDED
        return kind in self.subscription

    def subscribe(self, allowed_updates: list[str] | None) -> None:
        """Apply ``allowed_updates``; ``None`` keeps the previous setting."""
        if allowed_updates is not None:
            self.subscription = list(allowed_updates)

    def add(self, kind: str, body: dict[str, Any], *, filtered: bool = True) -> int | None:
        """Queue ``{update_id, kind: body}``; ``None`` when ``allowed_updates`` excludes it."""
        if filtered and not self.wants(kind):
            return None
        update_id = next(self._ids)
        self._enqueue({"update_id": update_id, kind: body}, replay=False)
        return update_id

    def add_raw(self, update: dict[str, Any]) -> int:
        """Queue an arbitrary update as it is; one without ``update_id`` gets the next id."""
        if not isinstance(update.get("update_id"), int):
            update = {"update_id": next(self._ids), **update}
        self._enqueue(update, replay=False)
        return int(update["update_id"])

    def replay(self, update_id: int) -> Pending:
        """Queue a second copy of an update that was already handed over."""
        update = self.history.get(update_id)
        if update is None:
            raise KeyError(update_id)
        if any(p.update_id == update_id for p in self.pending.values()):
            raise ValueError("the update is still pending")
        return self._enqueue(update, replay=True)

    def _enqueue(self, update: dict[str, Any], *, replay: bool) -> Pending:
        entry = Pending(next(self._seq), update, delivery_key(update), replay=replay,
                        queued_at=self.clock())
        self.history[entry.update_id] = update
        self.pending[entry.seq] = entry
        for listener in list(self.listeners):
            listener(entry)
        self._wake()
        return entry

    # -- handing over and confirming -------------------------------------------------------

    def confirm(self, offset: int | None) -> None:
        """``getUpdates``' offset: forget what it confirms (negative: keep only the last N)."""
        if not offset:
            return
        if offset < 0:
            keep = set(list(self.pending)[offset:])
            self.pending = {s: p for s, p in self.pending.items() if s in keep}
            return
        self.pending = {s: p for s, p in self.pending.items()
                        if not (p.returned if p.replay else p.update_id < offset)}

    def expired(self, entry: Pending) -> bool:
        """Whether ``entry`` has waited longer than Telegram keeps an update."""
        return self.clock() - entry.queued_at > self.max_age

    def expire(self) -> int:
        """Drop every pending update older than ``max_age``; how many were dropped."""
        old = [seq for seq, entry in self.pending.items() if self.expired(entry)]
        for seq in old:
            del self.pending[seq]
        return len(old)

    def take(self, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` pending updates, oldest first; they stay until confirmed."""
        self.expire()
        out = list(itertools.islice(self.pending.values(), limit))
        for entry in out:
            entry.returned = True
        return [entry.update for entry in out]

    def remove(self, seq: int) -> None:
        """Forget one pending update (a webhook answered it with 2xx, or gave up)."""
        self.pending.pop(seq, None)

    def clear(self) -> None:
        """``drop_pending_updates``."""
        self.pending.clear()

    # -- long polling ----------------------------------------------------------------------

    def begin_poll(self) -> int:
        """Register a new ``getUpdates`` call; an older one still waiting is superseded."""
        self._poll_token += 1
        self._wake()
        return self._poll_token

    async def wait(self, timeout: float, token: int) -> WaitOutcome:
        """Wait until an update is pending, the time is up, or this poll is superseded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if token != self._poll_token:
                return "superseded"
            if self._closed:
                return "closed"
            if self.pending:
                return "ready"
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "timeout"
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return "timeout"

    def open(self) -> None:
        """Accept polls again (the server is starting)."""
        self._closed = False

    def close(self) -> None:
        """Release every waiting poll (the server is stopping)."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
