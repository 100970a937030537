"""The bot intake form and the pilot rollout end to end: ``telecase run`` (the embedded
runtime) between the Telegram simulator's HTTP API, where people write and press buttons, and
the Salesforce simulator.

- completed, with a correction midway (``/back`` then a new company), a bad region asked
  again, someone else's contact refused: the Lead carries the final answers, the ticket opened
  at the tier its deal size selects, a topic in the team's group shows the summary, and an
  agent's answer there reaches the customer's private chat (and the customer's next message
  the topic);
- abandoned by ``/cancel`` and by the timeout: nothing opened anywhere, both recorded;
- a group outside the pilot's allowlist opens nothing while a pilot group does.
"""

from __future__ import annotations

from collections.abc import Callable
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

[sla.tiers.enterprise]
team = "desk"
first_response = "30m"
resolution = "8h"

[[sla.rules]]
name = "intake-big-deal"
channel = "private_chat"
min_deal_size = 100000
tier = "enterprise"
"""
SHARE = "📱 Share my phone number"


def _bot_said(telegram: SimulatorThread, chat_id: int) -> list[dict[str, Any]]:
    return list(telegram.drive(lambda tg: tg.sent_messages(chat_id)))


class Customer:
    """A prospect talking to the bot, who waits for each answer like a person would."""

    def __init__(self, telegram: SimulatorThread, user: dict[str, Any]) -> None:
        self.telegram, self.user = telegram, user
        self.chat = int(user["id"])
        self.seen = 0

    def says(self, text: str, *, expect: str) -> str:
        self.telegram.drive(lambda tg: tg.write(self.chat, self.chat, text))
        return self._await(expect)

    def presses(self, button: str, *, expect: str) -> str:
        self.telegram.drive(lambda tg: tg.press_button(self.chat, self.chat, button))
        return self._await(expect)

    def shares(self, contact_of: int, *, expect: str) -> str:
        self.telegram.drive(lambda tg: tg.share_contact(self.chat, self.chat,
                                                        contact_user_id=contact_of))
        return self._await(expect)

    def _await(self, expect: str) -> str:
        def answered() -> str | None:
            said = _bot_said(self.telegram, self.chat)[self.seen:]
            return next((m["text"] for m in said if expect in m["text"]), None)

        text = str(wait_for(answered, 60, what=f"the bot to say {expect!r}"))
        self.seen = len(_bot_said(self.telegram, self.chat))
        return text


def test_a_completed_form_makes_a_lead_a_ticket_at_its_tier_and_a_topic(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        intake_scenario(embedded, telegram, salesforce, tmp_path,
                        lambda env: embedded.run("run", **env))
    finally:
        salesforce.close()


def intake_scenario(dep: Any, telegram: SimulatorThread, salesforce: SalesforceThread,
                    tmp_path: Path, start: Callable[[dict[str, str]], object]) -> None:
    """The completed-form scenario every runtime must pass: ``start(env)`` starts telecase
    with ``env`` added (after ``dep.agent_ids`` is set); ``dep`` has ``webhook_url``,
    ``webhook_secret``, ``names``, ``cases()`` and ``read_topic(name)``."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)

    async def people(tg: Any) -> tuple[dict[str, Any], ...]:
        team = await tg.create_forum("Sales team")
        agent = await tg.create_user("Alex", username="alex_sales")
        ann = await tg.create_user("Ann", username="ann", phone="+1 555 0100",
                                   last_name="Lee")
        bob = await tg.create_user("Bob", phone="+44 20 7946 0000")
        await tg.create_private_chat(ann["id"])
        return team, agent, ann, bob

    team, agent, ann, bob = telegram.drive(people)
    dep.agent_ids = str(agent["id"])
    start({**salesforce.env(), "TELECASE_POLICY_FILE": str(policy),
           "TELECASE_INTAKE_TOPIC_CHAT_ID": str(team["id"]),
           "TELECASE_TELEGRAM_API_BASE": telegram.base_url})
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    customer = Customer(telegram, ann)
    customer.says("/start", expect="full name")
    customer.says("Ann Lee", expect="company")
    customer.says("Acme", expect="product")
    back = customer.says("/back", expect="company")  # corrected midway
    assert "Your answer so far: Acme" in back
    customer.says("Acme Corp", expect="product")
    customer.says("Widgets", expect="region")
    again = customer.says("Mars", expect="region")
    assert "Please pick one of: EMEA, Americas, APAC." in again
    customer.presses("EMEA", expect="budget")
    customer.says("120k", expect="phone number")
    keyboard = telegram.drive(lambda tg: tg.reply_keyboard(ann["id"]))
    assert {"text": SHARE, "request_contact": True} in keyboard["keyboard"][0]
    customer.shares(bob["id"], expect="someone else's contact")
    closing = customer.presses(SHARE, expect="Thank you, Ann!")
    assert telegram.drive(lambda tg: tg.reply_keyboard(ann["id"])) is None  # removed

    [lead] = wait_for(lambda: salesforce.records("Lead"), 90, what="the Lead")
    assert (lead["FirstName"], lead["LastName"], lead["Company"]) == ("Ann", "Lee", "Acme Corp")
    assert lead["MobilePhone"] == "+15550100"
    assert (lead["Telecase_Region__c"], lead["Telecase_Product_Interest__c"]) == (
        "EMEA", "Widgets")
    assert float(lead["Telecase_Deal_Size__c"]) == 120000
    assert lead["Telegram_User_Id__c"] == str(ann["id"])
    [case] = wait_for(lambda: salesforce.records("Case"), 60, what="the Case")
    assert case["Telecase_Lead__c"] == lead["Id"] and not case.get("ContactId")
    assert "Company: Acme Corp" in case["Description"]
    assert not salesforce.records("Contact")
    [row] = wait_for(lambda: [r for r in dep.cases() if r["sla_tier"]], 60,
                     what="the ticket's SLA tier")
    assert (row["sla_tier"], row["channel"]) == ("enterprise", "private_chat")
    assert row["ticket_id"] in closing and row["subject"] == "Acme Corp: Widgets (Ann Lee)"

    [topic] = wait_for(lambda: telegram.drive(lambda tg: tg.topics(team["id"])), 60,
                       what="the intake topic")
    assert topic["name"] == "Acme Corp · Ann Lee"
    summary = wait_for(lambda: [m for m in _bot_said(telegram, team["id"])
                                if "Deal size: 120,000" in m["text"]], 60,
                       what="the summary in the topic")
    assert summary[0]["message_thread_id"] == topic["message_thread_id"]

    thread = topic["message_thread_id"]
    telegram.drive(lambda tg: tg.write(team["id"], agent["id"], "Hi Ann, a quote is on "
                                       "its way.", thread))
    telegram.drive(lambda tg: tg.write(team["id"], agent["id"], "/note not for Ann", thread))
    reply = wait_for(lambda: [m for m in _bot_said(telegram, ann["id"])
                              if "a quote is on its way" in m["text"]], 60,
                     what="the agent's answer in the customer's private chat")
    assert reply[0]["text"].startswith("@alex_sales:")
    telegram.drive(lambda tg: tg.write(ann["id"], ann["id"], "Great, thanks!"))
    wait_for(lambda: [m for m in _bot_said(telegram, team["id"])
                      if "Great, thanks!" in m["text"] and m["message_thread_id"] == thread],
             60, what="the customer's message copied into the topic")
    wait_for(lambda: [(r["agent_reply_count"], r["message_count"]) for r in dep.cases()]
             == [(1, 1)], 60, what="the reply on the ticket")
    comments = wait_for(lambda: salesforce.records("CaseComment"), 60,
                        what="the agent's answer as a CaseComment")
    assert "a quote is on its way" in comments[0]["CommentBody"]
    assert not [m for m in _bot_said(telegram, ann["id"]) if "not for Ann" in m["text"]]

    log = ticket_log(dep)
    form = log[f"tg:{ann['id']}:p:intake:1"]
    answered = [(e.field, e.value) for e in form if e.type == "intake.answered"]
    assert ("company", "Acme") in answered and ("company", "Acme Corp") in answered
    assert form[-1].type == "intake.completed"
    assert [e.type for e in log[row["ticket_id"]]][:2] == ["ticket.opened", "sla.started"]
    assert "intake.topic_opened" in [e.type for e in log[row["ticket_id"]]]
    # each question went out once
    asked = [e for e in form if e.type == "intake.question_asked"]
    assert len(_bot_said(telegram, ann["id"])) == len(asked) + 2  # + closing + reply


def test_abandoned_forms_open_nothing_and_only_pilot_groups_open_tickets(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")

    async def people(tg: Any) -> tuple[dict[str, Any], ...]:
        pilot = await tg.create_forum("Pilot customers")
        other = await tg.create_forum("Not yet")
        cy = await tg.create_user("Cy", phone="+15550111")
        di = await tg.create_user("Di", phone="+15550122")
        return pilot, other, cy, di

    pilot, other, cy, di = telegram.drive(people)
    try:
        embedded.run("run", **salesforce.env(), TELECASE_INTAKE_TIMEOUT="3",
                     TELECASE_PILOT_CHATS=str(pilot["id"]),
                     TELECASE_TELEGRAM_API_BASE=telegram.base_url)
        telegram.bot_api("setWebhook", url=embedded.webhook_url,
                         secret_token=embedded.webhook_secret)
        cancelling = Customer(telegram, cy)
        cancelling.says("/start", expect="full name")
        cancelling.says("Cy Young", expect="company")
        cancelling.presses("✖ Cancel", expect="Cancelled: nothing was sent.")
        leaving = Customer(telegram, di)
        leaving.says("/start", expect="full name")
        leaving.says("Di Prince", expect="company")
        leaving._await("I closed this form after 3 seconds")  # the timeout, from the clock

        async def forums(tg: Any) -> None:
            for forum in (other, pilot):
                topic = await tg.open_topic(forum["id"], cy["id"], "Pricing")
                await tg.write(forum["id"], cy["id"], "How much?", topic.thread_id)

        telegram.drive(forums)
        wait_for(lambda: [r["chat_id"] for r in embedded.cases()] == [pilot["id"]], 60,
                 what="a ticket in the pilot group only")
        wait_for(lambda: len(salesforce.records("Case")) == 1, 60, what="the pilot's Case")
        assert not salesforce.records("Lead")
        log = ticket_log(embedded)
        endings = {t: events[-1] for t, events in log.items() if ":intake:" in t}
        assert {e.type for e in endings.values()} == {"intake.abandoned"}
        assert sorted(e.reason for e in endings.values()) == ["cancelled", "timed_out"]
        assert not [t for t in log if t.startswith((f"tg:{cy['id']}:p:", f"tg:{di['id']}:p:"))
                    and ":intake:" not in t]
        raw = embedded.read_topic(embedded.names.telegram_updates)
        assert any(str(other["id"]) in r.value.decode() for r in raw)  # kept raw
    finally:
        salesforce.close()
