"""Long polling: ``getUpdates`` with an offset that advances only after a batch is durable.

Telegram keeps an update until a ``getUpdates`` call names an offset past it, so the reader
appends each batch to the log first and only then asks for ``offset = last update_id + 1``.
A crash in between makes Telegram send the batch again; the worker drops the repeats by
``update_id`` and message id. 429 and 5xx are retried with backoff
(:data:`connectors.retry.TELEGRAM_POLL`, capped at ``max_backoff``; ``retry_after`` honoured);
409 (a webhook is set) stops the reader with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from connectors.errors import TransientError
from connectors.raw_log import RawLog
from connectors.retry import TELEGRAM_POLL, retrying
from connectors.telegram.bot_api import BotApi, Conflict
from connectors.telegram.inbound_metrics import ACCEPTED
from streams.schema.envelope import RawTelegramUpdate

log = structlog.get_logger("telecase.telegram.polling")


class PollingConflictError(Conflict):
    """A webhook is set for this bot; getUpdates cannot be used until it is deleted."""


class LongPoller:
    def __init__(self, api: BotApi, raw_log: RawLog, *, bot_id: int, timeout: int = 25,
                 limit: int = 100, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_backoff: float = 30.0) -> None:
        self.api, self.raw_log, self.bot_id = api, raw_log, bot_id
        self.timeout, self.limit, self.clock, self.max_backoff = timeout, limit, clock, max_backoff
        self.offset: int | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def poll_once(self) -> int:
        """One ``getUpdates`` round; returns how many updates were made durable."""
        updates = await self.api.call("getUpdates", http_timeout=self.timeout + 10,
                                      offset=self.offset, limit=self.limit,
                                      timeout=self.timeout)
        return await self._store(updates)

    async def _store(self, updates: list[dict[str, object]]) -> int:
        if not updates:
            return 0
        now = self.clock()
        await self.raw_log.append([
            RawTelegramUpdate(bot_id=self.bot_id, source="long_polling", received_at=now,
                              update=u) for u in updates])
        ACCEPTED.labels("long_polling").inc(len(updates))
        ids = [int(str(u["update_id"])) for u in updates
               if isinstance(u.get("update_id"), int)]
        if ids:
            self.offset = max(ids) + 1
        return len(updates)

    async def run(self) -> None:
        policy = TELEGRAM_POLL.capped(self.max_backoff)
        while not self._stopping.is_set():
            try:
                await retrying(self.poll_once, policy=policy, retry_on=TransientError,
                               sleep=self._pause, on_retry=_logged)
            except Conflict as exc:
                raise PollingConflictError(exc.error_code, exc.description) from exc
            except _Stopped:
                return

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
        if self._stopping.is_set():
            raise _Stopped


class _Stopped(Exception):
    """The poller was stopped while waiting to retry."""


def _logged(attempt: int, exc: BaseException, delay: float) -> None:
    log.warning("polling.retry", delay=delay, error=str(exc))
