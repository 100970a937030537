"""Webhook management against the Telegram simulator: set-webhook with telecase's update
types, status (getMe, getWebhookInfo, the rights lacking per group), delete-webhook, and
polling's start clearing a webhook while keeping its pending updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest

from connectors.telegram import webhook_admin
from connectors.telegram.bot_api import BotApi
from simulators.telegram import BotApiSimulator, RateLimits, SimulatorDriver
from simulators.telegram.webhook import RetryPolicy
from streams.core.routing import Skipped, route
from streams.schema.telegram import Update
from telecase.settings import load_settings

TOKEN = "7000000042:AAE-webhook-admin"
DEAD_URL = "http://127.0.0.1:9/telegram"
"""A webhook nobody listens on: every delivery fails, so updates stay pending."""
PATIENT = RetryPolicy(initial_delay=0.05, factor=1.0, max_delay=0.05, max_attempts=None,
                      request_timeout=1.0)


class Bot(NamedTuple):
    api: BotApi
    tg: SimulatorDriver
    base_url: str


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """telecase's Bot API client and the test's driver, on one simulator whose webhook
    deliveries keep failing without giving up."""
    simulator = BotApiSimulator(TOKEN, limits=RateLimits(enabled=False), webhook_retry=PATIENT)
    await simulator.start()
    client = BotApi(TOKEN, simulator.base_url, timeout=10.0)
    try:
        async with SimulatorDriver(simulator.base_url) as driver:
            yield Bot(client, driver, simulator.base_url)
    finally:
        await client.aclose()
        await simulator.stop()


def test_allowed_updates_are_what_the_core_routes() -> None:
    assert webhook_admin.ALLOWED_UPDATES == ("message", "edited_message")
    other = Update.model_validate({"update_id": 1, "callback_query": {"id": "1"}})
    assert isinstance(route(other, bot_id=1), Skipped)


async def _first_error(api: BotApi) -> dict[str, object]:
    for _ in range(100):
        info = await api.call("getWebhookInfo")
        if info.get("last_error_date"):
            return dict(info)
        await asyncio.sleep(0.05)
    raise AssertionError("no delivery error reported")


async def test_set_webhook_then_status_then_delete(bot: Bot) -> None:
    api, tg, _ = bot
    await webhook_admin.set_webhook(api, DEAD_URL, secret="s3cret", max_connections=7)
    ann = await tg.create_user("Ann")
    chat = await tg.create_private_chat(ann["id"])
    await tg.write(chat["id"], ann["id"], "hello")
    info = await _first_error(api)
    assert info["url"] == DEAD_URL and info["max_connections"] == 7
    assert info["allowed_updates"] == ["message", "edited_message"]
    assert info["pending_update_count"] == 1

    status = await webhook_admin.bot_status(api)
    lines = "\n".join(status.lines())
    assert f"webhook: {DEAD_URL}" in lines and "pending updates: 1" in lines
    assert "last delivery error: 20" in lines  # an ISO date, then Telegram's words
    assert status.me["id"] == 7000000042

    await webhook_admin.delete_webhook(api, drop_pending=True)
    info = await api.call("getWebhookInfo")
    assert info["url"] == "" and info["pending_update_count"] == 0


async def test_polling_start_deletes_the_webhook_keeping_pending_updates(
        bot: Bot) -> None:
    api, tg, _ = bot
    assert await webhook_admin.clear_for_polling(api) is False  # none set: nothing done
    await webhook_admin.set_webhook(api, DEAD_URL, secret=None)
    ann = await tg.create_user("Ann")
    chat = await tg.create_private_chat(ann["id"])
    await tg.write(chat["id"], ann["id"], "are you there?")
    assert await webhook_admin.clear_for_polling(api) is True
    updates = await api.call("getUpdates", timeout=0)
    assert [u["message"]["text"] for u in updates] == ["are you there?"]


async def test_status_names_a_group_where_the_bot_lacks_a_right(
        bot: Bot) -> None:
    api, tg, _ = bot
    fine = await tg.create_forum("Sales")
    poor = await tg.create_forum("Support")
    await tg.set_bot_rights(poor["id"], can_manage_topics=False)
    status = await webhook_admin.bot_status(api, [fine["id"], poor["id"], -100999])
    assert status.lacking == {fine["id"]: [], poor["id"]: ["can_manage_topics"], -100999: []}
    lines = status.lines()
    assert "group -100999: the bot cannot read its membership there: Bad Request: chat not " \
        "found" in lines
    assert f"group {fine['id']}: no missing right found" in lines
    assert any(line.startswith(f"group {poor['id']}: the bot lacks can_manage_topics")
               for line in lines)
    assert "webhook: none (getUpdates)" in lines


async def test_prepare_inbound_at_start(bot: Bot,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook mode with a public URL sets the webhook; polling deletes it; webhook mode
    without one leaves Telegram alone."""
    api, _, base = bot
    monkeypatch.setenv("TELECASE_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELECASE_TELEGRAM_API_BASE", base)
    monkeypatch.setenv("TELECASE_TELEGRAM_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("TELECASE_WEBHOOK_PUBLIC_URL", DEAD_URL)
    await webhook_admin.prepare_inbound(load_settings())
    assert (await api.call("getWebhookInfo"))["url"] == DEAD_URL
    await webhook_admin.prepare_inbound(load_settings(telegram_mode="polling"))
    assert (await api.call("getWebhookInfo"))["url"] == ""
    monkeypatch.delenv("TELECASE_WEBHOOK_PUBLIC_URL")
    await webhook_admin.prepare_inbound(load_settings())
    assert (await api.call("getWebhookInfo"))["url"] == ""
