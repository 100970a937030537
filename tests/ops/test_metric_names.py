"""Every series the alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard
(deploy/grafana/dashboards/telecase.json) query is one a running telecase serves: the names are
read from the expressions and looked up in ``telecase run --demo``'s ``/metrics``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests import infra
from tests.e2e.kafka.conftest import free_port
from tests.ops.deploy_files import (
    PROMETHEUS_OWN,
    alert_expressions,
    dashboard_expressions,
    metric_names,
)


def test_the_names_are_read_from_the_expressions() -> None:
    assert metric_names('sum by (a) (rate(telecase_x_total{reason="up"}[5m])) > up') == {
        "telecase_x_total", "up"}
    rules = {n for e in alert_expressions() for n in metric_names(e)}
    assert {"up", "telecase_consumer_lag", "telecase_dead_letters_waiting",
            "telecase_sla_events_total", "telecase_salesforce_api_calls_total",
            "telecase_telegram_webhook_rejected_total"} <= rules


def _served_names(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names


def _metrics(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.TransportError:
        return None
    response.raise_for_status()
    return response.text


def test_every_metric_in_the_rules_and_the_dashboard_is_served(tmp_path: Path) -> None:
    queried = {n for e in alert_expressions() + dashboard_expressions()
               for n in metric_names(e)} - PROMETHEUS_OWN
    port = free_port()
    env = {"TELECASE_DATA_DIR": str(tmp_path / "data"), "TELECASE_TELEGRAM_BOT_TOKEN": "",
           "TELECASE_DATABASE_URL": "", "DATABASE_URL": "", "TELECASE_METRICS_PORT": str(port),
           "TELECASE_WEBHOOK_PORT": str(free_port()), "TELECASE_WEBHOOK_HOST": "127.0.0.1"}
    proc = infra.Process(["run", "--demo", "--duration", "90"], env, tmp_path, "demo").start()
    served: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while not queried <= served:
            assert proc.alive(), proc.output()[-3000:]
            assert time.monotonic() < deadline, \
                f"not served by telecase: {sorted(queried - served)}"
            text = _metrics(port)
            served = _served_names(text) if text is not None else set()
            time.sleep(0.25)
    finally:
        proc.stop()
