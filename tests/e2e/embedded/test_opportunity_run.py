"""Deals end to end (issue 17 item 4): ``telecase run`` with
``TELECASE_SALESFORCE_OPPORTUNITIES`` between the Telegram and Salesforce simulators. A
bot intake form whose deal size passes the threshold converts its Lead and yields exactly
one Opportunity at ``Qualification``, the Case then pointing at the Contact and Account the
Lead became; after a restart, the agent's answer moves that same Opportunity to ``Needs
Analysis``, and Ann's later message attaches to the Contact (nothing doubled: one
Opportunity, one Account, one Contact, the Lead converted once and never recreated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.embedded.test_intake_run import POLICY, SHARE, Customer, _bot_said
from tests.e2e.kafka.conftest import SalesforceThread
from tests.infra import wait_for

GROUP = "salesforce-opportunities"


async def deal_people(tg: Any) -> tuple[dict[str, Any], ...]:
    """The sales team's forum, its agent, and Ann, a prospect in a private chat."""
    team = await tg.create_forum("Sales team")
    agent = await tg.create_user("Alex", username="alex_sales")
    ann = await tg.create_user("Ann", username="ann", phone="+1 555 0100", last_name="Lee")
    await tg.create_private_chat(ann["id"])
    return team, agent, ann


def fill_a_qualified_form(telegram: SimulatorThread, ann: dict[str, Any]) -> None:
    """Ann fills the bot's intake form: Acme Corp, Widgets, EMEA, 120k, her phone."""
    customer = Customer(telegram, ann)
    customer.says("/start", expect="full name")
    customer.says("Ann Lee", expect="company")
    customer.says("Acme Corp", expect="product")
    customer.says("Widgets", expect="region")
    customer.presses("EMEA", expect="budget")
    customer.says("120k", expect="phone number")
    customer.presses(SHARE, expect="Thank you, Ann!")


def test_a_qualified_intake_form_yields_one_opportunity_across_a_restart(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)

    def start() -> None:
        embedded.run("run", **{
            **salesforce.env(), "TELECASE_POLICY_FILE": str(policy),
            "TELECASE_INTAKE_TOPIC_CHAT_ID": str(team["id"]),
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url,
            "TELECASE_SALESFORCE_OPPORTUNITIES": "true",
            "TELECASE_SALESFORCE_OPPORTUNITY_MIN_DEAL_SIZE": "50000"})
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)

    try:
        team, agent, ann = telegram.drive(deal_people)
        embedded.agent_ids = str(agent["id"])
        start()
        fill_a_qualified_form(telegram, ann)

        [deal] = wait_for(lambda: salesforce.records("Opportunity"), 90,
                          what="the Opportunity")
        [lead] = salesforce.records("Lead")
        assert lead["IsConverted"]
        assert (deal["StageName"], deal["Amount"], deal["AccountId"], deal["ContactId"]) == (
            "Qualification", 120000, lead["ConvertedAccountId"], lead["ConvertedContactId"])
        assert deal["Name"] == "Acme Corp: Widgets (Ann Lee)"
        ticket = deal["Telecase_Ticket_Id__c"]
        assert ticket.startswith(f"tg:{ann['id']}:p:")
        [case] = wait_for(lambda: [c for c in salesforce.records("Case")
                                   if c["ContactId"] == lead["ConvertedContactId"]], 30,
                          what="the Case pointing at the Contact the Lead became")
        assert case["AccountId"] == lead["ConvertedAccountId"]

        events = embedded.names.ticket_events
        wait_for(lambda: embedded.position(GROUP, events) == len(embedded.read_topic(events)),
                 30, what="the deals runner caught up")
        embedded.stop_all()  # the restart
        start()

        [topic] = wait_for(lambda: telegram.drive(lambda tg: tg.topics(team["id"])), 60,
                           what="the intake topic")
        telegram.drive(lambda tg: tg.write(team["id"], agent["id"], "Hi Ann, a quote is on "
                                           "its way.", topic["message_thread_id"]))
        wait_for(lambda: [m for m in _bot_said(telegram, ann["id"])
                          if "a quote is on its way" in m["text"]], 60,
                 what="the agent's answer reaching Ann")
        wait_for(lambda: [d["StageName"] for d in salesforce.records("Opportunity")]
                 == ["Needs Analysis"], 60, what="the stage following the reply")
        wait_for(lambda: embedded.position(GROUP, events) == len(embedded.read_topic(events)),
                 30, what="the deals runner caught up again")
        assert [d["Telecase_Ticket_Id__c"] for d in salesforce.records("Opportunity")] == [
            ticket]

        # Ann writes again: her message attaches to the Contact, no Lead is made or updated
        telegram.drive(lambda tg: tg.write(ann["id"], ann["id"], "Any discount for 200?"))
        [task] = wait_for(lambda: [t for t in salesforce.records("Task")
                                   if t["Description"] == "Any discount for 200?"], 60,
                          what="Ann's later message on the Case")
        assert task["WhoId"] == lead["ConvertedContactId"]
        assert len(salesforce.records("Lead")) == 1
        assert len(salesforce.records("Account")) == 1
        assert len(salesforce.records("Contact")) == 1
        assert embedded.read_topic(embedded.names.dead_letters) == []
    finally:
        salesforce.close()
