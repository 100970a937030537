"""The demo and the benchmark run end to end (figures are reported, never asserted)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.infra import ROOT

pytestmark = pytest.mark.integration


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telecase", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout, env={**os.environ, **env})


def test_demo_opens_tickets_and_exits_cleanly(kafka_bootstrap: str, pg_server: str,
                                              tmp_path: object) -> None:
    done = _run(["demo", "--duration", "15"],
                {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TELECASE_DATABASE_URL": pg_server,
                 "TELECASE_DATA_DIR": str(tmp_path)}, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary = re.search(r"tickets opened: (\d+), messages: (\d+).*errors: (\d+)", done.stdout)
    assert summary is not None, done.stdout[-2000:]
    tickets, messages, errors = map(int, summary.groups())
    assert tickets >= 1 and messages >= tickets and errors == 0


def test_bench_ingest_reports_its_figures(kafka_bootstrap: str, pg_server: str,
                                          tmp_path: object) -> None:
    from tests.infra import fresh_database
    with fresh_database(pg_server) as db:
        done = _run(["bench", "ingest", "-n", "2000", "--rate", "200", "--chats", "20"],
                    {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TELECASE_DATABASE_URL": db,
                     "TELECASE_DATA_DIR": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["ticket_events"] == figures["updates"] == 2000
    for key in ("webhook_updates_per_s", "worker_updates_per_s", "projection_events_per_s",
                "bare_loop_events_per_s", "worker_vs_bare_loop"):
        assert figures[key] > 0, key
    assert set(figures["postgres"]["settings"]) == {"fsync", "synchronous_commit",
                                                    "full_page_writes", "wal_level"}
    assert figures["postgres"]["settings"]["synchronous_commit"] == "on"
    assert figures["latency_ms"]["samples"] == 1000
    assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
    cpu = figures["latency_ms"]["cpu_ms_per_update"]
    assert set(cpu) == {"worker", "projector", "webhook", "paced_client"}
    assert all(ms > 0 for ms in cpu.values()), cpu
