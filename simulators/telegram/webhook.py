"""Webhook delivery: POST each pending update to the bot's URL until it answers 2xx.

The way Telegram does it, as far as it is documented and observable:

- one HTTP POST per update, body = the Update as JSON, ``Content-Type: application/json``,
  header ``X-Telegram-Bot-Api-Secret-Token`` when ``setWebhook`` had a ``secret_token``;
- an update leaves the queue only after a 2xx answer; a non-2xx answer, a connection error
  or a timeout is retried with backoff (:class:`RetryPolicy`) and recorded in
  ``getWebhookInfo`` as ``last_error_date`` / ``last_error_message`` ("Wrong response from
  the webhook: 500 Internal Server Error", "Connection refused", "Read timeout expired");
- the retry schedule: the Bot API says only that an unsuccessful request is repeated and
  given up "after a reasonable amount of attempts" (setWebhook), and that updates are not
  kept longer than 24 hours (Getting updates). Observed Telegram retries with growing delays
  capped around a minute, for as long as the update lives; so here: delays doubling from
  ``initial_delay`` up to ``max_delay`` (60 s), a ``Retry-After`` header on the webhook's
  answer (429/503) waited out as given when longer, and no attempt limit unless
  ``max_attempts`` is set: the update is dropped when it is older than the queue's
  ``max_age`` (24 h);
- updates of one chat go one at a time in ``update_id`` order (the next waits until the
  previous is acknowledged); different chats go concurrently, at most ``max_connections``
  requests at once.

The body of the webhook's answer is ignored (the real "reply with a method call in the
response" feature is not simulated). Every attempt is appended to ``log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp

from simulators.telegram.updates import Pending, UpdateQueue

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = logging.getLogger("telecase.telegram.simulator.webhook")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between attempts to deliver one update, and when to give up (``max_attempts``;
    ``None``: only when the update expires, as Telegram does)."""

    initial_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_attempts: int | None = None
    request_timeout: float = 60.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based); the webhook's
        ``Retry-After`` when it asks for longer."""
        computed = min(self.max_delay, self.initial_delay * self.factor ** max(0, failures - 1))
        return max(computed, retry_after or 0.0)


@dataclass(frozen=True)
class WebhookConfig:
    """What ``setWebhook`` was given."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40


class WebhookDelivery:
    """Delivers a queue's pending updates to one webhook URL until stopped."""

    def __init__(self, queue: UpdateQueue, config: WebhookConfig, policy: RetryPolicy,
                 attempts_log: list[dict[str, Any]]) -> None:
        self.queue = queue
        self.config = config
        self.policy = policy
        self.log = attempts_log
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._lanes: dict[str, deque[Pending]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(config.max_connections)
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Begin delivering what is pending now and whatever is queued later."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.config.max_connections),
            timeout=aiohttp.ClientTimeout(total=self.policy.request_timeout))
        self.queue.listeners.append(self.enqueue)
        for entry in list(self.queue.pending.values()):
            self.enqueue(entry)

    async def stop(self) -> None:
        """Stop delivering; an update in flight stays pending (Telegram would retry it)."""
        if self.enqueue in self.queue.listeners:
            self.queue.listeners.remove(self.enqueue)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._lanes.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def enqueue(self, entry: Pending) -> None:
        """Put ``entry`` at the end of its chat's lane; start the lane if it is idle."""
        self._lanes.setdefault(entry.key, deque()).append(entry)
        if entry.key not in self._tasks:
            self._tasks[entry.key] = asyncio.create_task(self._run_lane(entry.key))

    async def _run_lane(self, key: str) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                entry = lane[0]
                if entry.seq in self.queue.pending:
                    await self._deliver(entry)
                    self.queue.remove(entry.seq)
                lane.popleft()
        finally:
            if not lane:
                self._lanes.pop(key, None)
            self._tasks.pop(key, None)

    async def _deliver(self, entry: Pending) -> bool:
        """Try until a 2xx or ``max_attempts``; ``True`` when the webhook accepted it."""
        failures = 0
        while True:
            if self.queue.expired(entry):
                log.warning("webhook.expired", extra={"update_id": entry.update_id})
                self.log.append(self._record(entry, failures, None, "expired", 0.0))
                return False
            async with self._slots:
                error, retry_after = await self._attempt(entry, failures + 1)
            if error is None:
                return True
            failures += 1
            self.last_error_date = int(time.time())
            self.last_error_message = error
            limit = self.policy.max_attempts
            if limit is not None and failures >= limit:
                log.warning("webhook.gave_up", extra={"update_id": entry.update_id})
                self.log.append(self._record(entry, failures, None, "gave up", 0.0))
                return False
            await asyncio.sleep(self.policy.delay(failures, retry_after))

    async def _attempt(self, entry: Pending, attempt: int) -> tuple[str | None, float | None]:
        """One POST: (``None`` on 2xx, else Telegram's wording of what went wrong; the
        answer's ``Retry-After`` in seconds, when it has one)."""
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if self.config.secret_token:
            headers[SECRET_HEADER] = self.config.secret_token
        body = json.dumps(entry.update, ensure_ascii=False).encode()
        started = time.monotonic()
        status: int | None = None
        retry_after: float | None = None
        try:
            async with self._session.post(self.config.url, data=body, headers=headers) as resp:
                status = resp.status
                retry_after = _seconds(resp.headers.get("Retry-After"))
                await resp.read()
                error = None if 200 <= status < 300 else (
                    f"Wrong response from the webhook: {status} {resp.reason or ''}".rstrip())
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError:
            error = "Connection refused"
        except aiohttp.ClientError as exc:
            error = f"Connection error: {type(exc).__name__}"
        self.log.append(self._record(entry, attempt, status, error,
                                     time.monotonic() - started))
        return error, (retry_after if error is not None else None)

    @staticmethod
    def _record(entry: Pending, attempt: int, status: int | None, error: str | None,
                seconds: float) -> dict[str, Any]:
        return {"update_id": entry.update_id, "attempt": attempt, "status": status,
                "ok": error is None, "error": error, "replay": entry.replay,
                "at": time.time(), "seconds": round(seconds, 6)}


def _seconds(header: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds (the delta-seconds form; an HTTP date is
    not honoured)."""
    if header is None:
        return None
    try:
        return max(0.0, float(header.strip()))
    except ValueError:
        return None
