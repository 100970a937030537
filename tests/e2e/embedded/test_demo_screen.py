"""``telecase run --demo`` on a terminal (a tmux session, on a server of the test's own): the live
table stays in place, with the log going to ``<data dir>/telecase.log`` and not over the
table. Off a terminal the demo prints progress lines and the whole table at the end (every
other demo test runs that way; one checks it here too). Without tmux this fails where ``CI``
is set (``.ci/run`` installs it) and skips elsewhere."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.e2e.embedded.conftest import EmbeddedDeployment
from tests.infra import ROOT, wait_for
from tests.tools import required_tool

SECONDS = float(os.environ.get("TELECASE_SCREEN_SECONDS", "60"))
"""How long the table is watched."""
TITLE = "telecase: tickets (SQLite)"


def test_on_a_terminal_the_table_stays_in_place_and_the_log_goes_to_its_file(
        tmp_path: Path) -> None:
    tmux = [required_tool("tmux", "tmux"), "-L", f"telecase-test-{uuid.uuid4().hex[:8]}"]
    data, done = tmp_path / "data", tmp_path / "exit-status"
    command = " ".join([
        "env", f"TELECASE_DATA_DIR={shlex.quote(str(data))}", "TELECASE_TELEGRAM_BOT_TOKEN=",
        "TELECASE_DATABASE_URL=", "DATABASE_URL=", "TELECASE_METRICS_PORT=",
        shlex.quote(sys.executable), "-m", "telecase", "run", "--demo",
        "--duration", str(int(SECONDS) + 10),
        f"; echo $? > {shlex.quote(str(done))}; sleep 60"])
    subprocess.run([*tmux, "new-session", "-d", "-s", "demo", "-x", "200", "-y", "60",
                    "-c", str(ROOT), command], check=True, timeout=30)

    def pane() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "demo"], check=True,
                              capture_output=True, text=True, timeout=30).stdout

    try:
        wait_for(lambda: TITLE in pane(), 90, what="the live table")
        rows: set[int] = set()
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            screen = pane().splitlines()
            assert not any(line.lstrip().startswith('{"') for line in screen), "\n".join(screen)
            rows.update(i for i, line in enumerate(screen) if TITLE in line)
            time.sleep(2)
        assert len(rows) == 1, f"the table moved: its title on rows {sorted(rows)}"
        wait_for(done.exists, 90, what="the run's end")
        assert done.read_text().strip() == "0", pane()
        assert re.search(r"this run: tickets: \d+", pane())
    finally:
        subprocess.run([*tmux, "kill-server"], check=False, timeout=30)
    logged = [json.loads(line) for line in (data / "telecase.log").read_text().splitlines()]
    assert any(e["event"] == "worker.timers_indexed" for e in logged)


def test_off_a_terminal_progress_lines_and_the_whole_table_at_the_end(
        embedded: EmbeddedDeployment) -> None:
    proc = embedded.start("piped", "run", "--demo", "--duration", "12",
                          TELECASE_TELEGRAM_BOT_TOKEN="")
    assert proc.proc is not None and proc.proc.wait(120) == 0, proc.output()[-3000:]
    said = proc.output()
    assert len(re.findall(r"^\d\d:\d\d:\d\d tickets \d+ \(\d+ open, \d+ waiting\), messages \d+"
                          r", updates sent \d+, errors \d+$", said, re.MULTILINE)) >= 2, said
    ticket_ids = re.findall(r"│ (tg:-?\d+:t\d+) +│", said)  # whole, not cut to 80 columns
    assert ticket_ids, said[-3000:]
    assert not (embedded.data_dir / "telecase.log").exists()  # logs stay on stderr
