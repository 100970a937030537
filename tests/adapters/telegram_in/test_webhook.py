"""The webhook endpoint's contract with Telegram, over HTTP, with an in-memory log.

The integration suite repeats the happy path and unknown types against real Kafka; here each
rejection is checked precisely, including that nothing reaches the log and the metric counts it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from connectors.telegram.webhook import SECRET_HEADER, create_webhook_app
from streams.schema.envelope import RawTelegramUpdate

SECRET = "s3cret-Token_1"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
UPDATE = {"update_id": 10, "message": {"message_id": 1, "date": 1, "text": "hi",
                                       "chat": {"id": 5, "type": "private"},
                                       "from": {"id": 5, "is_bot": False, "first_name": "A"}}}


class MemoryLog:
    def __init__(self, fail: bool = False) -> None:
        self.records: list[RawTelegramUpdate] = []
        self.fail = fail

    async def append(self, envelopes: Sequence[Any]) -> None:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("broker down")
        for envelope in envelopes:  # what the log would hold, decoded back
            decoded = RawTelegramUpdate.model_validate_json(envelope.to_bytes())
            assert decoded.routing_key() == envelope.routing_key()
            self.records.append(decoded)


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
async def client(log: MemoryLog) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_webhook_app(log, bot_id=7, secret=SECRET, max_body_bytes=4096,
                             clock=lambda: NOW)
    async with TestClient(TestServer(app)) as c:
        yield c


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                     {"reason": reason}) or 0.0


async def post(client: TestClient, body: bytes, secret: str | None = SECRET):  # type: ignore[no-untyped-def,type-arg]
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return await client.post("/telegram", data=body, headers=headers)


async def test_valid_update_is_stored_untouched_before_200(client: TestClient,  # type: ignore[type-arg]
                                                           log: MemoryLog) -> None:
    resp = await post(client, json.dumps(UPDATE).encode())
    assert resp.status == 200
    assert [r.update for r in log.records] == [UPDATE]
    assert log.records[0].source == "webhook" and log.records[0].received_at == NOW
    assert log.records[0].routing_key() == "chat:5"


@pytest.mark.parametrize(("secret", "reason"), [(None, "missing_secret"),
                                                ("wrong", "bad_secret"),
                                                (SECRET + "x", "bad_secret")])
async def test_missing_or_wrong_secret_is_401_and_stores_nothing(
        client: TestClient, log: MemoryLog, secret: str | None, reason: str) -> None:  # type: ignore[type-arg]
    before = rejected(reason)
    resp = await post(client, json.dumps(UPDATE).encode(), secret)
    assert resp.status == 401
    assert log.records == []
    assert rejected(reason) == before + 1


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json at all", "not_json"),
    (b"\xff\xfe", "not_json"),
    (b"[1, 2]", "not_an_update"),
    (b'{"message": {}}', "not_an_update"),
    (b'{"update_id": "12"}', "not_an_update"),
    (b'{"update_id": true}', "not_an_update"),
])
async def test_body_that_is_not_an_update_is_400(client: TestClient, log: MemoryLog,  # type: ignore[type-arg]
                                                 body: bytes, reason: str) -> None:
    before = rejected(reason)
    resp = await post(client, body)
    assert resp.status == 400
    assert log.records == []
    assert rejected(reason) == before + 1


async def test_oversized_body_is_413(client: TestClient, log: MemoryLog) -> None:  # type: ignore[type-arg]
    big = json.dumps({**UPDATE, "padding": "x" * 5000}).encode()
    resp = await post(client, big)
    assert resp.status == 413
    assert log.records == []


async def test_unknown_update_type_is_accepted_and_kept_raw(client: TestClient,  # type: ignore[type-arg]
                                                            log: MemoryLog) -> None:
    odd = {"update_id": 11, "purchased_paid_media": {"from": {"id": 1}, "payload": "p"}}
    resp = await post(client, json.dumps(odd).encode())
    assert resp.status == 200
    assert log.records[0].update == odd
    assert log.records[0].routing_key() == "update:11"


async def test_log_failure_answers_503_so_telegram_retries() -> None:
    app = create_webhook_app(MemoryLog(fail=True), bot_id=7, secret=SECRET)
    async with TestClient(TestServer(app)) as c:
        resp = await post(c, json.dumps(UPDATE).encode())
        assert resp.status == 503


def test_a_webhook_without_secret_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_webhook_app(MemoryLog(), bot_id=7, secret="")


async def test_logs_never_carry_the_secret_or_the_body(client: TestClient,  # type: ignore[type-arg]
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import structlog
    with structlog.testing.capture_logs() as logs:
        await post(client, json.dumps(UPDATE).encode(), "wrong")
        await post(client, b"garbage-body-text")
        await post(client, json.dumps(UPDATE).encode())
    text = json.dumps(logs) + capsys.readouterr().err
    assert logs, "rejections are logged"
    assert "wrong" not in text and SECRET not in text
    assert "garbage-body-text" not in text and '"hi"' not in text


@pytest.mark.parametrize("body", [
    b'  {"update_id": 12, "message": {"text": "\\u00e9t\xc3\xa9 \xf0\x9f\x98\x80", '
    b'"message_id": 3, "date": 1, "chat": {"id": 7, "type": "private"}}}\n',
    '{"update_id": 13, "x": "caf\u00e9"}'.encode("utf-16"),
])
async def test_the_stored_update_equals_the_received_json(client: TestClient,  # type: ignore[type-arg]
                                                          log: MemoryLog, body: bytes) -> None:
    resp = await post(client, body)
    assert resp.status == 200
    assert log.records[0].update == json.loads(body)
