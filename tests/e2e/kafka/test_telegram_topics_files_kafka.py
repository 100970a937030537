"""Issue 16 items 6 and 8 on Kafka, the embedded runtime's scenarios against the real broker:
each topic of a private chat in topic mode is its own ticket and an agent's CaseComment goes
into its topic; an agent's File on the Case reaches the customer's topic (the change poller in
``telecase connector salesforce``, the worker, the reply mirror in ``telecase connector
telegram-out`` reading the bytes from Salesforce)."""

from __future__ import annotations

import pytest

from tests.e2e.embedded.test_agent_files_run import agent_file_scenario
from tests.e2e.embedded.test_team_and_private_topics import private_topics_scenario
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread

pytestmark = pytest.mark.integration


def _processes(dep: Deployment, telegram: SimulatorThread,
               salesforce: SalesforceThread) -> None:
    env = {"TELECASE_SALESFORCE_POLL_INTERVAL": "0.5",
           "TELECASE_TELEGRAM_API_BASE": telegram.base_url, **salesforce.env()}
    dep.webhook()
    dep.worker()
    dep.projector()
    dep.start("salesforce", "connector", "salesforce", **env)
    dep.start("telegram-out", "connector", "telegram-out", **env)


def test_each_private_topic_is_a_ticket_and_replies_go_into_it_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    _processes(deployment, telegram, salesforce)
    private_topics_scenario(telegram, salesforce, deployment.webhook_url,
                            deployment.webhook_secret, deployment.cases)


def test_an_agents_file_on_the_case_reaches_the_topic_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    _processes(deployment, telegram, salesforce)
    agent_file_scenario(telegram, salesforce, deployment.webhook_url, deployment.webhook_secret)
