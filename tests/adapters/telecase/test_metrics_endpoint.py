"""``telecase reconcile --every`` is a long-running process like the others: with
``TELECASE_METRICS_PORT`` it serves ``/metrics``, where every Salesforce request the unmodified
simple-salesforce client sends is counted, the ones an outage refused too. (The other
processes are scraped in the tests that run them: tests/e2e/kafka/test_salesforce_sync.py,
test_desk_kafka.py, tests/e2e/embedded/test_run.py, tests/adapters/audit/test_audit_cli.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from telecase.settings import SettingsError, load_settings
from telecase.web.metrics import serve_metrics
from tests import infra
from tests.e2e.kafka.conftest import SalesforceThread, free_port
from tests.infra import wait_for
from tests.metrics import scrape

CALLS = "telecase_salesforce_api_calls_total"


def test_reconcile_every_serves_metrics_and_counts_salesforce_calls(tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    port = free_port()
    env = {**salesforce.env(), "TELECASE_DATA_DIR": str(tmp_path / "data"),
           "TELECASE_METRICS_PORT": str(port), "TELECASE_LOG_LEVEL": "info"}
    proc = infra.Process(["reconcile", "--runtime", "embedded", "--every", "0.3"], env,
                         tmp_path, "reconcile").start()
    try:
        def calls(**labels: str) -> float:
            assert proc.alive(), proc.output()
            now = scrape(port)
            return 0.0 if now is None else now.total(CALLS, **labels)

        wait_for(lambda: calls(operation="login", outcome="ok") == 1
                 and calls(operation="query", outcome="ok") >= 1, 60,
                 what="the login and a reconciliation's query counted")
        salesforce.act(lambda d: d.start_outage(count=2))
        wait_for(lambda: calls(operation="query", outcome="5xx") == 2, 30,
                 what="the outage's refusals counted")
        answered = calls(operation="query", outcome="ok")
        wait_for(lambda: calls(operation="query", outcome="ok") > answered, 30,
                 what="queries answered again after the outage")
        assert proc.stop() == 0, proc.output()
    finally:
        proc.stop()
        salesforce.close()
    output = proc.output()
    assert '"event": "metrics.listening"' in output
    assert salesforce.sim.password not in output and salesforce.sim.security_token not in output


def test_a_metrics_port_already_taken_stops_the_process_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {"TELECASE_DATA_DIR": str(tmp_path / "data"),
               "TELECASE_METRICS_PORT": str(taken.getsockname()[1]),
               "TELECASE_TELEGRAM_BOT_TOKEN": "", "TELECASE_DATABASE_URL": "",
               "DATABASE_URL": ""}
        done = subprocess.run([sys.executable, "-m", "telecase", "run", "--demo", "--duration",
                               "1"], env={**os.environ, **env}, cwd=infra.ROOT,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "TELECASE_METRICS_PORT: cannot serve metrics on 127.0.0.1:" in done.stderr


def test_metrics_listen_on_the_configured_address_and_a_bad_one_is_one_line() -> None:
    settings = load_settings(metrics_port=0, metrics_host="127.0.0.2")
    port = serve_metrics(settings)
    assert port is not None
    text = httpx.get(f"http://127.0.0.2:{port}/metrics", timeout=10).text
    assert "# TYPE python_gc_objects_collected_total counter" in text  # on the address asked
    with pytest.raises(SettingsError, match=r"cannot serve metrics on no-such-host\.invalid:"):
        serve_metrics(load_settings(metrics_port=0, metrics_host="no-such-host.invalid"))
