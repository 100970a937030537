"""``telecase run`` and the bot's webhook at start: polling mode deletes a webhook and reads
the updates Telegram held for it; webhook mode with ``TELECASE_WEBHOOK_PUBLIC_URL`` sets it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.infra import ROOT, wait_for

DEAD_URL = "http://127.0.0.1:9/telegram"


async def _customer_writes(tg: Any) -> int:
    forum = await tg.create_forum("Sales")
    ann = await tg.create_user("Ann")
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    await tg.write(forum["id"], ann["id"], "what does it cost?", topic.thread_id)
    return int(forum["id"])


def test_polling_deletes_a_webhook_at_start_and_keeps_its_pending_updates(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    telegram.bot_api("setWebhook", url=DEAD_URL, secret_token="x")
    telegram.drive(_customer_writes)
    assert telegram.bot_api("getWebhookInfo")["pending_update_count"] >= 1
    proc = embedded.start("run", "run", TELECASE_TELEGRAM_MODE="polling",
                          TELECASE_TELEGRAM_API_BASE=telegram.base_url)
    wait_for(lambda: [r["message_count"] for r in embedded.cases()] == [1] or not proc.alive(),
             15, what="the held message projected")
    assert proc.alive(), proc.output()
    assert telegram.bot_api("getWebhookInfo")["url"] == ""
    assert "telegram.webhook_deleted_for_polling" in proc.output()


def test_webhook_mode_sets_the_public_url_at_start(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    embedded.run("run", TELECASE_WEBHOOK_PUBLIC_URL=embedded.webhook_url,
                 TELECASE_TELEGRAM_API_BASE=telegram.base_url)
    wait_for(lambda: telegram.bot_api("getWebhookInfo")["url"] == embedded.webhook_url, 15,
             what="the webhook set")
    info = telegram.bot_api("getWebhookInfo")
    assert info["allowed_updates"] == ["message", "edited_message"]
    telegram.drive(_customer_writes)
    wait_for(lambda: [r["message_count"] for r in embedded.cases()] == [1], 15,
             what="the message projected")


def _telecase(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telecase", "telegram", *args], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
                          timeout=60)


def test_the_telegram_commands_set_show_and_delete_the_webhook(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    env = embedded.env(TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                       TELECASE_WEBHOOK_MAX_CONNECTIONS="5")
    done = _telecase(env, "set-webhook", "--url", embedded.webhook_url)
    assert done.returncode == 0, done.stderr
    info = telegram.bot_api("getWebhookInfo")
    assert (info["url"], info["max_connections"]) == (embedded.webhook_url, 5)
    shown = _telecase(env, "status", "--chat", "-100777")
    assert shown.returncode == 0, shown.stderr
    assert f"webhook: {embedded.webhook_url}" in shown.stdout
    assert "group -100777: the bot cannot read its membership there" in shown.stdout
    assert _telecase(env, "delete-webhook").returncode == 0
    assert telegram.bot_api("getWebhookInfo")["url"] == ""
