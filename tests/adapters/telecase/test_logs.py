"""Logs are one JSON object per line on stderr, telecase's and the libraries' alike, with
timestamp, level, logger and event; library chatter below WARNING (httpx's request lines carry
the bot token in the URL) never shows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

from tests.infra import ROOT

PROGRAM = """
import logging, structlog
from telecase import logs
logs.configure("info")
log = structlog.get_logger("telecase.test")
log.info("ticket.opened", ticket_id="tg:1:t2", offset=7)
log.debug("not.shown")
logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot7000:SECRET/x")
logging.getLogger("aiokafka").warning("broker %s unreachable", "b1")
try:
    raise ValueError("boom")
except ValueError:
    log.exception("loop.failed", loop="worker")
logs.configure("info")  # configuring twice logs once
log.warning("after.reconfigure")
"""


def test_every_line_is_one_json_object_with_timestamp_level_logger_and_event() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["event"], e["level"], e["logger"]) for e in lines] == [
        ("ticket.opened", "info", "telecase.test"),
        ("broker b1 unreachable", "warning", "aiokafka"),
        ("loop.failed", "error", "telecase.test"),
        ("after.reconfigure", "warning", "telecase.test"),
    ]
    for entry in lines:
        assert datetime.fromisoformat(entry["timestamp"]).utcoffset() is not None
    assert (lines[0]["ticket_id"], lines[0]["offset"]) == ("tg:1:t2", 7)
    assert "ValueError: boom" in lines[2]["exception"]
    assert "SECRET" not in done.stderr
