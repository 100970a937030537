"""``telecase sla simulate`` over the embedded log of a real ``telecase run --demo``: it reports,
and it touches nothing (not while ``telecase run`` is running, not afterwards)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.schema.events import decode_event
from tests.e2e.embedded.conftest import EmbeddedDeployment
from tests.infra import ROOT, wait_for

POLICY = str(ROOT / "examples" / "policy.toml")
ROUTING = str(ROOT / "examples" / "routing.toml")


def simulate(dep: EmbeddedDeployment, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **dep.env(TELECASE_TELEGRAM_BOT_TOKEN="")}
    return subprocess.run([sys.executable, "-m", "telecase", "sla", "simulate", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def log_state(dep: EmbeddedDeployment) -> tuple[dict[Any, int], list[Any], str]:
    """End offsets per topic and partition, every consumer position, and the file's digest."""
    path = dep.data_dir / "log.sqlite"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ends = {(t, p): n for t, p, n in db.execute(
            "SELECT topic, partition, MAX(offset) + 1 FROM records GROUP BY topic, partition")}
        positions = db.execute("SELECT * FROM positions ORDER BY grp, topic, partition")
        rows = list(positions)
    finally:
        db.close()
    return ends, rows, hashlib.sha256(path.read_bytes()).hexdigest()


def test_simulate_reports_on_the_demo_log_and_touches_nothing(
        embedded: EmbeddedDeployment) -> None:
    demo = embedded.start("demo", "run", "--demo", "--duration", "20",
                          TELECASE_TELEGRAM_BOT_TOKEN="", TELECASE_DEMO_AGENT_INTERVAL="0")
    wait_for(lambda: len(embedded.cases()) >= 2, 60, what="tickets in the demo")
    during = simulate(embedded, "--policy", POLICY, "--json")  # beside the running writer
    assert during.returncode == 0, during.stderr[-3000:]
    assert json.loads(during.stdout)["report"]["tickets"] >= 1
    assert demo.proc is not None and demo.proc.wait(90) == 0, demo.output()[-3000:]

    before = log_state(embedded)
    files = sorted(p.name for p in embedded.data_dir.iterdir())
    month = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    done = simulate(embedded, "--policy", POLICY, "--routing", ROUTING, "--baseline", POLICY,
                    "--until", month, "--json", "--details")
    assert done.returncode == 0, done.stderr[-3000:]
    assert log_state(embedded) == before  # same end offsets, positions and bytes
    assert sorted(p.name for p in embedded.data_dir.iterdir()) == files

    out = json.loads(done.stdout)
    report = out["report"]
    events = [decode_event(r.value) for r in embedded.read_topic(embedded.names.ticket_events)]
    opened = {e.ticket_id for e in events if e.type == "ticket.opened"}
    open_now = {r["ticket_id"] for r in embedded.cases() if r["status"] == "open"}
    assert out["undecodable_events"] == 0 and report["skipped_events"] == 0
    assert report["tickets"] == len(opened) > 0 and report["events"] == len(events)
    assert sum(report["tiers"].values()) == report["tickets"]
    # A month on, with nobody answering (the demo agent is off), every ticket still open has
    # breached and been escalated at every level (general tier: 4h first response, 48h
    # resolution, 24h idle).
    assert report["first_response"]["breached"] == len(open_now)
    assert report["escalations"] == ({"1": len(open_now), "2": len(open_now),
                                      "3": len(open_now)} if open_now else {})
    assert report["resolution"]["resolved"] == len(opened - open_now)
    assignment = report["assignment"]
    assert sum(assignment["routed"].values()) == report["tickets"]
    assert sum(assignment["owners"].values()) <= report["tickets"]
    assert assignment["waiting"] <= len(open_now)
    assert assignment["no_actual_owner"] == report["tickets"]  # the demo changes no owner
    assert out["baseline"] == report and set(out["differences"].values()) == {0}
    assert {t["ticket_id"] for t in out["tickets"]} == opened

    table = simulate(embedded, "--policy", POLICY)  # the human-readable form
    assert table.returncode == 0, table.stderr[-3000:]
    assert "first response: breached" in table.stdout and "tickets" in table.stdout


def test_a_policy_with_errors_exits_2_with_one_line_per_problem(
        embedded: EmbeddedDeployment, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    text = Path(POLICY).read_text().replace('escalate_to = "queue_manager"',
                                            'escalate_too = "queue_manager"')
    bad.write_text(text.replace('first_response = "15m"', 'first_response = "soon"'))
    done = simulate(embedded, "--policy", str(bad))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "telecase: invalid policy, 2 problem(s):"
    assert len(lines) == 3 and all(line.startswith(f"  {bad}: sla.") for line in lines[1:])
    assert any("sla.escalation.level1.escalate_too: unknown key" in line for line in lines)
    assert any("sla.tiers.hot_lead.first_response" in line for line in lines)
    assert "Traceback" not in done.stderr + done.stdout
    assert not embedded.data_dir.exists()  # nothing was read, nothing created


def test_no_log_yet_is_a_clear_error(embedded: EmbeddedDeployment) -> None:
    done = simulate(embedded, "--policy", POLICY)
    assert done.returncode == 2
    assert "no such log" in done.stderr and "Traceback" not in done.stderr
    assert not embedded.data_dir.exists()
