"""The SLA core follows the ticket core's rules (STYLE habit 1): no I/O library, no clock, no
randomness. Same rules as ``tests/core/test_purity.py``, applied to ``streams/sla``."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.core.test_purity import FORBIDDEN_CALLS, FORBIDDEN_MODULES

SLA = Path(__file__).resolve().parents[2] / "streams" / "sla"


def test_sla_imports_no_io_or_clock() -> None:
    paths = sorted(SLA.rglob("*.py"))
    assert {p.name for p in paths} >= {"policy.py", "calendar.py", "clock.py"}
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: import {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN_MODULES | {"pathlib", "io"}]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "open"):
                offenders.append(f"{path.name}:{node.lineno}: calls open()")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in FORBIDDEN_CALLS):
                offenders.append(f"{path.name}:{node.lineno}: calls .{node.func.attr}()")
    assert offenders == []
