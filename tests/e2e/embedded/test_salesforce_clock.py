"""Salesforce as the SLA clock of record in ``telecase run`` (issue 17): the simulated org's
entitlement process gives the first response 1 minute where telecase's tier gives 10, so
with ``TELECASE_SLA_CLOCK_OF_RECORD=salesforce`` the ticket breaches and escalates (its
Telegram notice included) on Salesforce's ``TargetDate``; with the setting off, nothing of it.

The worker's clock runs 45 s ahead (``TELECASE_SLA_CLOCK_OFFSET``: moved, not waited for), so
Salesforce's target comes due some 15 s after the Case is made."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from connectors.salesforce.change_poller import parse_datetime
from streams.schema.events import TicketEvent
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.e2e.kafka.test_sla_timers_kafka import write_in_private_chats
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

POLICY = """
[sla]
default_tier = "enterprise"
warn_at = ["50%"]
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.enterprise]
team = "desk"
first_response = "10m"
resolution = "8h"
entitlement = "Enterprise Support"
[sla.escalation.level1]
first_response_over = "10%"
escalate_to = "queue_manager"
actions = [{ do = "notify_telegram", chat_id = CHAT, text = "{ticket_id}: {reason}" }]
"""


def org(salesforce: SalesforceThread) -> None:
    async def define(driver: Any) -> None:
        process = await driver.define_entitlement_process(
            "Enterprise SLA", {"First Response": 1, "Resolution": 480})
        await driver.create("Entitlement", {"Name": "Enterprise Support",
                                            "SlaProcessId": process["id"]})
    salesforce.act(define)


def run(embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path,
        clock_of_record: str) -> tuple[SalesforceThread, int]:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    org(salesforce)
    leads = telegram.drive(lambda tg: tg.create_forum("Leads"))
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY.replace("CHAT", str(leads["id"])))
    embedded.run("run", TELECASE_POLICY_FILE=str(policy), TELECASE_SLA_TICK_INTERVAL="0.2",
                 TELECASE_SLA_CLOCK_OFFSET="45",
                 TELECASE_SLA_CLOCK_OF_RECORD=clock_of_record,
                 TELECASE_SALESFORCE_MILESTONE_INTERVAL="1",
                 TELECASE_TELEGRAM_API_BASE=telegram.base_url, **salesforce.env())
    telegram.bot_api("setWebhook", url=embedded.webhook_url,
                     secret_token=embedded.webhook_secret)
    write_in_private_chats(telegram, 1)
    return salesforce, int(leads["id"])


def follows_salesforce(events: list[TicketEvent], salesforce: SalesforceThread,
                       telegram: SimulatorThread, leads: int) -> None:
    """The ticket's clocks adopted both milestones' targets and its first-response signals
    came on Salesforce's, each once; the escalation's notice went to the leads' chat."""
    targets = {m["TargetResponseInMins"]: parse_datetime(m["TargetDate"])
               for m in salesforce.records("CaseMilestone")}
    target = targets[1]
    opened = events[0].occurred_at
    adopted = [e for e in events if e.type == "sla.target_adopted"]
    # both clocks follow their milestones (the resolution's differs by the Case's lag)
    assert sorted((e.clock, e.target_at, e.previous_due_at) for e in adopted) == [  # type: ignore[union-attr]
        ("first_response", target, opened + timedelta(minutes=10)),
        ("resolution", targets[480], opened + timedelta(hours=8))]
    signals = {e.signal: e.occurred_at for e in events  # type: ignore[union-attr]
               if e.type in ("sla.warning", "sla.breached", "sla.escalated")}
    assert target is not None and signals["first_response_breached"] == target
    budget = target - opened
    assert signals["escalation:1"] == target + budget / 10
    # 50% of Salesforce's target, or at once if it had passed when the target was adopted
    assert signals["first_response_warning:0.5"] == max(opened + budget / 2,
                                                        min(e.occurred_at for e in adopted))
    assert len([e for e in events if e.type == "sla.breached"]) == 1
    notices = telegram.drive(lambda tg: tg.sent_messages(leads))
    assert len(notices) == 1 and "Salesforce's milestone" in notices[0]["text"]


def test_the_breach_and_the_escalation_come_at_salesforces_target(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce, leads = run(embedded, telegram, tmp_path, "salesforce")
    try:
        def escalated() -> bool:
            return any(e.type == "sla.escalated" for events in ticket_log(embedded).values()
                       for e in events)
        wait_for(escalated, 90, what="the escalation on Salesforce's target")
        time.sleep(2)  # a second breach or adoption would show up now
        [events] = ticket_log(embedded).values()
        follows_salesforce(events, salesforce, telegram, leads)
    finally:
        salesforce.close()


def test_with_telecase_as_the_clock_of_record_nothing_follows_salesforce(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce, leads = run(embedded, telegram, tmp_path, "telecase")
    try:
        wait_for(lambda: len(salesforce.records("CaseMilestone")) == 2, 60,
                 what="the Case's milestones")
        time.sleep(25)  # past Salesforce's target and its escalation on the worker's clock
        [events] = ticket_log(embedded).values()
        assert [e.type for e in events if e.type.startswith("sla.")] == ["sla.started"]
        assert telegram.drive(lambda tg: tg.sent_messages(leads)) == []
    finally:
        salesforce.close()

