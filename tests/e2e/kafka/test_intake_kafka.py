"""The bot intake form on Kafka, where its code differs from the embedded runtime: the
worker carries an agent's message in the intake topic from the team group's partition to the
ticket's (``ticket.commands``, Kafka's partitioner), and ticks form timeouts without an SLA
policy's help; the intake messenger runs inside ``telecase connector telegram-out``. Same
scenario as ``tests/e2e/embedded/test_intake_run.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.embedded.test_intake_run import intake_scenario
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, SimulatorThread

pytestmark = pytest.mark.integration


def test_a_completed_form_on_kafka(deployment: Deployment, telegram: SimulatorThread,
                                   salesforce: SalesforceThread, tmp_path: Path) -> None:
    dep = deployment

    def start(env: dict[str, str]) -> None:
        dep.webhook()
        dep.start("worker", "worker", **env)
        dep.projector()
        dep.start("salesforce", "connector", "salesforce", **env)
        dep.start("telegram-out", "connector", "telegram-out", **env)

    intake_scenario(dep, telegram, salesforce, tmp_path, start)
