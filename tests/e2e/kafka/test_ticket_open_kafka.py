"""``telecase ticket open`` and outreach from Salesforce on Kafka: the request is appended to
the cluster's ``ticket.commands`` (keyed by its chat, Kafka's partitioner) and decided by the
Faust worker; the reply mirror (``telecase connector telegram-out``) sends the agent's first
message; Salesforce outreach runs inside ``telecase connector salesforce``. Same scenarios as
``tests/e2e/embedded/test_ticket_open.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.embedded.test_ticket_open import outreach_scenario, salesforce_outreach_scenario
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread

pytestmark = pytest.mark.integration


def processes(dep: Deployment) -> Callable[[dict[str, str]], None]:
    """Starts the Kafka processes an outreach needs, with ``env`` added."""
    def start(env: dict[str, str]) -> None:
        dep.webhook()
        dep.start("worker", "worker", **env)
        dep.projector()
        dep.start("salesforce", "connector", "salesforce", **env)
        dep.start("telegram-out", "connector", "telegram-out", **env)

    return start


def test_outreach_and_manual_tickets_on_kafka(deployment: Deployment,
                                              telegram: SimulatorThread,
                                              salesforce: SalesforceThread,
                                              tmp_path: Path) -> None:
    outreach_scenario(deployment, telegram, salesforce, tmp_path, processes(deployment))


def test_a_case_marked_for_telegram_on_kafka(deployment: Deployment, telegram: SimulatorThread,
                                             salesforce: SalesforceThread) -> None:
    salesforce_outreach_scenario(deployment, telegram, salesforce, processes(deployment))
