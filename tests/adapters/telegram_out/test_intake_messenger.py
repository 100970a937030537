"""The intake messenger against the Telegram simulator over HTTP, on the embedded log: each
question once with its keyboard (redelivery and restarts send nothing twice), one topic per
intake ticket with its summary, announced to the worker, and refusals dead-lettered."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from connectors.raw_log import BusRawLog
from connectors.telegram.intake_messenger import IntakeMessenger
from connectors.telegram.intake_topics import IntakeTopics
from streams.core.intake import question
from streams.core.intake_form import default_form
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    Actor,
    Customer,
    IntakeAnswers,
    IntakeQuestionAsked,
    SourceRef,
    TicketOpened,
)
from streams.schema.intake_records import IntakeTopicRecord
from tests.adapters.telegram_out.conftest import LOOSE, T0, Harness

ANSWERS = IntakeAnswers(name="Ann Lee", company="Acme Corp", product="Widgets",
                        region="EMEA", deal_size=Decimal(120000), phone="+15550100")


def asked(chat_id: int, seq: int, field: str) -> IntakeQuestionAsked:
    form = f"tg:{chat_id}:p:intake:1"
    return IntakeQuestionAsked(
        event_id=f"{form}#{seq}", ticket_id=form, seq=seq, occurred_at=T0, recorded_at=T0,
        source=SourceRef(kind="telegram", chat_id=chat_id), actor=Actor(kind="bot"),
        chat_id=chat_id, **question(default_form(), field, {}, None))  # type: ignore[arg-type]


def opened(chat_id: int) -> TicketOpened:
    ticket = f"tg:{chat_id}:p:1"
    return TicketOpened(
        event_id=f"{ticket}#1", ticket_id=ticket, seq=1, occurred_at=T0, recorded_at=T0,
        source=SourceRef(kind="telegram", chat_id=chat_id), actor=Actor(kind="customer"),
        channel="private_chat", chat_id=chat_id, thread_id=None, thread_key=f"{chat_id}:p",
        subject="Acme Corp: Widgets (Ann Lee)", subject_message_id=9,
        customer=Customer(telegram_user_id=chat_id, username="ann", phone="+15550100"),
        customer_message_id=9, intake=ANSWERS)


def messenger(h: Harness, team: int | None) -> IntakeMessenger:
    return IntakeMessenger(h.bus, h.names, h.api, h.ledger, IntakeTopics(h.ledger.engine),
                           raw_log=BusRawLog(h.bus, h.names.telegram_updates),
                           topic_chat_id=team, limits=LOOSE)


async def run_until(h: Harness, m: IntakeMessenger, condition: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(m.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not await condition():
            if task.done():
                task.result()
            assert asyncio.get_running_loop().time() < deadline, "condition not met"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # anything more it would wrongly do, it does now
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_question_goes_out_once_with_its_keyboard(h: Harness,
                                                          ann: dict[str, Any]) -> None:
    chat = ann["id"]
    await h.tg.create_private_chat(chat)
    await h.append(asked(chat, 2, "region"))
    first = messenger(h, None)
    await run_until(h, first, lambda: _count(h, chat, 1))
    [sent] = await h.sent(chat)
    assert sent["text"].startswith("Which region")
    keyboard = await h.tg.reply_keyboard(chat)
    assert keyboard is not None
    assert [b["text"] for row in keyboard["keyboard"] for b in row] == [
        "EMEA", "Americas", "APAC", "⬅ Back", "✖ Cancel"]
    await h.append(asked(chat, 2, "region"))  # redelivered
    await h.bus.commit("telegram-intake", h.names.ticket_events, {0: 0})  # and re-read
    await run_until(h, messenger(h, None), lambda: _count(h, chat, 1))
    assert len(await h.sent(chat)) == 1


async def test_an_intake_ticket_gets_one_topic_with_its_summary(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    await h.append(opened(ann["id"]))
    await run_until(h, messenger(h, forum["id"]), lambda: _count(h, forum["id"], 1))
    [topic] = await h.tg.topics(forum["id"])
    assert topic["name"] == "Acme Corp · Ann Lee"
    [summary] = await h.sent(forum["id"])
    assert summary["message_thread_id"] == topic["message_thread_id"]
    assert "Deal size: 120,000" in summary["text"] and "Telegram: @ann" in summary["text"]
    records = [IntakeTopicRecord.model_validate_json(r.value)
               for r in await h.records(h.names.telegram_updates)]
    assert {(r.side, r.routing_key()) for r in records} == {
        ("topic", f"chat:{forum['id']}"), ("ticket", f"chat:{ann['id']}")}
    await h.bus.commit("telegram-intake", h.names.ticket_events, {0: 0})  # read again
    await run_until(h, messenger(h, forum["id"]), lambda: _count(h, forum["id"], 1))
    assert len(await h.tg.topics(forum["id"])) == 1 and len(await h.sent(forum["id"])) == 1


async def test_a_refusal_is_dead_lettered_and_the_rest_goes_on(
        h: Harness, ann: dict[str, Any]) -> None:
    bob = await h.tg.create_user("Bob")
    await h.tg.create_private_chat(ann["id"])
    await h.tg.create_private_chat(bob["id"])
    await h.tg.block_bot(ann["id"])
    await h.append(asked(ann["id"], 2, "name"), asked(bob["id"], 2, "name"))
    await run_until(h, messenger(h, None), lambda: _count(h, bob["id"], 1))
    [letter] = [DeadLetter.model_validate_json(r.value)
                for r in await h.records(h.names.dead_letters)]
    assert letter.reason == "telegram_rejected" and "blocked" in letter.detail
    assert letter.key == f"tg:{ann['id']}:p:intake:1#2"


async def _count(h: Harness, chat: int, n: int) -> bool:
    return len(await h.sent(chat)) >= n

