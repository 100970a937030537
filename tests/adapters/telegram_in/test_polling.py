"""Long polling against a scripted Bot API (httpx.MockTransport): the offset moves only after a
batch is durable, 429 honours retry_after, 409 (webhook set) stops with a clear error."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from connectors.errors import TransientError
from connectors.telegram.bot_api import BotApi, TelegramApiError
from connectors.telegram.polling import LongPoller, PollingConflictError
from streams.schema.deadletter import DeadLetter
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


class MemoryTopic:
    """The dead-letter topic: what the poller appends, as bytes."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []

    async def append(self, envelopes: Sequence[Any]) -> None:
        self.records.extend((e.routing_key(), e.to_bytes()) for e in envelopes)


def _message(update_id: int, chat_id: int = 5, text: str = "hi") -> dict[str, Any]:
    return {"update_id": update_id,
            "message": {"message_id": update_id, "date": 1, "text": text,
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": 5, "first_name": "A"}}}


async def test_a_refused_update_is_dead_lettered_and_the_offset_moves_past_it() -> None:
    """The same check as the webhook's: the poller neither blocks on nor stores an update the
    worker would not fold. Telegram's body is decoded by a lenient parser (lone surrogates
    survive it), so the check re-encodes it."""
    batch: list[Any] = [_message(5), _message(6, chat_id=2 ** 64), _message(7, text="\ud83d"),
             {"update_id": 8, "message": {"message_id": 8}},
             {"update_id": 9, "purchased_paid_media": {"from": {"id": 2 ** 70}}},
             "junk", _message(10)]
    body = json.dumps({"ok": True, "result": batch}).encode()  # "\ud83d" as an escape
    api = BotApi("1:x", "http://telegram.test",
                 transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    log, dead = FlakyLog(), MemoryTopic()
    p = LongPoller(api, log, bot_id=1, timeout=0, dead_letters=dead)  # type: ignore[arg-type]
    assert await p.poll_once() == 3
    assert [r.update["update_id"] for r in log.records] == [5, 9, 10]
    assert p.offset == 11
    letters = [DeadLetter.model_validate_json(value) for _, value in dead.records]
    assert [(d.offset, d.reason) for d in letters] == [
        (6, "invalid_update"), (7, "bad_string"), (8, "invalid_update"), (-1, "not_an_update")]
    assert {d.consumer for d in letters} == {"telegram-poller"}
    assert json.loads(letters[0].payload()) == batch[1]
    assert letters[1].payload() == json.dumps(batch[2]).encode()  # the escape kept
    assert "2**64" not in letters[0].detail and "chat.id" in letters[0].detail
    assert REGISTRY.get_sample_value("telecase_telegram_updates_refused_total",
                                     {"mode": "long_polling", "reason": "bad_string"})


async def test_without_a_dead_letter_topic_refused_updates_are_counted_and_skipped() -> None:
    body = json.dumps({"ok": True, "result": [_message(3, chat_id=-(2 ** 60))]}).encode()
    api = BotApi("1:x", "http://telegram.test",
                 transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    log = FlakyLog()
    p = LongPoller(api, log, bot_id=1, timeout=0)  # type: ignore[arg-type]
    assert await p.poll_once() == 0
    assert log.records == [] and p.offset == 4
