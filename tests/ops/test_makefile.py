"""README's two commands through the Makefile: Ctrl-C at a terminal ends ``make run`` with
status 0 (telecase's summary, not make's "Interrupt"), and ``make test`` lists skip reasons.
The terminal is a pseudo-terminal, Ctrl-C the byte the terminal turns into SIGINT."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.infra import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _read(fd: int, until: float, stop: bytes | None = None) -> bytes:
    out = b""
    while time.monotonic() < until and (stop is None or stop not in out):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side closed
                break
            if not chunk:
                break
            out += chunk
    return out


def test_ctrl_c_ends_make_run_with_status_0(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    # -o: the virtualenv counts as installed (the test runs in it)
    command = [str(MAKE), "-s", "-C", str(ROOT), "-o", f"{bin_dir}/telecase", "run",
               f"BIN={bin_dir}"]
    env = {**os.environ, "TELECASE_DATA_DIR": str(tmp_path / "data"),
           "TELECASE_TELEGRAM_BOT_TOKEN": "", "TELECASE_DATABASE_URL": "", "DATABASE_URL": "",
           "TELECASE_WEBHOOK_HOST": "127.0.0.1", "TELECASE_WEBHOOK_PORT": "0"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, with the pseudo-terminal as its controlling terminal
        os.execve(command[0], command, env)
    try:
        started = _read(fd, time.monotonic() + 90, stop=b"no Telegram credentials in use")
        assert b"no Telegram credentials" in started, started.decode(errors="replace")[-3000:]
        started += _read(fd, time.monotonic() + 3)  # the demo runs a little
        os.write(fd, b"\x03")
        ended = _read(fd, time.monotonic() + 60)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    said = (started + ended).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, said[-3000:]
    assert "Interrupt" not in said and "errors: 0" in said, said[-3000:]


def test_make_test_lists_the_reasons_of_skipped_tests() -> None:
    shown = subprocess.run([str(MAKE), "-n", "-C", str(ROOT), "-o", ".venv/bin/telecase",
                            "test"], capture_output=True, text=True, check=True).stdout
    assert " -rs " in shown
