"""Telegram topic → Kafka → worker → ``telecase connector salesforce`` → a Case in the
Salesforce simulator, through the unmodified simple-salesforce client."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    Deployment,
    SalesforceThread,
    SimulatorThread,
    salesforce_scenario,
)

pytestmark = pytest.mark.integration


def test_a_topic_becomes_one_case_with_contact_and_tasks_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.webhook()
    dep.worker()
    dep.start("salesforce", "connector", "salesforce", **salesforce.env())
    salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
