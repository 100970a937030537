"""The embedded ingest bench's traffic is what Telegram sends: every field known to aiogram's
models (the oracle), foldable by telecase's own check, and each chat's topics opened first."""

from __future__ import annotations

from aiogram.types import Update

from bench.traffic import DeskTraffic
from streams.schema.update_check import check_object
from tests.simulators.telegram.test_oracle import extras


def test_desk_traffic_is_what_telegram_sends_and_opens_topics_first() -> None:
    traffic = DeskTraffic(chats=3, topics=2)
    updates = [traffic.next_update(n % 3) for n in range(24)]
    for raw in updates:
        assert extras(Update.model_validate(raw)) == []
        check_object(raw)
    first = [u["message"] for u in updates if u["message"]["chat"]["id"] == -1003000000000]
    assert [bool(m.get("forum_topic_created")) for m in first[:3]] == [True, True, False]
    said = first[2]
    assert said["message_thread_id"] == said["reply_to_message"]["message_id"] != 1
    text = said["text"]
    assert [text[e["offset"]:e["offset"] + e["length"]] for e in said["entities"]] == [
        "@acme_sales", "https://acme.example/pricing", "#quote", "urgent"]
    assert [u["update_id"] for u in updates] == list(range(1, 25))
