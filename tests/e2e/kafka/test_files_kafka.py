"""Customers' files on Kafka (issue 16 item 6): the file connector inside ``telecase connector
salesforce`` attaches a photo and a PDF to the Case as Files, and links a file over the limit;
a restart of the connector with every update redelivered attaches nothing twice."""

from __future__ import annotations

import time

import pytest

from tests.e2e.embedded.test_files_run import files_scenario, redeliver_everything
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread

pytestmark = pytest.mark.integration


def test_customer_files_reach_the_case_once_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.webhook()
    dep.worker()
    env = {"TELECASE_TELEGRAM_API_BASE": telegram.base_url, "TELECASE_FILES_MAX_BYTES": "2000",
           **salesforce.env()}
    connector = dep.start("salesforce", "connector", "salesforce", **env)
    files_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
    connector.stop()
    dep.start("salesforce-again", "connector", "salesforce", **env)
    redeliver_everything(telegram)
    time.sleep(5)
    assert len(salesforce.records("ContentVersion")) == 3
