"""``telecase run``: the embedded runtime on a bare machine (no Kafka, no PostgreSQL)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from streams.core.routing import Routed, route
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.telegram import Update
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import free_port
from tests.e2e.kafka.test_ticket_pipeline import (
    enrol_agent,
    ticket_log,
    topic_group_scenario,
)
from tests.infra import ROOT, wait_for
from tests.metrics import Scrape, scrape


def test_the_ticket_scenario_passes_on_the_embedded_runtime(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    embedded.agent_ids = str(enrol_agent(telegram))
    embedded.run()
    topic_group_scenario(embedded, telegram)


def _summary(output: str) -> tuple[int, int, int]:
    found = re.search(r"tickets: (\d+), messages: (\d+), updates sent: \d+, errors: (\d+)",
                      output)
    assert found is not None, output[-2000:]
    tickets, messages, errors = map(int, found.groups())
    return tickets, messages, errors


def test_demo_runs_for_a_duration_and_summarises(embedded: EmbeddedDeployment) -> None:
    port = free_port()
    proc = embedded.start("demo", "run", "--demo", "--duration", "14",
                          TELECASE_TELEGRAM_BOT_TOKEN="", TELECASE_METRICS_PORT=str(port))
    every_loop_reports_its_lag(proc, port)
    assert proc.proc is not None and proc.proc.wait(90) == 0, proc.output()[-3000:]
    tickets, messages, errors = _summary(proc.output())
    assert tickets >= 1 and messages >= tickets and errors == 0
    said = " ".join(proc.output().split())
    assert "no Telegram credentials in use" in said
    assert "Cases go to a simulated Salesforce" in said
    synced = re.search(r"salesforce: (\d+) ticket events synced", said)
    assert synced is not None and int(synced.group(1)) > 0
    rows = embedded.cases()  # the demo agent answered in Salesforce, and it came back
    assert any(r["agent_reply_count"] > 0 for r in rows), rows
    assert all(r["salesforce_case_number"] for r in rows if r["agent_reply_count"])
    # the demo's policy: clocks started with a tier, and the desk gave tickets to its agents
    assert {r["sla_tier"] for r in rows if r["message_count"]} <= {"hot", "standard"}
    assert any(r["sla_state"] for r in rows), rows
    assert {r["agent_id"] for r in rows} & {"ann", "bo", "cleo"}, rows


EMBEDDED_CONSUMERS = {"telecase-worker", "telecase-projector", "telecase-desk",
                      "salesforce-sync", "telegram-mirror"}


def every_loop_reports_its_lag(proc: Any, port: int) -> None:
    """While ``telecase run --demo`` runs, its ``/metrics`` has every reader's lag on the
    local log, the worker's and projectors' events, and the calls to the simulated org."""
    last: list[Scrape] = []

    def complete() -> bool:
        assert proc.alive(), proc.output()[-3000:]
        now = scrape(port)
        if now is None:
            return False
        last[:] = [now]
        lagging = {s.labels["group"] for s in now.series("telecase_consumer_lag")}
        return (lagging >= EMBEDDED_CONSUMERS
                and now.total("telecase_ticket_events_appended_total", type="ticket.opened") > 0
                and now.total("telecase_projection_events_total", projector="audit") > 0
                and _case_writes(now) > 0)

    wait_for(complete, 60, what="every reader's lag, events and Salesforce calls in /metrics")
    [now] = last
    assert all(s.value >= 0 for s in now.series("telecase_consumer_lag"))
    assert now.total("telecase_salesforce_api_calls_total", operation="login") >= 1


def _case_writes(now: Scrape) -> float:
    """Calls that wrote Cases: a batch of Cases alone goes as an sObject Collection upsert, a
    batch with new people as one Composite call folding every write
    (``connectors.salesforce.folding``)."""
    return sum(now.total("telecase_salesforce_api_calls_total", operation=operation,
                         outcome="ok")
               for operation in ("composite.sobjects.Case.upsert", "composite"))


def expected_from_log(dep: EmbeddedDeployment) -> dict[str, int]:
    """Tickets and their distinct customer messages, derived from the raw log alone."""
    messages: dict[str, set[int]] = {}
    for record in dep.read_topic(dep.names.telegram_updates):
        envelope = RawTelegramUpdate.model_validate_json(record.value)
        routed = route(Update.model_validate(envelope.update), envelope.bot_id)
        if isinstance(routed, Routed) and routed.channel == "forum_topic":
            ids = messages.setdefault(f"tg:{routed.chat_id}:t{routed.thread_id}", set())
            if routed.service is None:
                ids.add(routed.message.message_id)
    return {ticket: len(ids) for ticket, ids in messages.items()}


def test_sigkill_during_the_demo_loses_no_accepted_update_and_doubles_no_ticket(
        embedded: EmbeddedDeployment) -> None:
    first = embedded.start("demo1", "run", "--demo", TELECASE_TELEGRAM_BOT_TOKEN="")
    wait_for(lambda: len(embedded.cases()) >= 3, 60, what="tickets before the kill")
    time.sleep(1.5)
    first.kill()  # SIGKILL: no clean shutdown
    accepted = len(embedded.read_topic(embedded.names.telegram_updates))
    second = embedded.start("demo2", "run", "--demo", "--duration", "4",
                            TELECASE_TELEGRAM_BOT_TOKEN="")
    assert second.proc is not None and second.proc.wait(90) == 0, second.output()[-3000:]
    raw = embedded.read_topic(embedded.names.telegram_updates)
    assert len(raw) >= accepted  # every update acknowledged before the kill is still there
    # the worker folded every accepted update exactly once, and the projection agrees
    assert embedded.position("telecase-worker", embedded.names.telegram_updates) == len(raw)
    rows = {r["ticket_id"]: r["message_count"] for r in embedded.cases()}
    assert rows == expected_from_log(embedded)
    log = ticket_log(embedded)  # gap-free seq per ticket, no re-derived duplicates
    opened = Counter(e.ticket_id for events in log.values() for e in events
                     if e.type == "ticket.opened")
    assert set(opened.values()) == {1}


def test_sigkill_mid_stream_with_telegram_retrying_loses_and_doubles_nothing(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    proc = embedded.run("run1")
    telegram.bot_api("setWebhook", url=embedded.webhook_url,
                     secret_token=embedded.webhook_secret)
    topics, per_topic = 5, 30

    async def setup(tg: Any) -> tuple[int, list[tuple[int, int]]]:
        forum = await tg.create_forum("Sales")
        opened = []
        for n in range(topics):
            user = await tg.create_user(f"P{n}")
            topic = await tg.open_topic(forum["id"], user["id"], f"Inquiry {n}")
            opened.append((user["id"], topic.thread_id))
        return forum["id"], opened

    forum_id, opened = telegram.drive(setup)

    def traffic() -> None:
        async def write_all(tg: Any) -> None:
            for i in range(per_topic):
                for user_id, thread in opened:
                    await tg.write(forum_id, user_id, f"m{i}", thread)
                time.sleep(0.03)
        telegram.drive(write_all)

    writer = threading.Thread(target=traffic)
    writer.start()
    wait_for(lambda: sum(r["message_count"] for r in embedded.cases()) > 20, 60,
             what="traffic flowing")
    proc.kill()
    time.sleep(1.0)  # Telegram's deliveries fail meanwhile and are retried
    embedded.run("run2")
    writer.join(120)
    wait_for(lambda: sorted(r["message_count"] for r in embedded.cases())
             == [per_topic] * topics, 120, what="every message projected once")
    log = ticket_log(embedded)
    assert all(sum(e.type == "customer.message_received" for e in events) == per_topic
               for events in log.values())


def _run_once(data_dir: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "TELECASE_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "telecase", "run", "--demo", "--duration", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_corrupt_log_file_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "log.sqlite").write_bytes(b"this is not a database" * 100)
    done = _run_once(data)
    assert done.returncode == 2
    assert "not a readable telecase log" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_corrupt_projection_file_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "projections.sqlite").write_bytes(b"garbage" * 1000)
    done = _run_once(data)
    assert done.returncode == 2
    assert "projection database" in done.stderr and "move it aside" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_log_in_use_by_another_process_is_a_clear_error(
        embedded: EmbeddedDeployment) -> None:
    embedded.run("first")
    done = _run_once(embedded.data_dir)
    assert done.returncode == 2
    assert "in use by another process" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_ctrl_c_stops_cleanly_and_a_restart_resumes(embedded: EmbeddedDeployment,
                                                     telegram: SimulatorThread) -> None:
    proc = embedded.run("run1")
    telegram.bot_api("setWebhook", url=embedded.webhook_url,
                     secret_token=embedded.webhook_secret)

    async def chat(tg: Any, text: str) -> None:
        user = await tg.create_user("Dana")
        private = await tg.create_private_chat(user["id"])
        for i in range(5):
            await tg.write(private["id"], user["id"], f"{text} {i}")

    telegram.drive(lambda tg: chat(tg, "before"))
    wait_for(lambda: [r["message_count"] for r in embedded.cases()] == [5], 60,
             what="first conversation projected")
    assert proc.proc is not None
    proc.proc.send_signal(2)  # Ctrl-C
    assert proc.proc.wait(30) == 0, proc.output()[-2000:]
    raw = embedded.read_topic(embedded.names.telegram_updates)
    assert embedded.position("telecase-worker", embedded.names.telegram_updates) == len(raw)

    telegram.drive(lambda tg: chat(tg, "while stopped"))  # Telegram keeps retrying these
    embedded.run("run2")
    wait_for(lambda: sorted(r["message_count"] for r in embedded.cases()) == [5, 5], 60,
             what="the conversation sent while telecase was down")


def test_bench_ingest_on_the_embedded_runtime_reports_its_figures(tmp_path: Path) -> None:
    import json
    done = subprocess.run([sys.executable, "-m", "telecase", "bench", "ingest", "--runtime",
                           "embedded", "--rates", "100,200", "--seconds", "2", "--chats", "20"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["runtime"] == "embedded"
    assert [s["offered_per_s"] for s in figures["steps"]] == [100, 200]
    for step in figures["steps"]:
        assert step["acknowledged"] == step["offered"] == step["offered_per_s"] * 2
        assert step["delivery_delay_ms"]["p99"] > 0 and step["telecase_cpu_per_s"] > 0
        assert step["sender_cpu_ms_per_update"] > 0  # what the sender took from the machine
        assert step["lag_at_end"]["telecase-worker"] >= 0 and step["drained_s"] < 300
    assert figures["sustained_updates_per_s"] in (0, 100, 200)


def test_a_topic_becomes_one_case_with_contact_and_tasks_embedded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    from tests.e2e.kafka.conftest import SalesforceThread, salesforce_scenario
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        embedded.run("run", **salesforce.env())
        salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                            embedded.webhook_secret)
    finally:
        salesforce.close()


def test_an_agents_case_comment_reaches_the_customers_topic_embedded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    from tests.e2e.kafka.conftest import (
        SalesforceThread,
        agent_reply_scenario,
        salesforce_scenario,
    )
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    embedded.agent_ids = str(enrol_agent(telegram))
    try:
        embedded.run("run", **salesforce.env(), TELECASE_SALESFORCE_POLL_INTERVAL="0.5",
                     TELECASE_TELEGRAM_API_BASE=telegram.base_url)
        where = salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                                    embedded.webhook_secret)
        agent_reply_scenario(telegram, salesforce, where, embedded.cases,
                             int(embedded.agent_ids))
    finally:
        salesforce.close()


def test_a_salesforce_outage_keeps_the_backlog_and_it_drains_once_embedded(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    from tests.e2e.kafka.conftest import SalesforceThread, outage_scenario, salesforce_scenario
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        embedded.run("run", **salesforce.env(), TELECASE_SALESFORCE_POLL_INTERVAL="0.5",
                     TELECASE_SALESFORCE_SYNC_MAX_BACKOFF="2",
                     TELECASE_SALESFORCE_POLL_MAX_BACKOFF="2",
                     TELECASE_TELEGRAM_API_BASE=telegram.base_url)
        where = salesforce_scenario(telegram, salesforce, embedded.webhook_url,
                                    embedded.webhook_secret)
        outage_scenario(telegram, salesforce, where)
    finally:
        salesforce.close()


def test_a_deleted_projection_file_is_rebuilt_from_the_log(embedded: EmbeddedDeployment) -> None:
    first = embedded.start("demo1", "run", "--demo", "--duration", "6",
                           TELECASE_TELEGRAM_BOT_TOKEN="")
    assert first.proc is not None and first.proc.wait(90) == 0, first.output()[-2000:]
    before = {r["ticket_id"]: r["message_count"] for r in embedded.cases()}
    assert before
    for name in ("projections.sqlite", "projections.sqlite-wal", "projections.sqlite-shm"):
        (embedded.data_dir / name).unlink(missing_ok=True)
    second = embedded.start("demo2", "run", "--demo", "--duration", "3",
                            TELECASE_TELEGRAM_BOT_TOKEN="")
    assert second.proc is not None and second.proc.wait(90) == 0, second.output()[-2000:]
    after = {r["ticket_id"]: r["message_count"] for r in embedded.cases()}
    # every earlier ticket is back, with what the log holds for it (the demo's customers
    # write on in their topics after a restart: telecase.demo.world)
    assert set(before) <= set(after)
    assert all(after[t] >= before[t] for t in before)
    assert after == expected_from_log(embedded)
