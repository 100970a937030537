"""The ticket core imports no I/O library and reads no clock (STYLE habit 1)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "streams" / "core"
FORBIDDEN_MODULES = {"faust", "aiokafka", "sqlalchemy", "httpx", "aiohttp", "socket", "time",
                     "random", "os", "asyncio", "requests", "psycopg", "connectors",
                     "projections", "structlog", "logging", "prometheus_client"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def _modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_exists() -> None:
    assert {p.name for p in _modules()} >= {"ticket.py", "routing.py"}


def test_core_imports_no_io_or_clock() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: import {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN_MODULES]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in FORBIDDEN_CALLS):
                offenders.append(f"{path.name}:{node.lineno}: calls .{node.func.attr}()")
    assert offenders == []
