"""``telecase audit`` as a user runs it: a subprocess over a data directory's projections."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from telecase.web.audit_api import key_sha256
from tests.adapters.audit.fixtures import CUSTOMER, SECRET_BODY, T0, fill
from tests.e2e.kafka.conftest import free_port
from tests.infra import ROOT
from tests.metrics import scrape


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    engine = create_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    fill(engine)
    engine.dispose()
    return tmp_path


def telecase(data_dir: Path, *args: str, stdin: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "TELECASE_KAFKA_BOOTSTRAP_SERVERS",
                        "DATABASE_URL", "TELECASE_DATABASE_URL", "TELECASE_CONFIG")}
    env.update(TELECASE_DATA_DIR=str(data_dir), COLUMNS="250", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "telecase", "audit", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60, input=stdin)


def test_ticket_as_a_table_withholds_personal_data(data_dir: Path) -> None:
    done = telecase(data_dir, "ticket", "tg:1:t1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in ("ticket tg:1:t1", "2026-11-24 09:00:00", "routed to queue sales",
                     "no rule matched", "queue: — → sales", "agent_id: — → ann",
                     "assigned to ann by the desk", "agent Ann",
                     "personal data withheld"):
        assert expected in out
    lines = out.splitlines()
    assert [i for i, line in enumerate(lines) if "routed to queue" in line] < [
        i for i, line in enumerate(lines) if "assigned to ann" in line]
    for secret in (SECRET_BODY, "hello alice", CUSTOMER, "Alicia"):
        assert secret not in out


def test_ticket_shows_personal_data_only_when_asked(data_dir: Path) -> None:
    done = telecase(data_dir, "ticket", "tg:1:t1", "--show-personal-data")
    assert done.returncode == 0, done.stderr
    assert SECRET_BODY in done.stdout and CUSTOMER in done.stdout
    assert "withheld" not in done.stdout


def test_ticket_as_json(data_dir: Path) -> None:
    done = telecase(data_dir, "ticket", "tg:1:t1", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["ticket_id"] == "tg:1:t1"
    assert [e["seq"] for e in body["entries"]] == [1, 2, 3, 4, 5, 6]
    assert body["entries"][1]["body"] is None and body["entries"][1]["redacted"] is True
    assert body["entries"][0]["occurred_at"] == T0.isoformat()
    assert SECRET_BODY not in done.stdout and CUSTOMER not in done.stdout
    shown = json.loads(telecase(data_dir, "ticket", "tg:1:t1", "--json",
                                "--show-personal-data").stdout)
    assert shown["entries"][1]["body"] == SECRET_BODY


def test_agent_activity(data_dir: Path) -> None:
    done = telecase(data_dir, "agent", "ann", "--since", T0.isoformat(), "--until",
                    "2026-11-24T09:53:00+00:00", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert [(e["ticket_id"], e["seq"]) for e in body["entries"]] == [
        ("tg:1:t1", 4), ("tg:1:t1", 5), ("tg:1:t1", 6), ("tg:1:t5", 3)]
    table = telecase(data_dir, "agent", "ann", "--since", "2026-11-24T09:00")
    assert table.returncode == 0, table.stderr
    assert "tg:1:t5" in table.stdout and "ann is away" not in table.stdout
    assert "hello alice" not in table.stdout
    empty = telecase(data_dir, "agent", "ann", "--since", "2d")  # the rows are in 2026
    assert empty.returncode == 0 and "no audit rows" in empty.stdout


def test_errors_are_one_line_and_exit_2(data_dir: Path, tmp_path: Path) -> None:
    unknown = telecase(data_dir, "ticket", "tg:0:nope")
    assert unknown.returncode == 2 and "no ticket tg:0:nope" in unknown.stderr
    bad = telecase(data_dir, "agent", "ann", "--since", "yesterday")
    assert bad.returncode == 2 and "yesterday" in bad.stderr
    nothing = telecase(tmp_path / "elsewhere", "ticket", "tg:1:t1")
    assert nothing.returncode == 2 and "no projections at" in nothing.stderr
    assert not (tmp_path / "elsewhere" / "projections.sqlite").exists()


def test_key_hash_reads_the_key_from_stdin(data_dir: Path) -> None:
    done = telecase(data_dir, "key-hash", stdin="s3cret-key\n")
    assert done.returncode == 0 and done.stdout.strip() == key_sha256("s3cret-key")
    assert "s3cret-key" not in done.stdout + done.stderr
    assert telecase(data_dir, "key-hash", stdin="").returncode == 2


def test_serve_answers_over_http_until_terminated(data_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.ops]\nkey_sha256 = "{key_sha256("ops-key")}"\nrole = "admin"\n'
                    "pii = false\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "TELECASE_DATABASE_URL")}
    metrics_port = free_port()
    env.update(TELECASE_DATA_DIR=str(data_dir), TELECASE_AUDIT_API_KEYS_FILE=str(keys),
               TELECASE_METRICS_PORT=str(metrics_port))
    server = subprocess.Popen([sys.executable, "-m", "telecase", "audit", "serve", "--port",
                               str(port)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/v1/healthz").json() == {"ok": True}
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert httpx.get(f"{base}/v1/tickets/tg:1:t1/audit").status_code == 401
        answer = httpx.get(f"{base}/v1/tickets/tg:1:t1/audit",
                           headers={"Authorization": "Bearer ops-key"})
        assert answer.status_code == 200
        assert [e["body"] for e in answer.json()["entries"]][:2] == [None, None]
        served = scrape(metrics_port)
        assert served is not None
        assert served.total("telecase_audit_api_requests_total", outcome="ok") >= 1
        assert served.total("telecase_audit_api_requests_total", outcome="unauthenticated") == 1
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "audit_api.listening" in output and "ops-key" not in output
    assert SECRET_BODY not in output


def test_serve_needs_a_keys_file(data_dir: Path) -> None:
    done = telecase(data_dir, "serve")
    assert done.returncode == 2 and "TELECASE_AUDIT_API_KEYS_FILE" in done.stderr
