"""Reconciliation inside ``telecase run``: the ticket's forum topic is deleted in Telegram
(which sends no update for that), and the periodic reconciliation records it once; an
agent sets the Case's status to "Working" (a value telecase itself writes on reopening), then
closes and re-owns it, while the poller is not looking (its interval is an hour), and the
periodic reconciliation repairs the ticket each time with explicit correction events, the
agent as their actor; ``telecase reconcile --dry-run`` beside the running process then reports
no drift. Once ``telecase run`` is stopped, an agent's "On Hold" is what a dry run says it
would correct (table and JSON) and what ``telecase reconcile`` corrects, once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread, salesforce_scenario
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import ROOT, wait_for


def test_drift_the_poller_missed_is_found_and_repaired(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    env = {**salesforce.env(), "TELECASE_SALESFORCE_POLL_INTERVAL": "3600",
           "TELECASE_RECONCILE_INTERVAL": "1", "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    try:
        run = embedded.run("run", **env)
        where = salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                                    embedded.webhook_secret)
        case = where["case"]
        wait_for(lambda: [r["salesforce_case_id"] for r in embedded.cases()] == [case["Id"]],
                 60, what="the Case linked back")
        # Telegram sends no update when a topic is deleted: only reconciliation can see it
        telegram.drive(lambda tg: tg.delete_topic(where["forum_id"], where["thread_id"],
                                                  where["customer_id"]))

        def reconciled() -> list[Any]:
            [ticket_events] = ticket_log(embedded).values()
            return [e for e in ticket_events if e.type == "topic.reconciled"]

        wait_for(lambda: len(reconciled()) == 1, 60, what="the deleted topic reconciled")
        time.sleep(2.5)  # two more rounds find it again, and record nothing more
        [check] = reconciled()
        assert (check.found, check.action, check.thread_id) == (
            "missing", "none", where["thread_id"])
        assert (check.source.change_id or "").startswith("reconcile:")
        agent = salesforce.act(lambda d: d.create_user("Dana Agent"))
        salesforce.act(lambda d: d.set_case_status(case["Id"], "Working", user_id=agent["Id"]))
        wait_for(lambda: [r["salesforce_status"] for r in embedded.cases()] == ["Working"], 60,
                 what="the agent's Working taken in")
        salesforce.act(lambda d: d.set_case_owner(case["Id"], agent["Id"],
                                                  user_id=agent["Id"]))
        salesforce.act(lambda d: d.set_case_status(case["Id"], "Closed", user_id=agent["Id"]))
        wait_for(lambda: [(r["status"], r["owner_id"]) for r in embedded.cases()]
                 == [("closed", agent["Id"])], 60, what="the drift repaired")
        [events] = ticket_log(embedded).values()
        repaired = [e for e in events if e.type in ("case.status_changed", "case.owner_changed")]
        assert [e.type for e in repaired].count("case.status_changed") == 2  # Working, Closed
        assert {e.type for e in repaired} == {"case.status_changed", "case.owner_changed"}
        assert all((e.source.change_id or "").startswith("reconcile:") for e in repaired)
        assert all(e.actor.id == agent["Id"] for e in repaired)  # who really did it

        report = reconcile(embedded, env, "--dry-run", "--json")
        assert (report["tickets"], report["cases"], report["drifts"]) == (1, 1, {})

        run.stop()  # now only a hand-run reconciliation can see the next change
        salesforce.act(lambda d: d.set_case_status(case["Id"], "On Hold", user_id=agent["Id"]))
        table = reconcile(embedded, env, "--dry-run", as_json=False)
        assert "1 drifts, 1 would be corrected (dry run)" in table and "would correct" in table
        report = reconcile(embedded, env, "--dry-run", "--json")
        assert (report["drifts"], report["corrected"], report["would_correct"]) == (
            {"status_changed": 1}, 0, 1)
        [row] = report["details"]
        assert (row["salesforce"], row["corrected"], row["would_correct"]) == (
            "On Hold", False, True)
        report = reconcile(embedded, env, "--json")
        assert (report["drifts"], report["corrected"], report["would_correct"]) == (
            {"status_changed": 1}, 1, 0)
        assert report["details"][0]["corrected"] is True
    finally:
        salesforce.close()


def reconcile(embedded: EmbeddedDeployment, env: dict[str, str], *args: str,
              as_json: bool = True) -> Any:
    """``telecase reconcile`` on the embedded runtime: its JSON report, else its table."""
    done = subprocess.run([sys.executable, "-m", "telecase", "reconcile", "--runtime",
                           "embedded", *args], cwd=ROOT, text=True, capture_output=True,
                          timeout=120, env={**os.environ, **embedded.env(**env),
                                            "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if as_json else done.stdout
