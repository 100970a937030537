"""End to end on the real broker and server: the Telegram simulator delivers to telecase's
webhook (or is long-polled), the worker folds updates into ticket.events, the projector writes
``cases`` rows in PostgreSQL, exactly once, whatever is redelivered or restarted."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from streams.schema.events import TicketEvent, decode_event
from tests.e2e.kafka.conftest import Deployment, SimulatorThread
from tests.infra import wait_for

pytestmark = pytest.mark.integration


def ticket_log(dep: Any) -> dict[str, list[TicketEvent]]:
    """ticket.events grouped by ticket, checked: keyed by ticket id, one partition per ticket,
    gap-free seq from 1, and any repeated (ticket, seq) identical to the first."""
    by_ticket: dict[str, dict[int, TicketEvent]] = defaultdict(dict)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record in dep.read_topic(dep.names.ticket_events):
        event = decode_event(record.value)
        assert record.key == event.ticket_id.encode()
        partitions[event.ticket_id].add(record.partition)
        first = by_ticket[event.ticket_id].setdefault(event.seq, event)
        assert first == event, f"{event.event_id} re-derived differently"
    for ticket_id, seqs in by_ticket.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), ticket_id
        assert len(partitions[ticket_id]) == 1, ticket_id
    return {t: [seqs[i] for i in sorted(seqs)] for t, seqs in by_ticket.items()}


def rows_by_subject(dep: Any) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in dep.cases()}


def test_topic_group_conversations_become_case_rows_exactly_once(
        deployment: Deployment, telegram: SimulatorThread) -> None:
    dep = deployment
    dep.agent_ids = str(enrol_agent(telegram))
    dep.webhook()
    dep.worker()
    dep.projector()
    topic_group_scenario(dep, telegram)


def enrol_agent(telegram: SimulatorThread) -> int:
    """Alex, a sales agent on the roster, who answers inside the group."""
    return int(telegram.drive(lambda tg: tg.create_user("Alex", username="alex_sales"))["id"])


def topic_group_scenario(dep: Any, telegram: SimulatorThread) -> None:
    """The ticket scenario every runtime must pass: ``dep`` has ``webhook_url``,
    ``webhook_secret``, ``names``, ``cases()`` and ``read_topic(name)``."""
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)

    async def conversation(tg: Any) -> dict[str, Any]:
        agent_id = int(dep.agent_ids)
        ann = await tg.create_user("Ann", username="ann")
        bob = await tg.create_user("Bob", username="bob")
        cy = await tg.create_user("Cy")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Pricing for 50 seats")
        first = await tg.write(forum["id"], ann["id"], "What does it cost?", topic.thread_id)
        await tg.write(forum["id"], ann["id"], "Annual billing?", topic.thread_id)
        await tg.edit(forum["id"], first.message_id, "What does 50 seats cost?")
        await tg.write(forum["id"], agent_id, "49 EUR per seat per month", topic.thread_id)
        await tg.rename_topic(forum["id"], topic.thread_id, ann["id"], "Pricing: ACME")
        await tg.write(forum["id"], bob["id"], "Hi, is this the sales desk?")  # General topic
        private = await tg.create_private_chat(cy["id"])
        await tg.write(private["id"], cy["id"], "I need a demo")
        group = await tg.create_discussion_group("Channel comments")
        post = await tg.post_to_channel(group["id"], "We launched v2")
        await tg.write(group["id"], cy["id"], "nice post", post.message_id)  # not a topic
        closed = await tg.close_topic(forum["id"], topic.thread_id, ann["id"])
        return {"forum": forum, "thread": topic.thread_id, "last_update": closed.update_id}

    seen = telegram.drive(conversation)
    wait_for(lambda: len(dep.cases()) == 3 and
             rows_by_subject(dep).get("Pricing: ACME", {}).get("status") == "closed",
             120, what="three cases, the topic closed")
    rows = rows_by_subject(dep)
    topic_row = rows["Pricing: ACME"]
    assert topic_row["ticket_id"] == f"tg:{seen['forum']['id']}:t{seen['thread']}"
    assert topic_row["channel"] == "forum_topic" and topic_row["message_count"] == 2
    assert topic_row["customer_username"] == "ann"
    assert topic_row["agent_reply_count"] == 1 and topic_row["first_response_at"] is not None
    general = rows["@bob: Hi, is this the sales desk?"]
    assert general["channel"] == "general_topic" and general["message_count"] == 1
    private = rows["Cy: I need a demo"]
    assert private["channel"] == "private_chat" and private["status"] == "open"

    log = ticket_log(dep)
    assert [e.type for e in log[topic_row["ticket_id"]]] == [
        "ticket.opened", "customer.message_received", "customer.message_received",
        "customer.message_edited", "agent.replied", "topic.renamed", "topic.closed"]

    # Telegram retries updates it thinks were not delivered: nothing new may come of them.
    async def redeliver_everything(tg: Any) -> int:
        updates = await tg.updates()
        for update in updates:
            await tg.redeliver(update["update_id"])
        return len(updates)

    assert telegram.drive(redeliver_everything) >= 10
    before = dep.read_topic(dep.names.ticket_events)
    wait_for(lambda: all(e["status"] == 200 for e in telegram.drive(
        lambda tg: tg.webhook_log())[-3:]), 30, what="redeliveries acknowledged")
    time.sleep(3)  # the worker has had time to fold them
    assert len(dep.read_topic(dep.names.ticket_events)) == len(before)
    assert rows_by_subject(dep) == rows


def test_long_polling_advances_the_offset_only_after_the_batch_is_durable(
        deployment: Deployment, telegram: SimulatorThread) -> None:
    dep = deployment
    connector = dep.start("connector", "connector", "telegram",
                          TELECASE_TELEGRAM_MODE="polling",
                          TELECASE_TELEGRAM_API_BASE=telegram.base_url)
    dep.worker()
    dep.projector()

    async def conversation(tg: Any) -> None:
        ann = await tg.create_user("Ann", username="ann")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Onboarding")
        for i in range(5):
            await tg.write(forum["id"], ann["id"], f"question {i}", topic.thread_id)

    telegram.drive(conversation)
    wait_for(lambda: [r["message_count"] for r in dep.cases()] == [5], 120,
             what="the polled topic's case with 5 messages")
    # getUpdates confirmed everything: Telegram holds no pending update for the bot.
    wait_for(lambda: telegram.bot_api("getWebhookInfo")["pending_update_count"] == 0, 30,
             what="all updates confirmed")
    # A restarted poller starts from Telegram's confirmed offset: nothing is read twice.
    connector.stop()
    raw_before = len(dep.read_topic(dep.names.telegram_updates))
    dep.start("connector2", "connector", "telegram", TELECASE_TELEGRAM_MODE="polling",
              TELECASE_TELEGRAM_API_BASE=telegram.base_url)
    telegram.drive(lambda tg: _one_more(tg))
    wait_for(lambda: sorted(r["message_count"] for r in dep.cases()) == [1, 5], 60,
             what="the new private ticket")
    assert len(dep.read_topic(dep.names.telegram_updates)) == raw_before + 1


async def _one_more(tg: Any) -> None:
    zed = await tg.create_user("Zed")
    chat = await tg.create_private_chat(zed["id"])
    await tg.write(chat["id"], zed["id"], "hello?")


def test_restarting_worker_and_projector_mid_stream_loses_and_doubles_nothing(
        deployment: Deployment, telegram: SimulatorThread) -> None:
    dep = deployment
    dep.webhook()
    worker = dep.worker()
    projector = dep.projector()
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    topics, per_topic = 6, 40

    async def setup(tg: Any) -> tuple[int, list[tuple[int, int]]]:
        forum = await tg.create_forum("Sales")
        opened = []
        for n in range(topics):
            user = await tg.create_user(f"Prospect {n}")
            topic = await tg.open_topic(forum["id"], user["id"], f"Inquiry {n}")
            opened.append((user["id"], topic.thread_id))
        return forum["id"], opened

    forum_id, opened = telegram.drive(setup)
    done = threading.Event()

    def traffic() -> None:
        async def write_all(tg: Any) -> None:
            for i in range(per_topic):
                for user_id, thread_id in opened:
                    await tg.write(forum_id, user_id, f"message {i}", thread_id)
                time.sleep(0.05)
        telegram.drive(write_all)
        done.set()

    writer = threading.Thread(target=traffic)
    writer.start()
    wait_for(lambda: sum(r["message_count"] for r in dep.cases()) > 20, 120,
             what="traffic flowing")
    worker.kill()
    projector.kill()
    time.sleep(1)
    dep.worker("worker2")
    dep.projector("projector2")
    wait_for(lambda: sum(r["message_count"] for r in dep.cases()) > 100, 120,
             what="progress after restart")
    projector_again = dep.projector("projector3")  # a second projector joins and shares
    writer.join(120)
    assert done.is_set()
    try:
        wait_for(lambda: sum(r["message_count"] for r in dep.cases()) == topics * per_topic,
                 180, what="every message projected")
    except AssertionError:
        raw = dep.read_topic(dep.names.telegram_updates)
        events = dep.read_topic(dep.names.ticket_events)
        print("DIAG raw", len(raw), "events", len(events),
              "received", sum(b"message_received" in e.value for e in events),
              "rows", [(r["ticket_id"], r["message_count"], r["last_seq"]) for r in dep.cases()])
        raise
    rows = dep.cases()
    assert len(rows) == topics
    assert all(r["message_count"] == per_topic for r in rows)
    log = ticket_log(dep)
    assert {t: sum(e.type == "customer.message_received" for e in events)
            for t, events in log.items()} == {r["ticket_id"]: per_topic for r in rows}
    assert all(r["last_seq"] == len(log[r["ticket_id"]]) for r in rows)
    projector_again.stop()
