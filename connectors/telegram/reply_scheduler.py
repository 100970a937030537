"""The reply mirror's scheduler: which queued message may go to Telegram next.

Each conversation thread has a queue in log order, with one message in flight at a time.
Among threads whose chat, group and bot limits allow a send now, the one whose head message
has the earliest deadline goes first. Limits are sliding windows ("at most N sends in any
period"), the way Telegram's bot FAQ words them: about one message per second per chat, 20 per
minute per group, 30 per second overall. A 429 pauses its chat (and the whole bot when more than
one chat is flooded at once) for ``retry_after``. Pure bookkeeping: the caller passes the time.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

ThreadKey = tuple[int, int | None]
"""``(chat_id, thread_id)``; ``thread_id=None``: a private chat or a forum's General topic."""

T = TypeVar("T")


# ---------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class Limits:
    """How fast the mirror sends: at most ``n`` messages in any ``period`` seconds, per chat,
    per group (chats with negative ids) and overall; ``margin`` is added to every period."""

    per_chat: int = 1
    per_chat_period: float = 1.0
    per_group: int = 20
    per_group_period: float = 60.0
    overall: int = 30
    overall_period: float = 1.0
    margin: float = 0.05


class _Window:
    """At most ``limit`` sends in any ``period`` seconds (a log of recent sends)."""

    __slots__ = ("limit", "period", "sends")

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.sends: deque[float] = deque()

    def free_at(self, now: float) -> float:
        """The earliest time (>= ``now``) another send fits."""
        while self.sends and self.sends[0] <= now - self.period:
            self.sends.popleft()
        if len(self.sends) < self.limit:
            return now
        return self.sends[len(self.sends) - self.limit] + self.period

    def record(self, now: float) -> None:
        self.sends.append(now)

    def move(self, reserved: float, settled: float) -> None:
        """A send reserved at ``reserved`` is now known to have reached Telegram no later
        than ``settled``: count it from then (the window stays sorted)."""
        with contextlib.suppress(ValueError):
            self.sends.remove(reserved)
        bisect.insort(self.sends, settled)


@dataclass
class _Thread(Generic[T]):
    items: deque[tuple[datetime, int, T]] = field(default_factory=deque)
    in_flight: bool = False
    blocked_until: float = 0.0
    reserved: float | None = None


class Scheduler(Generic[T]):
    """Per-thread queues served earliest deadline first within :class:`Limits`.

    Pure: every method takes ``now`` (seconds on any monotonic clock) where time matters.
    :meth:`take` hands out the head of the best ready thread, reserves its send against the
    limits and marks the thread in flight until :meth:`done` or :meth:`retry`.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._threads: dict[ThreadKey, _Thread[T]] = {}
        self._chats: dict[int, _Window] = {}
        self._groups: dict[int, _Window] = {}
        self._overall = _Window(self.limits.overall,
                                self.limits.overall_period + self.limits.margin)
        self._flooded: dict[int, float] = {}
        self._global_block = 0.0
        self._seq = itertools.count()
        self._count = 0

    def __len__(self) -> int:
        """Items queued, including those in flight."""
        return self._count

    def push(self, key: ThreadKey, item: T, deadline: datetime) -> None:
        self._threads.setdefault(key, _Thread()).items.append((deadline, next(self._seq), item))
        self._count += 1

    def prepend(self, key: ThreadKey, item: T, deadline: datetime) -> None:
        """Put ``item`` before everything queued for ``key`` (a note that must go first)."""
        self._threads.setdefault(key, _Thread()).items.appendleft(
            (deadline, next(self._seq), item))
        self._count += 1

    def take(self, now: float) -> tuple[ThreadKey, T] | None:
        if now < self._global_block or self._overall.free_at(now) > now:
            return None
        best: tuple[datetime, int, ThreadKey] | None = None
        for key, thread in self._threads.items():
            if thread.in_flight or not thread.items or thread.blocked_until > now:
                continue
            if self._chat_free_at(key[0], now) > now:
                continue
            deadline, seq, _ = thread.items[0]
            if best is None or (deadline, seq) < best[:2]:
                best = (deadline, seq, key)
        if best is None:
            return None
        key = best[2]
        chat = key[0]
        self._chat_window(chat).record(now)
        if chat < 0:
            self._group_window(chat).record(now)
        self._overall.record(now)
        thread = self._threads[key]
        thread.in_flight = True
        thread.reserved = now
        return key, thread.items[0][2]

    def settle(self, key: ThreadKey, now: float) -> None:
        """The send handed out for ``key`` got its answer at ``now``. Telegram counted it at
        some moment between :meth:`take` and now; counting it from now in every window keeps
        the limits whatever the network delay (the next send leaves after ``now``)."""
        thread = self._threads.get(key)
        if thread is None or thread.reserved is None:
            return
        chat, reserved = key[0], thread.reserved
        thread.reserved = None
        windows = [self._chat_window(chat), self._overall]
        if chat < 0:
            windows.append(self._group_window(chat))
        for window in windows:
            window.move(reserved, now)

    def done(self, key: ThreadKey) -> None:
        """The head of ``key`` is finished (delivered or given up)."""
        thread = self._threads[key]
        thread.items.popleft()
        self._count -= 1
        thread.in_flight = False
        thread.blocked_until = 0.0
        thread.reserved = None
        if not thread.items:
            del self._threads[key]

    def retry(self, key: ThreadKey, not_before: float) -> None:
        """The head of ``key`` stays; its thread waits until ``not_before``."""
        thread = self._threads[key]
        thread.in_flight = False
        thread.blocked_until = not_before
        thread.reserved = None

    def flood(self, key: ThreadKey, until: float, now: float) -> bool:
        """A 429 for ``key``: its chat waits until ``until``; when another chat is already in
        flood control, everything waits (the limit looks global). Returns that judgement."""
        chat = key[0]
        wide = any(c != chat and t > now for c, t in self._flooded.items())
        self._flooded = {c: t for c, t in self._flooded.items() if t > now}
        self._flooded[chat] = max(self._flooded.get(chat, 0.0), until)
        if wide:
            self._global_block = max(self._global_block, until)
        self.retry(key, until)
        return wide

    def rekey(self, old: ThreadKey, new: ThreadKey) -> None:
        """The thread ``old`` lives on as ``new`` (a recreated topic); its queue goes first."""
        thread = self._threads.pop(old, None)
        if thread is None or old == new:
            if thread is not None:
                self._threads[old] = thread
            return
        target = self._threads.get(new)
        if target is not None:
            thread.items.extend(target.items)
            thread.in_flight = thread.in_flight or target.in_flight
            thread.blocked_until = max(thread.blocked_until, target.blocked_until)
        self._threads[new] = thread

    def wake_at(self, now: float) -> float | None:
        """When :meth:`take` may next hand something out (``None``: nothing is waiting)."""
        soonest: float | None = None
        base = max(self._global_block, self._overall.free_at(now))
        for key, thread in self._threads.items():
            if thread.in_flight or not thread.items:
                continue
            at = max(base, thread.blocked_until, self._chat_free_at(key[0], now))
            soonest = at if soonest is None else min(soonest, at)
        return soonest

    def _chat_free_at(self, chat: int, now: float) -> float:
        at = max(self._flooded.get(chat, 0.0), self._chat_window(chat).free_at(now))
        if chat < 0:
            at = max(at, self._group_window(chat).free_at(now))
        return at

    def _chat_window(self, chat: int) -> _Window:
        window = self._chats.get(chat)
        if window is None:
            window = self._chats[chat] = _Window(
                self.limits.per_chat, self.limits.per_chat_period + self.limits.margin)
        return window

    def _group_window(self, chat: int) -> _Window:
        window = self._groups.get(chat)
        if window is None:
            window = self._groups[chat] = _Window(
                self.limits.per_group, self.limits.per_group_period + self.limits.margin)
        return window

    def prune(self, now: float) -> None:
        """Forget the windows of chats with nothing recent and nothing queued."""
        busy = {key[0] for key in self._threads}
        for windows in (self._chats, self._groups):
            for chat in [c for c, w in windows.items()
                         if c not in busy and w.free_at(now) == now and not w.sends]:
                del windows[chat]
