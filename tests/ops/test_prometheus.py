"""The Prometheus files in deploy/prometheus, checked by Prometheus' own ``promtool``
(Debian's ``prometheus`` package; ``.ci/run`` installs it): the alert rules parse and pass their
unit tests (alerts_test.yml), and the scrape configuration is valid. Without ``promtool`` these
skip on a developer's machine and fail where ``CI`` is set."""

from __future__ import annotations

import subprocess

import pytest

from tests.ops.deploy_files import ALERT_RULES, DEPLOY
from tests.tools import required_tool


@pytest.fixture(scope="module")
def promtool() -> str:
    return required_tool("promtool", "prometheus")


def _promtool(promtool: str, *args: str) -> str:
    done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120,
                          cwd=DEPLOY / "prometheus")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_alert_rules_pass_promtool_check(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "check", "rules", str(ALERT_RULES))


def test_the_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    assert "SUCCESS" in _promtool(promtool, "test", "rules", "alerts_test.yml")


def test_the_scrape_config_passes_promtool_check(promtool: str) -> None:
    _promtool(promtool, "check", "config", "prometheus.yml")
