"""Telegram falling silent tells Salesforce when configured (``telecase.ops.silence_salesforce``):
``telecase run`` with ``TELECASE_TELEGRAM_SILENCE_AFTER`` and
``TELECASE_SILENCE_SALESFORCE_OWNER`` creates one Task "Telegram is silent" for that user in the
simulated org once the Telegram simulator is stopped, and no second one while the episode lasts
(its reasons may change)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.infra import wait_for


def test_a_silence_episode_makes_one_task_for_the_configured_user(
        embedded: EmbeddedDeployment, tmp_path: Path) -> None:
    telegram, salesforce = SimulatorThread(), SalesforceThread(tmp_path / "sf-certs")
    running = True
    try:
        [lead, *_] = salesforce.records("User")
        proc = embedded.run("run", **salesforce.env(),
                            TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                            TELECASE_TELEGRAM_SILENCE_AFTER="1",
                            TELECASE_SILENCE_SALESFORCE_OWNER=lead["Id"])
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)
        telegram.close()
        running = False
        [task] = wait_for(lambda: [t for t in salesforce.records("Task")
                                   if t["Subject"] == "Telegram is silent"], 20,
                          what="the silence Task")
        assert task["OwnerId"] == lead["Id"]
        assert task["Description"].startswith("telecase: Telegram looks silent (")
        time.sleep(3)  # more checks in the same episode (no_updates joins the reasons)
        assert len([t for t in salesforce.records("Task")
                    if t["Subject"] == "Telegram is silent"]) == 1
        assert "telegram.silent_task" in proc.output()
    finally:
        if running:
            telegram.close()
        salesforce.close()
