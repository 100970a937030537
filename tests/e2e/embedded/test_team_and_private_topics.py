"""Issue 16 items 5 and 8 on the embedded runtime, through the webhook with both simulators.

- A topic an agent (on ``TELECASE_TELEGRAM_AGENT_IDS``) opens by hand in the forum waits for
  its customer: the ticket has no customer, shows as outreach on the dashboard, and no Case
  or Contact exists in Salesforce until the customer writes; then the customer, the Contact
  and the Case (with the agent's opening message as a CaseComment) follow.
- A private chat in topic mode (Bot API 9.3): each private topic is its own ticket
  ``tg:<chat>:pt<thread>``, and an agent's CaseComment is sent into that topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from projections.dashboard_queries import waiting_for_customer
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.infra import wait_for


def _start(embedded: EmbeddedDeployment, telegram: SimulatorThread,
           salesforce: SalesforceThread, **env: str) -> None:
    embedded.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                 TELECASE_INTAKE_COMMAND="/nothing-here", **salesforce.env(), **env)
    telegram.bot_api("setWebhook", url=embedded.webhook_url,
                     secret_token=embedded.webhook_secret)


def team_forum(telegram: SimulatorThread) -> tuple[dict[str, Any], ...]:
    """An agent (Alex), a customer (Ann) and the team's forum."""
    async def people(tg: Any) -> tuple[dict[str, Any], ...]:
        return (await tg.create_user("Alex", username="alex_sales"),
                await tg.create_user("Ann", username="ann"), await tg.create_forum("Sales"))
    return telegram.drive(people)


def open_by_hand(telegram: SimulatorThread, forum: dict[str, Any],
                 agent: dict[str, Any]) -> int:
    """The agent opens a topic for Ann and writes in it; its thread id."""
    async def opening(tg: Any) -> int:
        topic = await tg.open_topic(forum["id"], agent["id"], "Your renewal, Ann")
        await tg.write(forum["id"], agent["id"], "Hi Ann, your renewal is due.",
                       topic.thread_id)
        return int(topic.thread_id)
    return telegram.drive(opening)


def row_of(cases: Callable[[], list[dict[str, Any]]], ticket_id: str,
           **want: Any) -> dict[str, Any] | None:
    """The projected ticket ``ticket_id`` once it has the values ``want``."""
    return next((r for r in cases() if r["ticket_id"] == ticket_id
                 and all(r[k] == v for k, v in want.items())), None)


def _row(embedded: EmbeddedDeployment, ticket_id: str, **want: Any) -> dict[str, Any] | None:
    return row_of(embedded.cases, ticket_id, **want)


def test_a_topic_an_agent_opens_waits_for_its_customer(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        agent, ann, forum = team_forum(telegram)
        _start(embedded, telegram, salesforce, TELECASE_TELEGRAM_AGENT_IDS=str(agent["id"]))

        thread = open_by_hand(telegram, forum, agent)
        ticket = f"tg:{forum['id']}:t{thread}"
        row = wait_for(lambda: _row(embedded, ticket, agent_reply_count=1), 30,
                       what="the agent's topic as a ticket with the agent's message")
        assert row["customer_telegram_id"] is None and row["message_count"] == 0
        assert waiting_for_customer(row)  # the dashboard shows it as outreach
        time.sleep(4)  # the sync has had its chances: nothing without a customer
        assert salesforce.records("Case") == [] and salesforce.records("Contact") == []

        telegram.drive(lambda tg: tg.write(forum["id"], ann["id"], "Yes, renew please",
                                           thread))
        row = wait_for(lambda: _row(embedded, ticket, customer_telegram_id=ann["id"]), 30,
                       what="Ann as the ticket's customer")
        assert not waiting_for_customer(row)
        [case] = wait_for(lambda: [c for c in salesforce.records("Case")
                                   if c.get("ContactId")], 60, what="the Case with a Contact")
        [contact] = salesforce.records("Contact")
        assert case["Telecase_Ticket_Id__c"] == ticket and case["ContactId"] == contact["Id"]
        assert contact["Telegram_User_Id__c"] == str(ann["id"])
        assert case["Subject"] == "Your renewal, Ann"
        wait_for(lambda: [c for c in salesforce.records("CaseComment")
                          if "your renewal is due" in (c.get("CommentBody") or "")], 60,
                 what="the agent's opening message as a CaseComment")
    finally:
        salesforce.close()


def private_topics_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                            webhook_url: str, webhook_secret: str,
                            cases: Callable[[], list[dict[str, Any]]]) -> None:
    """Ann writes in two topics of her private chat with the bot: two tickets
    ``tg:<chat>:pt<thread>``; an agent's CaseComment on one goes into that topic."""
    async def setup(tg: Any) -> tuple[dict[str, Any], int, int]:
        await tg.set_private_topics()
        ann = await tg.create_user("Ann", username="ann")
        await tg.create_private_chat(ann["id"])
        return ann, (await tg.open_topic(ann["id"], ann["id"], "Billing")).thread_id, \
            (await tg.open_topic(ann["id"], ann["id"], "Setup")).thread_id
    ann, billing, setup = telegram.drive(setup)
    telegram.bot_api("setWebhook", url=webhook_url, secret_token=webhook_secret)
    telegram.drive(lambda tg: tg.write(ann["id"], ann["id"], "Where is my invoice?", billing))
    telegram.drive(lambda tg: tg.write(ann["id"], ann["id"], "How do I install?", setup))
    for thread, subject in ((billing, "Billing"), (setup, "Setup")):
        row = wait_for(lambda t=thread: row_of(cases, f"tg:{ann['id']}:pt{t}",
                                               message_count=1), 30,
                       what=f"the {subject} topic's ticket")
        assert (row["subject"], row["thread_id"]) == (subject, thread)
    case = wait_for(lambda: next((c for c in salesforce.records("Case")
                                  if c["Telecase_Ticket_Id__c"]
                                  == f"tg:{ann['id']}:pt{billing}"), None), 60,
                    what="the Billing ticket's Case")
    agent = salesforce.act(lambda d: d.create_user("Dana Agent"))
    salesforce.act(lambda d: d.post_case_comment(case["Id"], "Sent it again just now.",
                                                 user_id=agent["Id"]))

    def sent() -> list[dict[str, Any]]:
        return [m for m in telegram.drive(lambda tg: tg.sent_messages(ann["id"]))
                if "Sent it again just now." in (m.get("text") or "")]
    [reply] = wait_for(sent, 60, what="the agent's reply in Ann's Billing topic")
    assert (reply["message_thread_id"], reply["is_topic_message"]) == (billing, True)


def test_each_private_topic_is_a_ticket_and_replies_go_into_it(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        _start(embedded, telegram, salesforce)
        private_topics_scenario(telegram, salesforce, embedded.webhook_url,
                                embedded.webhook_secret, embedded.cases)
    finally:
        salesforce.close()
