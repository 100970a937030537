"""Deadline notifications in Salesforce (issue 17 item 2) in ``telecase run``: a ticket's
warning, breach and escalation each ring the Case owner's bell once, through the simulated
org's ``customNotificationAction``, across a ``kill -9`` and restart right after the breach's."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.e2e.kafka.test_sla_timers_kafka import POLICY, write_in_private_chats
from tests.infra import wait_for


def kinds(salesforce: SalesforceThread) -> Counter[str]:
    sent: list[dict[str, Any]] = salesforce.act(lambda driver: driver.notifications())
    return Counter(n["title"].split(" - ")[0].split(":")[0] for n in sent)


def notifying_org(salesforce: SalesforceThread, telegram: SimulatorThread,
                  tmp_path: Path) -> dict[str, str]:
    """The org's notification type made; the settings of telecase with notifications on and
    the fast SLA policy (a breach 8 s after the first message)."""
    salesforce.act(lambda driver: driver.create("CustomNotificationType", {
        "DeveloperName": "Telecase_SLA_Deadline", "MasterLabel": "SLA deadline",
        "CustomNotifTypeName": "SLA deadline", "Desktop": True}))
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    return {"TELECASE_POLICY_FILE": str(policy), "TELECASE_SLA_TICK_INTERVAL": "0.2",
            "TELECASE_SALESFORCE_NOTIFICATIONS": "true",
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url, **salesforce.env()}


def assert_each_rang_once_for_the_owner(salesforce: SalesforceThread) -> None:
    """After a pause in which a repeat would show up: one bell for the warning, the breach
    and the escalation each, all to the Case's owner, about the Case."""
    time.sleep(3)
    assert kinds(salesforce) == {"SLA warning": 1, "SLA breached": 1,
                                 "SLA escalation level 1 (queue_manager)": 1}
    [case] = salesforce.records("Case")
    sent = salesforce.act(lambda driver: driver.notifications())
    assert all(n["recipient_ids"] == [case["OwnerId"]] and n["target_id"] == case["Id"]
               for n in sent)


def test_a_breach_notifies_the_case_owner_once_across_a_restart(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        env = notifying_org(salesforce, telegram, tmp_path)
        first = embedded.run("run1", **env)
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)
        write_in_private_chats(telegram, 1)
        wait_for(lambda: kinds(salesforce)["SLA breached"] == 1, 60,
                 what="the breach's notification")
        first.kill()  # SIGKILL: maybe before the notifier committed its position

        embedded.run("run2", **env)
        wait_for(lambda: kinds(salesforce)["SLA escalation level 1 (queue_manager)"] == 1, 60,
                 what="the escalation's notification after the restart")
        assert_each_rang_once_for_the_owner(salesforce)
    finally:
        salesforce.close()
