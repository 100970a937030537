"""``telecase ticket open`` end to end, while ``telecase run`` (embedded) runs between the
Telegram and Salesforce simulators: the request goes through the run's inbox into
``ticket.commands``.

- outreach: one topic in the team forum named from the subject, the agent's message in it
  (sent by the reply mirror), one ticket with the customer, one Case; the customer's answer
  lands on the same ticket, and only then do its SLA clocks start;
- manual: a ticket with source ``manual``, timed, synced to Salesforce, in the projection and
  the audit trail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

POLICY = """
[sla]
default_tier = "standard"
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "4h"
resolution = "2d"
"""


def _open(dep: Any, *args: str) -> str:
    """``telecase ticket open`` with ``dep``'s settings and the simulators', on ``dep``'s
    runtime (``KAFKA_BOOTSTRAP_SERVERS`` alone would choose Kafka)."""
    runtime = "kafka" if "KAFKA_BOOTSTRAP_SERVERS" in dep.env() else "embedded"
    done = subprocess.run([sys.executable, "-m", "telecase", "ticket", "open",
                           "--runtime", runtime, *args],
                          env={**os.environ, **dep.env(**dep.extra_env)}, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def outreach_scenario(dep: Any, telegram: SimulatorThread, salesforce: SalesforceThread,
                      tmp_path: Path, start: Any) -> None:
    """``start(env)`` starts telecase; ``dep`` runs ``telecase`` commands (``start``) and
    reads the log and projection (``read_topic``, ``cases``)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)

    async def people(tg: Any) -> tuple[dict[str, Any], ...]:
        team = await tg.create_forum("Customers")
        ann = await tg.create_user("Ann", username="ann")
        return team, ann

    team, ann = telegram.drive(people)
    dep.extra_env = {**salesforce.env(), "TELECASE_OUTREACH_CHAT_ID": str(team["id"]),
                     "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    start({**salesforce.env(), "TELECASE_POLICY_FILE": str(policy),
           "TELECASE_OUTREACH_CHAT_ID": str(team["id"]),
           "TELECASE_TELEGRAM_API_BASE": telegram.base_url})
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)

    out = _open(dep, "--customer", str(ann["id"]), "--subject", "Your renewal",
                "--message", "Hi Ann, your plan renews next month.", "--by", "maria")
    [topic] = telegram.drive(lambda tg: tg.topics(team["id"]))
    assert topic["name"] == "Your renewal"
    thread = topic["message_thread_id"]
    ticket_id = f"tg:{team['id']}:t{thread}"
    assert f"ticket: {ticket_id}" in out
    sent = wait_for(lambda: [m for m in telegram.drive(lambda tg: tg.sent_messages(team["id"]))
                             if "renews next month" in m["text"]], 30,
                    what="the agent's first message in the topic")
    assert [m["message_thread_id"] for m in sent] == [thread]
    [case] = wait_for(lambda: salesforce.records("Case"), 30, what="the outreach Case")
    assert case["Telecase_Ticket_Id__c"] == ticket_id

    telegram.drive(lambda tg: tg.write(team["id"], ann["id"], "Tell me more", thread))
    wait_for(lambda: [(r["ticket_id"], r["message_count"]) for r in dep.cases()]
             == [(ticket_id, 1)], 30, what="the answer on the outreach ticket")
    [row] = dep.cases()
    assert row["customer_telegram_id"] == ann["id"] and row["first_response_at"] is None
    log = ticket_log(dep)
    assert list(log) == [ticket_id]  # no second, customer-less ticket for the bot's topic
    types = [e.type for e in log[ticket_id]]
    assert types[:3] == ["ticket.opened", "ticket.requested", "agent.replied"]
    assert types.index("sla.started") > types.index("customer.message_received")
    assert len(salesforce.records("Case")) == 1

    out = _open(dep, "--manual", "--customer-name", "Carl Caller", "--phone",
                "+1 555 0199", "--note", "Called about an invoice", "--by", "maria")
    manual_id = out.split("ticket: ")[1].split()[0]
    [manual] = wait_for(lambda: [r for r in dep.cases() if r["ticket_id"] == manual_id
                                 and r["sla_tier"]], 30, what="the manual ticket, timed")
    assert (manual["channel"], manual["customer_name"]) == ("manual", "Carl Caller")
    [manual_case] = wait_for(lambda: [c for c in salesforce.records("Case")
                                      if c["Telecase_Ticket_Id__c"] == manual_id], 30,
                             what="the manual Case")
    assert manual_case["Origin"] == "Phone" and manual_case["Subject"] == (
        "Manual ticket: Carl Caller")
    assert "Caller: Carl Caller, +15550199" in manual_case["Description"]  # in E.164
    assert "Called about an invoice" in manual_case["Description"]
    manual_log = ticket_log(dep)[manual_id]
    requested = [e for e in manual_log if e.type == "ticket.requested"]
    assert [(e.origin, e.phone) for e in requested] == [("manual", "+15550199")]  # type: ignore[attr-defined]
    [caller] = [c for c in salesforce.records("Contact") if c["Id"] == manual_case["ContactId"]]
    assert (caller["LastName"], caller["MobilePhone"]) == ("Caller", "+15550199")


def salesforce_outreach_scenario(dep: Any, telegram: SimulatorThread,
                                 salesforce: SalesforceThread, start: Any) -> None:
    """An agent's Case with Origin Telegram for a Contact with a Telegram id: one topic named
    from the Subject, the Description sent in it, one ticket linked to that Case (no second
    Case), and the customer's reply on it."""
    async def people(tg: Any) -> tuple[dict[str, Any], ...]:
        return await tg.create_forum("Customers"), await tg.create_user("Bea", username="bea")

    team, bea = telegram.drive(people)
    start({**salesforce.env(), "TELECASE_OUTREACH_CHAT_ID": str(team["id"]),
           "TELECASE_TELEGRAM_API_BASE": telegram.base_url})
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    contact = salesforce.act(lambda sf: sf.create("Contact", {
        "LastName": "Bee", "FirstName": "Bea", "Telegram_User_Id__c": str(bea["id"])}))
    case = salesforce.act(lambda sf: sf.create("Case", {
        "Subject": "Upgrade offer", "Description": "Hi Bea, a better plan is available.",
        "Origin": "Telegram", "ContactId": contact["Id"]}))
    [topic] = wait_for(lambda: telegram.drive(lambda tg: tg.topics(team["id"])), 30,
                       what="the outreach topic")
    assert topic["name"] == "Upgrade offer"
    thread = topic["message_thread_id"]
    ticket_id = f"tg:{team['id']}:t{thread}"
    wait_for(lambda: [m for m in telegram.drive(lambda tg: tg.sent_messages(team["id"]))
                      if "better plan" in m["text"] and m["message_thread_id"] == thread],
             30, what="the Case's Description in the topic")
    telegram.drive(lambda tg: tg.write(team["id"], bea["id"], "Sounds good", thread))
    wait_for(lambda: [(r["ticket_id"], r["message_count"], r["salesforce_case_id"])
                      for r in dep.cases()] == [(ticket_id, 1, case["Id"])], 30,
             what="the reply on the ticket linked to the agent's Case")
    [only] = salesforce.records("Case")
    assert only["Id"] == case["Id"] and only["Telecase_Ticket_Id__c"] == ticket_id
    log = ticket_log(dep)
    assert list(log) == [ticket_id]
    requested = [e for e in log[ticket_id] if e.type == "ticket.requested"]
    assert [(e.origin, e.case_id) for e in requested] == [  # type: ignore[attr-defined]
        ("salesforce", case["Id"])]


def test_a_case_marked_for_telegram_becomes_an_outreach_ticket(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        salesforce_outreach_scenario(embedded, telegram, salesforce,
                                     lambda env: embedded.run("run", **env))
    finally:
        salesforce.close()


def test_outreach_and_manual_tickets_through_telecase_ticket_open(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        outreach_scenario(embedded, telegram, salesforce, tmp_path,
                          lambda env: embedded.run("run", **env))
    finally:
        salesforce.close()
