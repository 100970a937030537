"""Long polling: ``getUpdates`` with an offset that advances only after a batch is durable.

Telegram keeps an update until a ``getUpdates`` call names an offset past it, so the reader
appends each batch to the log first and only then asks for ``offset = last update_id + 1``.
A crash in between makes Telegram send the batch again; the worker drops the repeats by
``update_id`` and message id. 429 and 5xx are retried with backoff
(:data:`streams.runtime.retry.TELEGRAM_POLL`, capped at ``max_backoff``; ``retry_after`` honoured);
409 (a webhook is set) stops the reader with a clear error.

Each update passes the same check as the webhook's (:mod:`streams.schema.update_check`). One
the worker would not fold is not appended to ``telegram.updates``: it goes to the dead-letter
topic with its reason (``dead_letters``; counted in ``telecase_telegram_updates_refused_total``)
and the offset moves past it like past any other, so one bad update never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.errors import TransientError
from connectors.raw_log import RawLog
from connectors.telegram.bot_api import BotApi, Conflict
from connectors.telegram.inbound_metrics import ACCEPTED, REFUSED
from streams.runtime.retry import TELEGRAM_POLL, retrying
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.update_check import UpdateRefused, check_object

log = structlog.get_logger("telecase.telegram.polling")


class PollingConflictError(Conflict):
    """A webhook is set for this bot; getUpdates cannot be used until it is deleted."""


CONSUMER = "telegram-poller"
ORIGIN = "telegram.getUpdates"
"""The ``topic`` of a refused update's dead letter (its ``offset`` is the ``update_id``)."""


class LongPoller:
    def __init__(self, api: BotApi, raw_log: RawLog, *, bot_id: int, timeout: int = 25,
                 limit: int = 100, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_backoff: float = 30.0, dead_letters: RawLog | None = None,
                 max_update_bytes: int = 1_000_000) -> None:
        """``dead_letters``: the dead-letter topic (``None``: refused updates are only logged
        and counted)."""
        self.api, self.raw_log, self.bot_id = api, raw_log, bot_id
        self.dead_letters, self.max_update_bytes = dead_letters, max_update_bytes
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
        kept: list[RawTelegramUpdate] = []
        letters: list[DeadLetter] = []
        for update in updates:
            try:
                checked = check_object(update, max_bytes=self.max_update_bytes)
            except UpdateRefused as refused:
                letters.append(self._letter(update, refused, now))
                continue
            kept.append(RawTelegramUpdate(bot_id=self.bot_id, source="long_polling",
                                          received_at=now, update=checked.update))
        if kept:
            await self.raw_log.append(kept)
            ACCEPTED.labels("long_polling").inc(len(kept))
        if letters and self.dead_letters is not None:
            await self.dead_letters.append([_Letter(letter) for letter in letters])
        for letter in letters:
            REFUSED.labels("long_polling", letter.reason).inc()
            log.warning("polling.refused", update_id=letter.offset, reason=letter.reason,
                        detail=letter.detail)
        ids = [i for u in updates if isinstance(u, dict)
               and isinstance(i := u.get("update_id"), int) and not isinstance(i, bool)]
        if ids:
            self.offset = max(ids) + 1
        return len(kept)

    def _letter(self, update: Any, refused: UpdateRefused, now: datetime) -> DeadLetter:
        update_id = update.get("update_id") if isinstance(update, dict) else None
        offset = update_id if type(update_id) is int and abs(update_id) < 2 ** 63 else -1
        try:  # ASCII JSON: a lone surrogate stays an escape, as Telegram sent it
            payload = json.dumps(update).encode()
        except (ValueError, TypeError, RecursionError):
            payload = b""
        return DeadLetter(reason=refused.reason, detail=refused.detail[:500], consumer=CONSUMER,
                          topic=ORIGIN, partition=0, offset=offset, key=f"update:{offset}",
                          payload_b64=DeadLetter.encode_payload(payload), failed_at=now)

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


class _Letter:
    """A dead letter as the log takes it (:class:`connectors.raw_log.RawEnvelope`)."""

    def __init__(self, letter: DeadLetter) -> None:
        self.letter = letter

    def routing_key(self) -> str:
        return self.letter.key or "update"

    def to_bytes(self) -> bytes:
        return self.letter.model_dump_json().encode()


class _Stopped(Exception):
    """The poller was stopped while waiting to retry."""


def _logged(attempt: int, exc: BaseException, delay: float) -> None:
    log.warning("polling.retry", delay=delay, error=str(exc))
