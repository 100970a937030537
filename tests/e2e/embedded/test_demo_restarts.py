"""``telecase run --demo`` stopped and started again on the same data directory continues the
same world (telecase.demo.world): the simulated Telegram's chats and the simulated org's Cases
and agents of the earlier runs, so no CaseNumber lands on two tickets, no agent's reply is
dead-lettered for a chat that no longer exists, and the desk's loads are the agents' open
tickets. ``--fresh`` starts over. The summary tells this run's figures from the totals, and a
refused delivery is an error the exit status reports."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections import defaultdict
from typing import Any

import httpx

from streams.runtime.desk import DeskSnapshot
from telecase.ops.desk import saved_snapshot
from telecase.settings import RuntimeKind, Settings
from tests.e2e.embedded.conftest import EmbeddedDeployment

DEMO = {"TELECASE_TELEGRAM_BOT_TOKEN": "", "TELECASE_DEMO_AGENT_INTERVAL": "1"}


def _run_demo(embedded: EmbeddedDeployment, name: str, *args: str) -> str:
    proc = embedded.start(name, "run", "--demo", "--duration", "12", *args, **DEMO)
    assert proc.proc is not None and proc.proc.wait(120) == 0, proc.output()[-3000:]
    said = " ".join(proc.output().split())
    assert re.search(r"errors: 0\b", said), said[-2000:]
    return said


def _desk(embedded: EmbeddedDeployment) -> DeskSnapshot:
    settings = Settings.model_validate({"data_dir": str(embedded.data_dir)})
    snapshot = asyncio.run(saved_snapshot(settings, RuntimeKind.EMBEDDED))
    assert snapshot is not None
    return snapshot


def _figures(said: str) -> tuple[int, int]:
    """(tickets opened this run, tickets in total) from the summary."""
    this_run = re.search(r"this run: tickets: (\d+), messages: \d+, updates sent: \d+, "
                         r"errors: 0\b", said)
    total = re.search(r"in total: tickets: (\d+), messages: \d+, dead letters waiting: 0 ",
                      said)
    assert this_run is not None and total is not None, said[-2000:]
    return int(this_run[1]), int(total[1])


def test_three_restarts_continue_one_world(embedded: EmbeddedDeployment) -> None:
    opened_before: set[str] = set()
    total = 0
    for run in range(3):
        opened, total_now = _figures(_run_demo(embedded, f"demo{run}"))
        assert opened >= 1 and total_now == total + opened  # this run's, and every run's
        total = total_now
        rows = embedded.cases()
        if run:  # customers of earlier runs wrote again in their topics
            assert any(r["ticket_id"] in opened_before and r["message_count"] > 1
                       for r in rows), rows
        opened_before = {r["ticket_id"] for r in rows}
    rows = embedded.cases()
    numbers = [r["salesforce_case_number"] for r in rows if r["salesforce_case_number"]]
    assert numbers and len(numbers) == len(set(numbers)), "a CaseNumber on two tickets"
    assert embedded.read_topic(embedded.names.dead_letters) == []
    assert any(r["agent_reply_count"] for r in rows)  # replies reached Telegram
    # The desk's loads are the agents' open tickets, reopened ones included (an agent's reply
    # reopens a closed topic, and the ticket goes back to the agent who held it).
    reopened = {e["ticket_id"] for e in _events(embedded) if e["type"] == "topic.reopened"}
    open_by_agent: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["status"] == "open" and r["agent_id"]:
            open_by_agent[r["agent_id"]].add(r["ticket_id"])
    seats = _desk(embedded).desk.agents
    assert seats, "the demo desk has agents"
    for agent, seat in seats.items():
        assert set(seat.tickets) == open_by_agent[agent], (agent, reopened)


def _events(embedded: EmbeddedDeployment) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in embedded.read_topic(embedded.names.ticket_events)]


def test_fresh_starts_the_demo_over(embedded: EmbeddedDeployment) -> None:
    _run_demo(embedded, "first")
    before = {r["ticket_id"] for r in embedded.cases()}
    _run_demo(embedded, "fresh", "--fresh")
    after = {r["ticket_id"] for r in embedded.cases()}
    assert before and after and not before & after


def test_a_refused_delivery_is_an_error_and_the_exit_status_says_so(
        embedded: EmbeddedDeployment) -> None:
    proc = embedded.run("live")
    refused = httpx.post(embedded.webhook_url, headers={
        "X-Telegram-Bot-Api-Secret-Token": embedded.webhook_secret}, json={
        "update_id": 1, "message": {"message_id": 1, "date": 0,
                                    "chat": {"id": 2 ** 70, "type": "private"}}})
    assert refused.status_code == 400
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(60) == 1, proc.output()[-3000:]
    said = " ".join(proc.output().split())
    assert re.search(r"this run: tickets: 0, messages: 0, errors: 1\b", said), said[-2000:]
    assert "1 webhook request(s) refused in this run" in said
