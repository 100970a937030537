"""The assignment core imports no I/O library and reads no clock (STYLE habit 1), like the ticket
core: the same rules as ``tests/core/test_purity.py``, applied to ``streams/assignment``."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.core.test_purity import FORBIDDEN_CALLS, FORBIDDEN_MODULES

PACKAGE = Path(__file__).resolve().parents[2] / "streams" / "assignment"


def test_package_exists() -> None:
    assert {p.name for p in PACKAGE.glob("*.py")} >= {"policy.py", "desk.py"}


def test_assignment_imports_no_io_clock_or_randomness() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: import {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN_MODULES | {"faust", "tomli_w"}]
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in FORBIDDEN_CALLS | {"read_text", "open"}):
                offenders.append(f"{path.name}:{node.lineno}: calls .{node.func.attr}()")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                    node.func.id == "open"):
                offenders.append(f"{path.name}:{node.lineno}: calls open()")
    assert offenders == []
