"""Reconciliation inside ``telecase run``: an agent closes and re-owns the Case while the
poller is not looking (its interval is an hour), and the periodic reconciliation repairs the
ticket with explicit correction events; ``telecase reconcile --dry-run`` beside the running
process then reports no drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.infra import ROOT, wait_for
from tests.integration.conftest import SalesforceThread, salesforce_scenario
from tests.integration.test_ticket_pipeline import ticket_log


def test_drift_the_poller_missed_is_found_and_repaired(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    env = {**salesforce.env(), "TELECASE_SALESFORCE_POLL_INTERVAL": "3600",
           "TELECASE_RECONCILE_INTERVAL": "1"}
    try:
        embedded.run("run", **env)
        where = salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                                    embedded.webhook_secret)
        case = where["case"]
        wait_for(lambda: [r["salesforce_case_id"] for r in embedded.cases()] == [case["Id"]],
                 60, what="the Case linked back")
        agent = salesforce.act(lambda d: d.create_user("Dana Agent"))
        salesforce.act(lambda d: d.set_case_owner(case["Id"], agent["Id"],
                                                  user_id=agent["Id"]))
        salesforce.act(lambda d: d.set_case_status(case["Id"], "Closed", user_id=agent["Id"]))
        wait_for(lambda: [(r["status"], r["owner_id"]) for r in embedded.cases()]
                 == [("closed", agent["Id"])], 60, what="the drift repaired")
        [events] = ticket_log(embedded).values()
        repaired = [e for e in events if e.type in ("case.status_changed", "case.owner_changed")]
        assert {e.type for e in repaired} == {"case.status_changed", "case.owner_changed"}
        assert all((e.source.change_id or "").startswith("reconcile:") for e in repaired)
        assert all(e.actor.id == agent["Id"] for e in repaired)  # who really did it

        dry = subprocess.run([sys.executable, "-m", "telecase", "reconcile", "--dry-run",
                              "--json", "--runtime", "embedded"], cwd=ROOT, text=True,
                             capture_output=True, timeout=120,
                             env={**os.environ, **embedded.env(**env)})
        assert dry.returncode == 0, dry.stderr
        report = json.loads(dry.stdout)
        assert (report["tickets"], report["cases"], report["drifts"]) == (1, 1, {})
    finally:
        salesforce.close()
