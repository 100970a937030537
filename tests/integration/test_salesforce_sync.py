"""Telegram topic → Kafka → worker → ``telecase connector salesforce`` → a Case in the
Salesforce simulator, through the unmodified simple-salesforce client; and back: an agent's
CaseComment → ``salesforce.changes`` → worker → ``telecase connector telegram-out`` → the
customer's topic."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    Deployment,
    SalesforceThread,
    SimulatorThread,
    agent_reply_scenario,
    outage_scenario,
    salesforce_scenario,
)
from tests.integration.test_ticket_pipeline import enrol_agent

pytestmark = pytest.mark.integration


def test_a_topic_becomes_one_case_with_contact_and_tasks_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.webhook()
    dep.worker()
    dep.start("salesforce", "connector", "salesforce", **salesforce.env())
    salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)


def test_an_agents_case_comment_reaches_the_customers_topic_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.agent_ids = str(enrol_agent(telegram))
    dep.webhook()
    dep.worker()
    dep.projector()
    fast = {"TELECASE_SALESFORCE_POLL_INTERVAL": "0.5",
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    dep.start("salesforce", "connector", "salesforce", **salesforce.env(), **fast)
    dep.start("telegram-out", "connector", "telegram-out", **fast)
    where = salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
    agent_reply_scenario(telegram, salesforce, where, dep.cases, int(dep.agent_ids))


def test_a_salesforce_outage_keeps_the_backlog_and_it_drains_once_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.webhook()
    dep.worker()
    fast = {"TELECASE_SALESFORCE_POLL_INTERVAL": "0.5",
            "TELECASE_SALESFORCE_SYNC_MAX_BACKOFF": "2",
            "TELECASE_SALESFORCE_POLL_MAX_BACKOFF": "2",
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    dep.start("salesforce", "connector", "salesforce", **salesforce.env(), **fast)
    dep.start("telegram-out", "connector", "telegram-out", **fast)
    where = salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
    outage_scenario(telegram, salesforce, where)
