"""Bad input on the real broker: rejected and counted at the webhook, or kept raw and
dead-lettered with a reason by the worker, and never blocking the records behind it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import RawTelegramUpdate
from tests.e2e.kafka.conftest import BOT_ID, Deployment
from tests.infra import wait_for
from tests.telegram_factory import Script, forum, user

pytestmark = pytest.mark.integration


def _post(dep: Deployment, body: bytes, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return httpx.post(dep.webhook_url, content=body, headers=headers, timeout=10).status_code


def test_webhook_rejections_and_unknown_types_on_real_kafka(deployment: Deployment) -> None:
    dep = deployment
    dep.webhook()
    s = Script(forum())
    created = s.create_topic(user(11, "Ann"), "Pricing", 1_700_000_000)
    good = json.dumps(created).encode()
    assert _post(dep, good, None) == 401
    assert _post(dep, good, "not-the-secret") == 401
    assert _post(dep, b"{nope", dep.webhook_secret) == 400
    assert _post(dep, b'{"message": {}}', dep.webhook_secret) == 400
    assert _post(dep, b'{"update_id": 1, "x": "' + b"a" * 1_100_000 + b'"}',
                 dep.webhook_secret) == 413
    odd = {"update_id": 99, "chat_boost": {"chat": {"id": -100, "type": "channel"}}}
    assert _post(dep, json.dumps(odd).encode(), dep.webhook_secret) == 200
    assert _post(dep, good, dep.webhook_secret) == 200

    raw = dep.read_topic(dep.names.telegram_updates)
    stored = [RawTelegramUpdate.model_validate_json(r.value).update for r in raw]
    assert sorted(stored, key=lambda u: u["update_id"]) == [odd, created]  # untouched

    dep.worker()
    dep.projector()
    rows = wait_for(lambda: dep.cases(), 90, what="the topic's case row")
    assert [r["subject"] for r in rows] == ["Pricing"]
    assert dep.read_topic(dep.names.dead_letters) == []  # an unknown type is skipped, not dead


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=0)
    finally:
        await producer.stop()


def test_unprocessable_records_go_to_the_dead_letter_topic_with_reason(
        deployment: Deployment) -> None:
    dep = deployment
    from datetime import UTC, datetime
    s = Script(forum())
    created = s.create_topic(user(11, "Ann"), "After the garbage", 1_700_000_000)
    envelope = RawTelegramUpdate(bot_id=BOT_ID, source="webhook",
                                 received_at=datetime.now(UTC), update=created)
    bad_update = RawTelegramUpdate(bot_id=BOT_ID, source="webhook",
                                   received_at=datetime.now(UTC),
                                   update={"update_id": 5, "message": {"message_id": "x"}})
    dep.start("topics", "topics").proc.wait(60)  # type: ignore[union-attr]
    asyncio.run(_produce(dep.bootstrap, dep.names.telegram_updates, [
        (b"chat:1", b"\x00not json"),
        (b"chat:1", bad_update.to_bytes()),
        (envelope.routing_key().encode(), envelope.to_bytes()),
    ]))
    dep.worker()
    dep.projector()
    rows = wait_for(lambda: dep.cases(), 90, what="the valid update's case")
    assert [r["subject"] for r in rows] == ["After the garbage"]
    letters = wait_for(lambda: dep.read_topic(dep.names.dead_letters), 30, what="dead letters")
    decoded = [DeadLetter.model_validate_json(r.value) for r in letters]
    assert [(d.reason, d.offset) for d in decoded] == [("invalid_envelope", 0),
                                                       ("invalid_update", 1)]
    assert decoded[0].payload() == b"\x00not json"
    assert decoded[1].topic == dep.names.telegram_updates and decoded[1].detail


def test_projector_dead_letters_undecodable_events_and_keeps_going(
        deployment: Deployment) -> None:
    dep = deployment
    from datetime import UTC, datetime

    from streams.schema.events import Actor, SourceRef, TicketOpened, encode_event
    now = datetime.now(UTC)
    opened = TicketOpened(event_id="tg:1:p:1#1", ticket_id="tg:1:p:1", seq=1, occurred_at=now,
                          recorded_at=now, source=SourceRef(kind="telegram", update_id=1),
                          actor=Actor(kind="customer", id="1"), channel="private_chat",
                          chat_id=1, thread_id=None, thread_key="1:p", subject="Hello",
                          subject_message_id=1, customer=None, customer_message_id=1)
    future = opened.model_dump(mode="json") | {"version": 99}
    dep.start("topics", "topics").proc.wait(60)  # type: ignore[union-attr]
    asyncio.run(_produce(dep.bootstrap, dep.names.ticket_events, [
        (b"tg:1:p:1", b"{broken"),
        (b"tg:1:p:1", json.dumps(future).encode()),
        (b"tg:1:p:1", encode_event(opened)),
    ]))
    dep.projector()
    rows = wait_for(lambda: dep.cases(), 60, what="the valid event's case")
    assert [(r["ticket_id"], r["subject"]) for r in rows] == [("tg:1:p:1", "Hello")]
    letters = wait_for(lambda: dep.read_topic(dep.names.dead_letters), 30, what="dead letters")
    decoded = [DeadLetter.model_validate_json(r.value) for r in letters]
    assert [(d.reason, d.consumer, d.offset) for d in decoded] == [
        ("invalid_event", "projector:cases", 0), ("unknown_event", "projector:cases", 1)]
    assert "newer than this build reads" in decoded[1].detail
