"""Poison records are quarantined, never fatal (``streams.runtime.quarantine``): the ticket
worker, the desk and the reply mirror, fed a record their code raises on, dead-letter it with the
reason, origin, stage and traceback and go on with the next one; a fault of their own
infrastructure (the log's write failing) is retried and loses nothing. The embedded runtime; the
projectors' own case is ``tests/adapters/projections/test_poison_event.py`` (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.raw_log import BusRawLog
from streams.assignment import AssignmentPolicy
from streams.runtime import batch_store
from streams.runtime import desk as desk_module
from streams.runtime import fold as fold_module
from streams.runtime.bus import Outgoing
from streams.runtime.desk import DeskWorker, EmbeddedDeskStore
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.topics import TopicNames
from streams.schema import events as ev
from streams.schema.commands import Assignment
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import decode_event, encode_event
from tests import infra
from tests.telegram_factory import BOT_ID, Script, private, user

T0 = 1_780_000_000
CHATS = (7101, 7102, 7103)
POISON_CHAT = 7102


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", 1)
    names = TopicNames()
    for topic in (names.telegram_updates, names.salesforce_changes, names.ticket_commands,
                  names.ticket_events, names.desk_requests, names.dead_letters):
        await log.create_topic(topic, 1)
    yield log
    await log.close()


async def _letters(log: EmbeddedLog) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r.value)
            for r in await log.read(TopicNames().dead_letters, 0, 0, 100)]


async def _tickets(log: EmbeddedLog) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in await log.read(TopicNames().ticket_events, 0, 0, 1000):
        event = decode_event(r.value)
        out.setdefault(event.ticket_id, []).append(event.type)
    return out


async def _chats(log: EmbeddedLog) -> list[int]:
    return sorted(int(ticket_id.split(":")[1]) for ticket_id in await _tickets(log))


async def _updates(log: EmbeddedLog) -> None:
    envelopes = []
    for chat in CHATS:
        update = Script(private(chat), start_update=chat * 10).write(
            user(chat, f"Customer {chat}"), "hello", T0)
        envelopes.append(RawTelegramUpdate(bot_id=BOT_ID, source="webhook", update=update,
                                           received_at=datetime.fromtimestamp(T0, UTC)))
    await BusRawLog(log, TopicNames().telegram_updates).append(envelopes)


async def _run_worker(log: EmbeddedLog, until: Callable[[], Any]) -> EmbeddedWorker:
    worker = EmbeddedWorker(log, TopicNames(), linger=0)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await infra.wait_until(until, timeout=15, interval=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return worker


async def test_the_worker_dead_letters_an_update_its_fold_raises_on(
        log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    real_route = fold_module.route

    def route(update: Any, *args: Any) -> Any:
        if update.message is not None and update.message.chat.id == POISON_CHAT:
            raise KeyError("a bug the update triggers")
        return real_route(update, *args)

    monkeypatch.setattr(fold_module, "route", route)
    await _updates(log)

    async def settled() -> bool:
        return len(await _tickets(log)) == 2 and len(await _letters(log)) == 1

    worker = await _run_worker(log, settled)
    [letter] = await _letters(log)
    assert (letter.reason, letter.consumer, letter.offset) == ("fold_failed", "ticket-folder", 1)
    assert letter.topic == TopicNames().telegram_updates
    assert letter.traceback and "KeyError" in letter.traceback.splitlines()[-1]
    assert "in route" in letter.traceback
    assert await _chats(log) == [c for c in CHATS if c != POISON_CHAT]
    assert worker.folded == 3
    assert await log.committed("telecase-worker", TopicNames().telegram_updates) == {0: 3}


async def test_a_batch_that_fails_is_folded_record_by_record_and_the_poison_one_dead_lettered(
        log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure is outside the fold (the batch's write of a thread's state), so the whole
    batch fails first; folded one by one, only the poison one's thread fails."""
    real_dump = batch_store.dump_thread  # the workers' batch store encodes the states

    def dump_thread(state: Any) -> bytes:
        if state.thread_key.startswith(f"{POISON_CHAT}"):
            raise ValueError("cannot encode this thread")
        return bytes(real_dump(state))

    monkeypatch.setattr(batch_store, "dump_thread", dump_thread)
    await _updates(log)

    async def settled() -> bool:
        return len(await _letters(log)) == 1 and len(await _tickets(log)) == 2

    await _run_worker(log, settled)
    [letter] = await _letters(log)
    assert (letter.reason, letter.offset) == ("worker_failed", 1)
    assert letter.traceback and "ValueError" in letter.traceback
    assert await _chats(log) == [c for c in CHATS if c != POISON_CHAT]
    assert await log.committed("telecase-worker", TopicNames().telegram_updates) == {0: 3}


async def test_the_worker_retries_its_log_failing_and_loses_nothing(
        log: EmbeddedLog) -> None:
    real, calls = log.put_states_in, 0

    def failing_twice(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    log.put_states_in = failing_twice  # type: ignore[method-assign]
    await _updates(log)

    async def settled() -> bool:
        return len(await _tickets(log)) == 3

    await _run_worker(log, settled)
    assert await _letters(log) == []
    assert await _chats(log) == list(CHATS)
    assert all(types.count("ticket.opened") == 1 for types in (await _tickets(log)).values())


POLICY = AssignmentPolicy.from_toml("""
[routing]
default_queue = "sales"
[queues.sales]
strategy = "round_robin"
[agents.ann]
name = "Ann"
salesforce_user_id = "005Hs00000A1b2CIAR"
queues = ["sales"]
capacity = 5
""")


def _opened(ticket_id: str, chat: int) -> list[ev.TicketEvent]:
    at = datetime.fromtimestamp(T0, UTC)
    customer = ev.Customer(telegram_user_id=chat, first_name="Pat")
    common: dict[str, Any] = {"ticket_id": ticket_id, "occurred_at": at, "recorded_at": at,
                              "source": ev.SourceRef(kind="telegram"),
                              "actor": ev.Actor(kind="customer")}
    return [ev.TicketOpened(event_id=f"{ticket_id}#1", seq=1, channel="private_chat",
                            chat_id=chat, thread_id=None, thread_key=f"{chat}",
                            subject="Inquiry", subject_message_id=1, customer=customer,
                            customer_message_id=1, **common),
            ev.CustomerMessageReceived(event_id=f"{ticket_id}#2", seq=2, message_id=2,
                                       sender=customer, text="hello", content_kind="text",
                                       message_version=0, reply_to_message_id=None,
                                       **(common | {"recorded_at": at + timedelta(seconds=1)}))]


async def test_the_desk_dead_letters_an_event_it_raises_on(
        log: EmbeddedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    names = TopicNames()
    poison = f"tg:{POISON_CHAT}:p:1"
    real_commands = desk_module.desk_commands

    def desk_commands(event: ev.TicketEvent, at: datetime) -> Any:
        if event.ticket_id == poison:
            raise ZeroDivisionError("a bug the event triggers")
        return real_commands(event, at)

    monkeypatch.setattr(desk_module, "desk_commands", desk_commands)
    events = [e for chat in CHATS for e in _opened(f"tg:{chat}:p:1", chat)]
    await log.append(names.ticket_events, [
        Outgoing(e.ticket_id.encode(), encode_event(e), partition=0) for e in events])
    desk = DeskWorker(log, names, POLICY, EmbeddedDeskStore(log, names), sla_enabled=False,
                      linger=0)
    stop = asyncio.Event()
    task = asyncio.create_task(desk.run(stop))

    async def assigned() -> list[str]:
        return [Assignment.model_validate_json(r.value).ticket_id
                for r in await log.read(names.ticket_commands, 0, 0, 100)
                if b'"assigned"' in r.value]

    async def settled() -> bool:
        return len(await _letters(log)) == 1 and len(await assigned()) == 2

    try:
        await infra.wait_until(settled, timeout=15, interval=0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    [letter] = await _letters(log)
    assert (letter.reason, letter.consumer) == ("desk_failed", "desk")
    assert (letter.topic, letter.offset) == (names.ticket_events, 3)  # the poison's message
    assert letter.traceback and "ZeroDivisionError" in letter.traceback
    assert sorted(await assigned()) == [f"tg:{c}:p:1" for c in CHATS if c != POISON_CHAT]
    assert desk.positions[names.ticket_events] == {0: len(events)}


async def test_the_reply_mirror_dead_letters_a_reply_it_raises_on(tmp_path: Path) -> None:
    from connectors.telegram.reply_mirror import render_reply
    from tests.adapters.telegram_out.conftest import harness, opened, replied

    def render(event: ev.AgentReplied) -> str:
        if event.text == "poison":
            raise UnicodeError("a bug the reply triggers")
        return render_reply(event)

    async with harness(tmp_path) as h:
        forum = await h.tg.create_forum("Sales")
        ann = await h.tg.create_user("Ann")
        thread = (await h.tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
        ticket = f"tg:{forum['id']}:t{thread}"
        await h.append(opened(ticket, forum["id"], thread),
                       *[replied(ticket, n, text, forum["id"], thread)
                         for n, text in enumerate(("first", "poison", "third"), start=2)])
        mirror = h.start(render=render)
        await h.wait(lambda: mirror.stats.sent == 2 and mirror.stats.dead_lettered == 1)
        await h.wait(lambda: mirror.pending == 0)
        await h.stop()
        texts = [m["text"] for m in await h.sent(forum["id"])]
        [letter] = [DeadLetter.model_validate_json(r.value)
                    for r in await h.records(h.names.dead_letters)]
        committed = await h.bus.committed("telegram-mirror", h.names.ticket_events)
    assert [t.split("\n")[-1] for t in texts] == ["first", "third"]
    assert (letter.reason, letter.consumer, letter.offset) == (
        "mirror_failed", "telegram-mirror", 2)
    assert letter.traceback and "UnicodeError" in letter.traceback
    assert committed == {0: 4}
