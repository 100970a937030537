"""``telecase deadletter`` on the embedded runtime: a desk decision the worker dead-letters
(its ticket does not exist yet) is listed, shown, retried once the ticket exists (the cause
fixed) beside the running ``telecase run``, folded once, and not re-driven by a second retry;
the waiting gauge follows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from click.testing import Result
from typer.testing import CliRunner

from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.schema.commands import Assignment
from telecase.cli.main import app
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread, free_port
from tests.infra import wait_for
from tests.metrics import scrape
from tests.telegram_factory import Script, forum, user

CHAT = -1001000000001
TICKET = f"tg:{CHAT}:t1"  # the first forum topic of the chat


def early_decision() -> Assignment:
    """A desk decision about a ticket the worker has not seen: dead-lettered
    (``decision_error``) until the topic that opens the ticket is folded."""
    return Assignment(decision_id="retry-me", ticket_id=TICKET, chat_id=CHAT, action="routed",
                      queue="vip", reason="by hand", at=datetime.now(UTC))


def post_topic(webhook_url: str, secret: str) -> None:
    created = Script(forum(CHAT)).create_topic(user(11, "Ann"), "Pricing", 1_700_000_000)
    response = httpx.post(webhook_url, json=created, timeout=10,
                          headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    assert response.status_code == 200, response.text


def cli(env: dict[str, str], *args: str) -> Result:
    """``telecase deadletter <args> --runtime <env's TEST_RUNTIME>``, in this process."""
    return CliRunner().invoke(app, ["deadletter", *args, "--runtime", env["TEST_RUNTIME"]],
                              env=env)


def routed_events(records: list[Any]) -> list[dict[str, Any]]:
    events = [json.loads(r.value) for r in records]
    return [e for e in events if e.get("type") == "ticket.routed" and e["ticket_id"] == TICKET]


def waiting(port: int) -> float | None:
    found = scrape(port)
    if found is None:
        return None
    return found.total("telecase_dead_letters_waiting", stage="ticket-folder",
                       reason="decision_error")


def list_show_retry(env: dict[str, str], runtime: str) -> str:
    """The three commands on the one waiting letter; its id."""
    env = {**env, "TEST_RUNTIME": runtime}
    listed = cli(env, "list", "--json")
    assert listed.exit_code == 0, listed.output
    [letter] = json.loads(listed.stdout)
    assert (letter["stage"], letter["reason"], letter["retried"]) == (
        "ticket-folder", "decision_error", None), letter
    assert letter["origin"].startswith(env.get("TELECASE_TOPIC_PREFIX", "") + "ticket.commands")
    assert json.loads(cli(env, "list", "--json", "--reason", "invalid_envelope").stdout) == []
    assert len(json.loads(cli(env, "list", "--json", "--since", "1h").stdout)) == 1
    assert cli(env, "list").exit_code == 0  # the table
    shown = cli(env, "show", letter["id"])
    assert shown.exit_code == 0, shown.output
    full = json.loads(shown.stdout)
    assert full["payload"]["decision_id"] == "retry-me" and "unknown ticket" in full["detail"]
    missing = cli(env, "show", "0:999999")
    assert missing.exit_code == 2 and "no dead letter" in missing.stderr

    dry = cli(env, "retry", "--reason", "decision_error", "--dry-run", "--json")
    assert [o["action"] for o in json.loads(dry.stdout)] == ["would_retry"], dry.output
    first = cli(env, "retry", letter["id"], "--json")
    assert [o["action"] for o in json.loads(first.stdout)] == ["retried"], first.output
    again = cli(env, "retry", "--reason", "decision_error", "--json")
    assert [o["action"] for o in json.loads(again.stdout)] == ["already_retried"], again.output
    [after] = json.loads(cli(env, "list", "--json").stdout)
    assert after["retried"] is not None
    return str(letter["id"])


async def _append_decision(dep: EmbeddedDeployment) -> None:
    log = await EmbeddedLog.open(dep.data_dir / "log.sqlite", 1)
    try:
        for topic in dep.names.all():
            await log.create_topic(topic, 1)
        decision = early_decision()
        await log.append(dep.names.ticket_commands, [
            Outgoing(decision.routing_key().encode(), decision.to_bytes())])
    finally:
        await log.close()


def test_a_dead_letter_is_listed_shown_and_retried_once_embedded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    dep = embedded
    dep.data_dir.mkdir(parents=True)
    asyncio.run(_append_decision(dep))
    port = free_port()
    extra = {"TELECASE_TELEGRAM_API_BASE": telegram.base_url,
             "TELECASE_METRICS_PORT": str(port)}
    dep.run("run", **extra)
    wait_for(lambda: dep.read_topic(dep.names.dead_letters), 30, what="the dead letter")
    post_topic(dep.webhook_url, dep.webhook_secret)  # the cause fixed: the ticket exists
    wait_for(lambda: dep.cases(), 30, what="the ticket's case row")
    assert wait_for(lambda: waiting(port) == 1, 15, what="the waiting gauge")
    assert routed_events(dep.read_topic(dep.names.ticket_events)) == []

    list_show_retry(dep.env(), "embedded")  # beside the run, which holds the log
    wait_for(lambda: routed_events(dep.read_topic(dep.names.ticket_events)), 30,
             what="the re-driven decision folded")
    assert wait_for(lambda: waiting(port) == 0, 15, what="the gauge at 0")
    wait_for(lambda: [r["queue"] for r in dep.cases()] == ["vip"], 15, what="the queue")
    assert len(routed_events(dep.read_topic(dep.names.ticket_events))) == 1


# -- the Salesforce stage ------------------------------------------------------------------

ORIGINS = ["Phone", "Email", "Web"]
"""Case Origin restricted without "Telegram": Salesforce refuses telecase's Case (the stand-in
for a validation rule an admin later removes)."""


def refuse_telegram_cases(salesforce: SalesforceThread, refuse: bool) -> None:
    values = ORIGINS if refuse else [*ORIGINS, "Telegram"]
    salesforce.act(lambda driver: driver.restrict_picklist("Case", "Origin", values))


def talk(telegram: SimulatorThread, webhook_url: str, secret: str) -> None:
    """A customer opens a topic and writes twice."""
    telegram.bot_api("setWebhook", url=webhook_url, secret_token=secret)

    async def write(tg: Any) -> None:
        ann = await tg.create_user("Ann", username="ann")
        room = await tg.create_forum("Sales")
        topic = await tg.open_topic(room["id"], ann["id"], "Pricing for 50 seats")
        for text in ("What does it cost?", "Annual billing?"):
            await tg.write(room["id"], ann["id"], text, topic.thread_id)

    telegram.drive(write)


def salesforce_letters(env: dict[str, str]) -> list[dict[str, Any]]:
    listed = cli(env, "list", "--json", "--stage", "salesforce")
    assert listed.exit_code == 0, listed.output
    return list(json.loads(listed.stdout))


def settled(read: Callable[[], list[Any]], *, quiet: float, timeout: float) -> list[Any]:
    """What ``read`` gives once it has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"still changing after {timeout}s: {last!r}"
        time.sleep(0.5)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
    return last


def salesforce_retry_scenario(env: dict[str, str], salesforce: SalesforceThread,
                              events: Callable[[], list[Any]]) -> None:
    """The ticket's Case refused (dead-lettered), the Origin value added, ``retry`` → the
    Case and its two Tasks once, nothing re-appended to ticket.events (``events``); a second
    retry does nothing."""
    wait_for(lambda: salesforce_letters(env), 60, what="the Salesforce dead letters")
    # the sync lingers while a batch grows: the talk's later events may be refused a batch
    # later, so the admin acts once no new dead letter has come for a while
    letters = settled(lambda: salesforce_letters(env), quiet=4.0, timeout=60)
    assert {x["reason"] for x in letters} == {"salesforce_rejected"}, letters
    assert any("Origin" in x["detail"] for x in letters), letters
    assert salesforce.records("Case") == []
    refuse_telegram_cases(salesforce, refuse=False)  # the admin fixes the org
    before = len(events())

    dry = cli(env, "retry", "--reason", "salesforce_rejected", "--dry-run", "--json")
    assert {o["action"] for o in json.loads(dry.stdout)} == {"would_retry"}, dry.output
    assert "re-sync ticket" in json.loads(dry.stdout)[0]["detail"]
    first = cli(env, "retry", "--reason", "salesforce_rejected", "--json")
    assert first.exit_code == 0, first.output
    assert {o["action"] for o in json.loads(first.stdout)} == {"retried"}, first.output
    wait_for(lambda: len(salesforce.records("Task")) == 2, 60, what="the Tasks on the Case")
    [case] = salesforce.records("Case")
    assert case["Origin"] == "Telegram"
    assert {t["WhatId"] for t in salesforce.records("Task")} == {case["Id"]}

    again = cli(env, "retry", "--reason", "salesforce_rejected", "--json")
    assert {o["action"] for o in json.loads(again.stdout)} == {"already_retried"}, again.output
    assert all(x["retried"] for x in salesforce_letters(env))
    time.sleep(3)
    assert [len(salesforce.records(t)) for t in ("Contact", "Case", "Task")] == [1, 1, 2]
    # re-driven to the sync only: no event copied back into ticket.events; the one new event
    # is the worker folding the link-back of the Case now created
    after = [json.loads(r.value) for r in events()]
    assert len({e["event_id"] for e in after}) == len(after)
    assert [e["type"] for e in after[before:]] == ["salesforce.case_linked"]


def test_a_salesforce_refusal_is_retried_to_its_case_once_embedded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    dep = embedded
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        refuse_telegram_cases(salesforce, refuse=True)
        dep.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url, **salesforce.env())
        talk(telegram, dep.webhook_url, dep.webhook_secret)
        salesforce_retry_scenario({**dep.env(), "TEST_RUNTIME": "embedded"}, salesforce,
                                  lambda: dep.read_topic(dep.names.ticket_events))
    finally:
        salesforce.close()
