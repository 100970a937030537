"""Salesforce as the SLA clock of record on Kafka: ``telecase connector salesforce`` reads the
Case Milestones, the worker (its clock 45 s ahead) breaches and escalates on Salesforce's
``TargetDate`` and ``telecase connector telegram-out`` sends the escalation's notice; the same
as the embedded run (``tests/e2e/embedded/test_salesforce_clock.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.embedded.test_salesforce_clock import POLICY, follows_salesforce, org
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread
from tests.e2e.kafka.test_sla_timers_kafka import write_in_private_chats
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

pytestmark = pytest.mark.integration


def test_the_breach_and_the_escalation_come_at_salesforces_target_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    dep = deployment
    org(salesforce)
    leads = int(telegram.drive(lambda tg: tg.create_forum("Leads"))["id"])
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY.replace("CHAT", str(leads)))
    common = {"TELECASE_POLICY_FILE": str(policy),
              "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    dep.webhook()
    dep.worker(**common, TELECASE_SLA_TICK_INTERVAL="0.2", TELECASE_SLA_CLOCK_OFFSET="45")
    dep.start("salesforce", "connector", "salesforce", **salesforce.env(), **common,
              TELECASE_SLA_CLOCK_OF_RECORD="salesforce",
              TELECASE_SALESFORCE_MILESTONE_INTERVAL="1")
    dep.start("telegram-out", "connector", "telegram-out", **common)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    write_in_private_chats(telegram, 1)
    wait_for(lambda: telegram.drive(lambda tg: tg.sent_messages(leads)), 120,
             what="the escalation's notice on Salesforce's target")
    time.sleep(2)  # a second breach, adoption or notice would show up now
    [events] = ticket_log(dep).values()
    follows_salesforce(events, salesforce, telegram, leads)
