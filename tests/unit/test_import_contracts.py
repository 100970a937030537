"""The architecture's import rules hold (pyproject.toml ``[tool.importlinter]``, ARCHITECTURE.md
"The pieces"): layers with no cycle between the top-level packages, pure packages with no I/O,
no simulator in production code. ``make lint`` runs the same ``lint-imports``; this test makes
``make test`` guard them too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_pure_contract_catches_an_io_import(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "streams", tmp_path / "streams",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "streams" / "core" / "leak.py").write_text("import sqlite3\n")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    pure = next(c for c in config["contracts"] if c["id"] == "pure")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["streams"]\ninclude_external_packages = true\n\n'
        '[[tool.importlinter.contracts]]\nid = "pure"\nname = "pure"\ntype = "forbidden"\n'
        f"source_modules = {json.dumps(pure['source_modules'])}\n"
        f"forbidden_modules = {json.dumps(pure['forbidden_modules'])}\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "streams.core.leak -> sqlite3" in done.stdout
