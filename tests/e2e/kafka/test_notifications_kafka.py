"""Deadline notifications on Kafka (issue 17 item 2): ``telecase connector salesforce`` with
``TELECASE_SALESFORCE_NOTIFICATIONS`` rings the Case owner's bell once for the warning, the
breach and the escalation of a ticket, across a kill -9 of the worker holding the ticket's
timers (another fires the breach) and a kill -9 of the connector right after the breach's
notification (its position maybe not committed: the ledger in PostgreSQL stops a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.embedded.test_salesforce_notifications import (
    assert_each_rang_once_for_the_owner,
    kinds,
    notifying_org,
)
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread
from tests.e2e.kafka.test_sla_timers_kafka import write_in_private_chats
from tests.infra import wait_for

pytestmark = pytest.mark.integration


def test_a_breach_notifies_the_owner_once_across_restarts_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread,
        tmp_path: Path) -> None:
    dep = deployment
    env = notifying_org(salesforce, telegram, tmp_path)
    dep.webhook()
    worker = dep.worker(**env)
    connector = dep.start("salesforce", "connector", "salesforce", **env)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    write_in_private_chats(telegram, 1)

    wait_for(lambda: kinds(salesforce)["SLA warning"] == 1, 90, what="the warning's bell")
    worker.kill()  # the breach (due 4 s after the warning) is left to the next worker
    dep.worker("worker2", **env)
    wait_for(lambda: kinds(salesforce)["SLA breached"] == 1, 90, what="the breach's bell")
    connector.kill()  # SIGKILL: maybe before its position was committed
    dep.start("salesforce-again", "connector", "salesforce", **env)
    wait_for(lambda: kinds(salesforce)["SLA escalation level 1 (queue_manager)"] == 1, 90,
             what="the escalation's bell")
    assert_each_rang_once_for_the_owner(salesforce)
