"""Telegram's flood limits: the documented ones for sending messages, and limits on every
other method.

From the Bot FAQ ("My bot is hitting limits, how do I avoid this?"):

- in one chat, avoid more than about one message per second; short bursts are allowed, but
  eventually 429 errors come (a token bucket: ``per_chat_burst`` messages at once, refilled
  at ``per_chat_per_second``);
- no more than 20 messages per minute to the same group (a sliding 60-second window, applied
  to chats with negative ids: groups, supergroups, channels);
- about 30 messages per second overall (a sliding 1-second window).

Every other method (``createForumTopic``, ``reopenForumTopic``, ``editForumTopic``,
``setWebhook``...; not ``getUpdates``) is flood-limited too: Telegram answers any method with
429 and ``parameters.retry_after`` when a bot calls it too often ("Making requests":
``ResponseParameters.retry_after``; the Bot FAQ's flood limits), but documents no numbers for
them. Here each method has at most ``calls_per_chat_per_minute`` calls per chat (a sliding
60-second window, for calls naming a ``chat_id``) and at most ``calls_per_second`` calls a
second for the whole bot; ``setWebhook``/``deleteWebhook`` at most ``webhook_changes_per_second``.
The numbers are this simulator's choice (generous, so a well-behaved client never meets them;
tests tighten them to see 429s).

A refused message or call consumes nothing. The answer is 429 with ``retry_after`` in whole seconds
(rounded up, at least 1). Time comes from ``RateLimits.clock`` (default ``time.monotonic``) so
tests can step a fake clock instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.telegram.errors import too_many_requests


@dataclass(frozen=True)
class RateLimits:
    """Limits on ``sendMessage`` (``per_*``, ``global_per_second``) and on every other method
    (``calls_*``, ``webhook_changes_per_second``); ``enabled=False`` turns them all off
    (benchmarks)."""

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    global_per_second: int = 30
    calls_per_chat_per_minute: int = 60
    calls_per_second: int = 30
    webhook_changes_per_second: int = 5
    enabled: bool = True
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Checks and records one sent message at a time against :class:`RateLimits`."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._buckets: dict[int, _Bucket] = {}
        self._group_sends: dict[int, deque[float]] = {}
        self._global_sends: deque[float] = deque()
        self._calls: dict[tuple[str, str | None], deque[float]] = {}

    def acquire_call(self, method: str, chat_id: object = None) -> None:
        """Record a call of ``method`` (any but ``sendMessage``/``getUpdates``), naming
        ``chat_id`` or not, or raise 429 without recording it."""
        limits = self.limits
        if not limits.enabled:
            return
        now = limits.clock()
        name = method.lower()
        windows: list[tuple[deque[float], int, float]] = []
        overall = self._calls.setdefault((name, None), deque())
        if name in ("setwebhook", "deletewebhook"):
            windows.append((overall, limits.webhook_changes_per_second, 1.0))
        else:
            windows.append((overall, limits.calls_per_second, 1.0))
        if chat_id is not None:
            per_chat = self._calls.setdefault((name, str(chat_id)), deque())
            windows.append((per_chat, limits.calls_per_chat_per_minute, 60.0))
        for window, most, span in windows:
            _expire(window, now - span)
            if len(window) >= most:
                raise too_many_requests(_ceil(window[0] + span - now))
        for window, _, _ in windows:
            window.append(now)

    def acquire(self, chat_id: int) -> None:
        """Record a message to ``chat_id``, or raise 429 without recording it."""
        limits = self.limits
        if not limits.enabled:
            return
        now = limits.clock()
        _expire(self._global_sends, now - 1.0)
        if len(self._global_sends) >= limits.global_per_second:
            raise too_many_requests(_ceil(self._global_sends[0] + 1.0 - now))
        group = self._group_sends.setdefault(chat_id, deque()) if chat_id < 0 else None
        if group is not None:
            _expire(group, now - 60.0)
            if len(group) >= limits.per_group_per_minute:
                raise too_many_requests(_ceil(group[0] + 60.0 - now))
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            bucket = self._buckets[chat_id] = _Bucket(float(limits.per_chat_burst), now)
        rate = limits.per_chat_per_second
        bucket.tokens = min(float(limits.per_chat_burst),
                            bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise too_many_requests(_ceil((1.0 - bucket.tokens) / rate))
        bucket.tokens -= 1.0
        if group is not None:
            group.append(now)
        self._global_sends.append(now)


def _expire(window: deque[float], older_than: float) -> None:
    while window and window[0] <= older_than:
        window.popleft()


def _ceil(seconds: float) -> int:
    return max(1, math.ceil(seconds - 1e-9))
