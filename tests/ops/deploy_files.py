"""The operations files as data, for tests/ops: the compose file with its ``${VAR}``
interpolated as ``docker compose`` would, and the metric names the alert rules and the
Grafana dashboard query.

``compose-spec.json`` beside this file is the Compose Specification's JSON schema
(github.com/compose-spec/compose-spec, schema/compose-spec.json at commit 170098ba, Apache-2.0),
vendored so the check needs no network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")
DEPLOY = ROOT / "deploy"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "telecase.json"

PROMETHEUS_OWN = {"up"}
"""Series Prometheus writes itself for each scrape target (not served by telecase)."""

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_METRIC = re.compile(r"\b(telecase_[a-z0-9_]+|up)\b(?!\s*\()")
_QUOTED = re.compile(r'"[^"]*"')


def compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml parsed, ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``
    replaced from ``variables`` (a required one that is missing raises ``KeyError``)."""
    given = variables or {}

    def value(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if given.get(name):
            return given[name]
        if op is not None and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    loaded: dict[str, Any] = yaml.safe_load(_VARIABLE.sub(value, COMPOSE_FILE.read_text()))
    return loaded


def compose_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(COMPOSE_SCHEMA.read_text())
    return loaded


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def metric_names(expression: str) -> set[str]:
    """The series names a PromQL expression selects (label values in quotes are skipped)."""
    return set(_METRIC.findall(_QUOTED.sub('""', expression)))
