"""Long polling against a scripted Bot API (httpx.MockTransport): the offset moves only after a
batch is durable, 429 honours retry_after, 409 (webhook set) stops with a clear error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from connectors.errors import TransientError
from connectors.telegram.bot_api import BotApi, TelegramApiError
from connectors.telegram.polling import LongPoller, PollingConflictError
from streams.schema.envelope import RawTelegramUpdate


class ScriptedTelegram:
    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content or b"{}"))
        status, body = self.answers.pop(0) if self.answers else (200, {"ok": True,
                                                                         "result": []})
        return httpx.Response(status, json=body)


class FlakyLog:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.records: list[RawTelegramUpdate] = []

    async def append(self, envelopes: Sequence[RawTelegramUpdate]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.records.extend(envelopes)


def updates(*ids: int) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": [
        {"update_id": i, "message": {"message_id": i, "date": 1,
                                     "chat": {"id": 5, "type": "private"}}} for i in ids]}


def poller(script: ScriptedTelegram, log: FlakyLog) -> LongPoller:
    api = BotApi("1:x", "http://telegram.test", transport=httpx.MockTransport(script))
    return LongPoller(api, log, bot_id=1, timeout=0)


async def test_offset_advances_only_after_the_batch_is_durable() -> None:
    script = ScriptedTelegram([updates(5, 6), updates(5, 6), updates(7)])
    log = FlakyLog(failures=1)
    p = poller(script, log)
    with pytest.raises(ConnectionError):
        await p.poll_once()  # the log refused: the offset must not move
    assert p.offset is None
    assert await p.poll_once() == 2
    assert await p.poll_once() == 1
    assert [r.get("offset") for r in script.requests] == [None, None, 7]
    assert [r.update["update_id"] for r in log.records] == [5, 6, 7]
    assert {r.source for r in log.records} == {"long_polling"}


async def test_rate_limit_is_transient_with_retry_after() -> None:
    script = ScriptedTelegram([(429, {"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 3",
                                      "parameters": {"retry_after": 3}})])
    with pytest.raises(TransientError) as caught:
        await poller(script, FlakyLog()).poll_once()
    assert caught.value.retry_after == 3


async def test_webhook_conflict_stops_the_poller_with_a_clear_error() -> None:
    script = ScriptedTelegram([(409, {"ok": False, "error_code": 409, "description":
                                      "Conflict: can't use getUpdates method while webhook "
                                      "is active; use deleteWebhook to delete the webhook "
                                      "first"})])
    with pytest.raises(PollingConflictError, match="deleteWebhook"):
        await poller(script, FlakyLog()).run()


async def test_bad_request_is_permanent() -> None:
    script = ScriptedTelegram([(400, {"ok": False, "error_code": 400,
                                      "description": "Bad Request: wrong offset"})])
    with pytest.raises(TelegramApiError) as caught:
        await poller(script, FlakyLog()).poll_once()
    assert caught.value.error_code == 400
