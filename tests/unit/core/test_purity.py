"""The pure packages (schema, ticket core, SLA, assignment) read no clock and open no file
(STYLE habit 1): time and policy come in as data.

What they import (no I/O, no clock module, no randomness, nothing of the runtime) is the
import-linter contract ``pure`` in pyproject.toml, run by tests/unit/test_import_contracts.py;
this test checks the calls an import rule cannot see (``datetime.now()``, ``open()``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STREAMS = Path(__file__).resolve().parents[3] / "streams"
PURE = {"schema": {"events", "envelope.py"}, "core": {"ticket.py", "routing.py"},
        "sla": {"policy.py", "calendar.py", "clock.py"}, "assignment": {"policy.py", "desk.py"}}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "read_text",
                   "read_bytes"}
FORBIDDEN_NAMES = {"open", "monotonic", "perf_counter", "input"}
"""(A bare ``time()`` is ``datetime.time``: the ``time`` module itself cannot be imported.)"""


def offenders(package: str) -> list[str]:
    found = []
    for path in sorted((STREAMS / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_CALLS:
                    found.append(f"{path.name}:{node.lineno}: calls .{func.attr}()")
                if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
                    found.append(f"{path.name}:{node.lineno}: calls {func.id}()")
    return found


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_package_exists(package: str) -> None:
    assert {p.name for p in (STREAMS / package).iterdir()} >= PURE[package]


@pytest.mark.parametrize("package", sorted(PURE))
def test_pure_package_reads_no_clock_and_opens_no_file(package: str) -> None:
    assert offenders(package) == []


def test_the_check_catches_a_clock_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "streams" / "bad"
    bad.mkdir(parents=True)
    (bad / "m.py").write_text("import datetime\nx = datetime.datetime.now()\nopen('f')\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["STREAMS"]), "STREAMS",
                        tmp_path / "streams")
    assert offenders("bad") == ["m.py:2: calls .now()", "m.py:3: calls open()"]
