"""getUpdates: confirmation by offset, long polling, conflicts, allowed_updates."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from simulators.telegram import SimulatorDriver
from tests.simulators.telegram.conftest import BotApi


async def test_updates_stay_until_confirmed_by_a_higher_offset(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    first = await tg.write(forum["id"], ann["id"], "one")
    second = await tg.write(forum["id"], ann["id"], "two")
    assert second.update_id == first.queued_id + 1

    again = await api.result("getUpdates")
    assert [u["update_id"] for u in await api.result("getUpdates")] == [
        u["update_id"] for u in again] == [first.update_id, second.update_id]

    rest = await api.result("getUpdates", offset=second.queued_id)
    assert [u["update_id"] for u in rest] == [second.update_id]
    assert await api.result("getUpdates", offset=second.queued_id + 1) == []
    assert await api.result("getUpdates") == []


async def test_limit_caps_the_batch(api: BotApi, tg: SimulatorDriver, forum: dict[str, Any],
                                   ann: dict[str, Any]) -> None:
    for n in range(5):
        await tg.write(forum["id"], ann["id"], f"m{n}")
    batch = await api.result("getUpdates", limit=2)
    assert [u["message"]["text"] for u in batch] == ["m0", "m1"]


async def test_a_negative_offset_keeps_only_the_last_updates(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    for n in range(4):
        await tg.write(forum["id"], ann["id"], f"m{n}")
    assert [u["message"]["text"] for u in await api.result("getUpdates", offset=-1)] == ["m3"]
    assert [u["message"]["text"] for u in await api.result("getUpdates")] == ["m3"]


async def test_long_polling_returns_as_soon_as_an_update_arrives(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(api.result("getUpdates", timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    said = await tg.write(forum["id"], ann["id"], "hello")
    updates = await poll
    assert [u["update_id"] for u in updates] == [said.update_id]
    assert time.monotonic() - started < 3


async def test_long_polling_answers_an_empty_list_when_the_timeout_passes(api: BotApi) -> None:
    started = time.monotonic()
    assert await api.result("getUpdates", timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_a_second_poll_terminates_the_first_with_409(api: BotApi) -> None:
    first = asyncio.create_task(api.call("getUpdates", timeout=10))
    await asyncio.sleep(0.2)
    assert await api.result("getUpdates") == []
    status, body = await first
    assert status == 409
    assert body["description"] == ("Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")


async def test_get_updates_is_409_while_a_webhook_is_set(api: BotApi) -> None:
    await api.result("setWebhook", url="http://127.0.0.1:9/hook")
    status, body = await api.call("getUpdates")
    assert status == 409
    assert body == {"ok": False, "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is "
                                   "active; use deleteWebhook to delete the webhook first"}
    await api.result("deleteWebhook")
    assert await api.result("getUpdates") == []


async def test_allowed_updates_filters_updates_created_afterwards(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    reaction = {"chat": forum, "message_id": 2, "date": 0, "user": ann,
                "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}
    by_default = await tg.emit("message_reaction", reaction)
    assert by_default.update_id is None  # not in the default set, like the real Bot API

    await api.result("getUpdates", allowed_updates=["message_reaction"])
    wanted = await tg.emit("message_reaction", reaction)
    skipped = await tg.write(forum["id"], ann["id"], "not wanted now")
    assert wanted.update_id is not None and skipped.update_id is None
    assert [u["update_id"] for u in await api.result("getUpdates")] == [wanted.update_id]


async def test_a_redelivered_update_comes_once_more_and_is_then_forgotten(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    said = await tg.write(forum["id"], ann["id"], "hello")
    await api.result("getUpdates")
    assert await api.result("getUpdates", offset=said.queued_id + 1) == []
    await tg.redeliver(said.queued_id)
    copy = await api.result("getUpdates", offset=said.queued_id + 1)
    assert copy == [said.update]
    assert await api.result("getUpdates", offset=said.queued_id + 1) == []
