"""``telecase dashboard`` as its own process in Kafka mode, over projections in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from tests import infra
from tests.adapters.audit.fixtures import fill
from tests.adapters.audit.test_audit_api import KEYS, keys_toml
from tests.adapters.dashboard.test_dashboard_api import more_rows
from tests.e2e.kafka.conftest import free_port


@pytest.mark.integration
def test_the_dashboard_command_serves_the_postgresql_projections(pg_server: str,
                                                                 tmp_path: Path) -> None:
    with infra.fresh_database(pg_server) as url:
        engine = create_engine(url)
        fill(engine)
        more_rows(engine)
        engine.dispose()
        keys = tmp_path / "keys.toml"
        keys.write_text(keys_toml({name: KEYS[name] for name in ("ops", "ann")}))
        port = free_port()
        proc = infra.Process(
            ["dashboard", "--runtime", "kafka", "--port", str(port)],
            {"TELECASE_DATABASE_URL": url, "TELECASE_AUDIT_API_KEYS_FILE": str(keys),
             "TELECASE_POLICY_FILE": "", "TELECASE_LOG_LEVEL": "info"},
            tmp_path, "dashboard").start()
        try:
            infra.wait_for(lambda: infra.port_open(port) or not proc.alive(), 60,
                           what="the dashboard's port")
            assert proc.alive(), proc.output()
            base = f"http://127.0.0.1:{port}/dashboard"

            def board(key: str | None) -> httpx.Response:
                headers = {"Authorization": f"Bearer {KEYS[key][0]}"} if key else {}
                return httpx.get(f"{base}/api/board", headers=headers, timeout=10)

            assert board(None).status_code == 401
            assert len(board("ops").json()["tickets"]) == 5
            assert [t["ticket_id"] for t in board("ann").json()["tickets"]] == ["tg:1:t1"]
            loads = httpx.get(f"{base}/api/workloads", timeout=10,
                              headers={"Authorization": f"Bearer {KEYS['ops'][0]}"}).json()
            assert {a["agent_id"] for a in loads["agents"]} == {"ann", "bob", "cat", "zed"}
            assert httpx.get(base, timeout=10).status_code == 303
        finally:
            code = proc.stop()
        assert code == 0, proc.output()
        assert f"Dashboard: http://127.0.0.1:{port}/dashboard" in proc.output()
