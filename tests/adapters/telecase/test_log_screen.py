"""telecase.logs: lines to a file or stderr, as JSON or for people; WARNING-and-above events
handed to the screen, where repeats of one event within a minute are folded into a count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from telecase import logs


def test_the_lines_go_to_the_file_and_warnings_to_the_screen(tmp_path: Path) -> None:
    shown: list[dict[str, Any]] = []
    path = tmp_path / "data" / "telecase.log"
    logs.configure("info", file=path)
    logs.show_warnings(shown.append)
    try:
        log = structlog.get_logger("telecase.test")
        log.info("test.quiet", n=1)
        log.warning("test.loud", n=2)
    finally:
        logs.show_warnings(None)
        logs.configure("info")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["test.quiet", "test.loud"]
    assert [e["event"] for e in shown] == ["test.loud"]


def test_console_format_is_for_people(tmp_path: Path) -> None:
    path = tmp_path / "telecase.log"
    logs.configure("info", fmt="console", file=path)
    try:
        structlog.get_logger("telecase.test2").info("test.readable", ticket="tg:1")
    finally:
        logs.configure("info")
    text = path.read_text()
    assert "test.readable" in text and "ticket=tg:1" in text and not text.startswith("{")


def test_repeats_within_a_minute_are_folded() -> None:
    now = [0.0]
    fold = logs.WarningFold(keep=2, clock=lambda: now[0])
    event = {"event": "desk.reassignment_blocked", "level": "warning", "logger": "telecase.desk",
             "timestamp": "2026-01-01T12:00:00Z", "ticket": "tg:1"}
    for _ in range(41):
        fold.add(event)
        now[0] += 1
    assert fold.lines() == ["12:00:00 warning desk.reassignment_blocked ticket=tg:1",
                            "  … 40 more in the last minute"]
    now[0] = 200.0  # a minute later it is shown again, counted afresh
    fold.add({**event, "timestamp": "2026-01-01T12:03:20Z"})
    assert fold.lines() == ["12:03:20 warning desk.reassignment_blocked ticket=tg:1"]
    for name in ("a", "b", "c"):  # only the `keep` latest events stay on screen
        fold.add({**event, "event": name})
    assert [line.split()[2] for line in fold.lines()] == ["b", "c"]
