"""Issue 16 item 5 across a restart, on the embedded runtime through the webhook: ``telecase
run`` restarted while a topic an agent opened waits for its customer still holds it (the
Salesforce sync rebuilds its hold from the log), so the customer's first message makes the
Case with the Contact, and nothing is dead-lettered: no ``deadletter retry`` needed."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.embedded.test_team_and_private_topics import (
    _row,
    _start,
    open_by_hand,
    team_forum,
)
from tests.e2e.kafka.conftest import SalesforceThread
from tests.infra import wait_for


def test_a_restart_while_a_topic_waits_for_its_customer(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        agent, ann, forum = team_forum(telegram)
        env = {"TELECASE_TELEGRAM_AGENT_IDS": str(agent["id"])}
        _start(embedded, telegram, salesforce, **env)

        thread = open_by_hand(telegram, forum, agent)
        ticket = f"tg:{forum['id']}:t{thread}"
        wait_for(lambda: _row(embedded, ticket, agent_reply_count=1), 30,
                 what="the agent's topic as a ticket")
        events = embedded.names.ticket_events
        wait_for(lambda: embedded.position("salesforce-sync", events)
                 == len(embedded.read_topic(events)), 30,
                 what="the sync past the held events")
        embedded.stop_all()  # the restart, while the ticket waits for Ann

        _start(embedded, telegram, salesforce, **env)
        telegram.drive(lambda tg: tg.write(forum["id"], ann["id"], "Yes, renew please",
                                           thread))
        [case] = wait_for(lambda: [c for c in salesforce.records("Case")
                                   if c.get("ContactId")], 60, what="the Case with a Contact")
        [contact] = salesforce.records("Contact")
        assert case["Telecase_Ticket_Id__c"] == ticket and case["ContactId"] == contact["Id"]
        assert contact["Telegram_User_Id__c"] == str(ann["id"])
        wait_for(lambda: [c for c in salesforce.records("CaseComment")
                          if "your renewal is due" in (c.get("CommentBody") or "")], 30,
                 what="the agent's opening message as a CaseComment")
        wait_for(lambda: embedded.position("salesforce-sync", events)
                 == len(embedded.read_topic(events)), 30, what="the sync caught up")
        time.sleep(1)
        assert embedded.read_topic(embedded.names.dead_letters) == []
        assert len(salesforce.records("Case")) == 1
    finally:
        salesforce.close()
