"""Deals on Kafka (issue 17 item 4): a bot intake form whose deal size passes the threshold
yields exactly one Opportunity, its Lead converted once and the Case then pointing at the
Contact and Account the Lead became, across a kill -9 of ``telecase connector salesforce``
right after the Opportunity was written (its position maybe not committed) and a retry
through a Salesforce outage (the stage following the agent's reply once the org is back)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.embedded.test_intake_run import POLICY, _bot_said
from tests.e2e.embedded.test_opportunity_run import deal_people, fill_a_qualified_form
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread
from tests.infra import wait_for

pytestmark = pytest.mark.integration


def test_a_qualified_form_yields_one_opportunity_across_a_restart_and_a_retry(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    dep = deployment
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)

    team, agent, ann = telegram.drive(deal_people)
    dep.agent_ids = str(agent["id"])
    env = {**salesforce.env(), "TELECASE_POLICY_FILE": str(policy),
           "TELECASE_INTAKE_TOPIC_CHAT_ID": str(team["id"]),
           "TELECASE_TELEGRAM_API_BASE": telegram.base_url,
           "TELECASE_SALESFORCE_OPPORTUNITIES": "true",
           "TELECASE_SALESFORCE_OPPORTUNITY_MIN_DEAL_SIZE": "50000",
           "TELECASE_SALESFORCE_SYNC_MAX_BACKOFF": "2"}
    dep.webhook()
    dep.worker(**env)
    connector = dep.start("salesforce", "connector", "salesforce", **env)
    dep.start("telegram-out", "connector", "telegram-out", **env)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)

    fill_a_qualified_form(telegram, ann)

    [deal] = wait_for(lambda: salesforce.records("Opportunity"), 120, what="the Opportunity")
    connector.kill()  # SIGKILL right after the write: the batch may come again
    [lead] = salesforce.records("Lead")
    assert lead["IsConverted"] and deal["StageName"] == "Qualification"
    assert (deal["AccountId"], deal["ContactId"]) == (lead["ConvertedAccountId"],
                                                      lead["ConvertedContactId"])

    dep.start("salesforce-again", "connector", "salesforce", **env)
    [topic] = wait_for(lambda: telegram.drive(lambda tg: tg.topics(team["id"])), 60,
                       what="the intake topic")
    salesforce.act(lambda driver: driver.start_outage())  # every API call fails until cleared
    telegram.drive(lambda tg: tg.write(team["id"], agent["id"], "Hi Ann, a quote is on its "
                                       "way.", topic["message_thread_id"]))
    wait_for(lambda: [m for m in _bot_said(telegram, ann["id"])
                      if "a quote is on its way" in m["text"]], 60,
             what="the agent's answer reaching Ann")
    time.sleep(5)  # the deals runner tries the new stage and waits
    assert [d["StageName"] for d in salesforce.records("Opportunity")] == ["Qualification"]
    salesforce.act(lambda driver: driver.clear_faults())
    wait_for(lambda: [d["StageName"] for d in salesforce.records("Opportunity")]
             == ["Needs Analysis"], 120, what="the stage following the reply, on a retry")
    [case] = wait_for(lambda: [c for c in salesforce.records("Case")
                               if c["ContactId"] == lead["ConvertedContactId"]], 60,
                      what="the Case pointing at the Contact")
    assert case["AccountId"] == lead["ConvertedAccountId"]
    time.sleep(3)  # a second Opportunity, Account or Contact would show up now
    assert [d["Id"] for d in salesforce.records("Opportunity")] == [deal["Id"]]
    assert len(salesforce.records("Lead")) == 1
    assert len(salesforce.records("Account")) == 1
    assert len(salesforce.records("Contact")) == 1
