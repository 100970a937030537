"""The reply mirror and agents' commands (the Telegram simulator over real HTTP): what a
command produced is sent whatever ``via`` says; an agent whose command sent nothing is told
privately, else in the topic; each once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.schema.events import (
    Actor,
    Agent,
    AgentCommandRefused,
    AgentReplied,
    SourceRef,
    TemplateRef,
)
from tests.adapters.telegram_out.conftest import T0, Harness, harness, opened


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path) as opened_harness:
        yield opened_harness


def refused(ticket: str, seq: int, chat: int, thread: int, agent_tg: int,
            name: str = "Alex") -> AgentCommandRefused:
    at = T0 + timedelta(seconds=seq)
    return AgentCommandRefused(
        event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, occurred_at=at, recorded_at=at,
        source=SourceRef(kind="telegram", chat_id=chat, message_id=50 + seq),
        actor=Actor(kind="agent", id=str(agent_tg)), command="template", argument="pricng",
        reason="unknown_template", detail="There is no template called 'pricng'.",
        via="telegram", agent=Agent(telegram_user_id=agent_tg, display_name=f"@{name}"),
        message_id=50 + seq, chat_id=chat, thread_id=thread)


def templated(ticket: str, seq: int, chat: int, thread: int, *, template: bool) -> AgentReplied:
    at = T0 + timedelta(seconds=seq)
    return AgentReplied(
        event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, occurred_at=at, recorded_at=at,
        source=SourceRef(kind="telegram", chat_id=chat, message_id=60 + seq),
        actor=Actor(kind="agent", id="90"), via="telegram", message_id=60 + seq, chat_id=chat,
        thread_id=thread, agent=Agent(telegram_user_id=90, display_name="@alex"),
        text="Team is $10 a seat." if template else "written in the topic",
        template=TemplateRef(name="pricing", source="file") if template else None)


async def test_command_replies_are_sent_and_plain_telegram_replies_are_not(
        h: Harness) -> None:
    forum = await h.tg.create_forum("Sales")
    ann = await h.tg.create_user("Ann")
    thread = (await h.tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(opened(ticket, forum["id"], thread),
                   templated(ticket, 2, forum["id"], thread, template=False),
                   templated(ticket, 3, forum["id"], thread, template=True))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    await h.wait(lambda: mirror.pending == 0)
    assert [m["text"] for m in await h.sent(forum["id"])] == ["@alex:\nTeam is $10 a seat."]


async def test_an_agent_is_told_privately_else_in_the_topic_once(h: Harness) -> None:
    forum = await h.tg.create_forum("Sales")
    ann = await h.tg.create_user("Ann")
    alex = await h.tg.create_user("Alex", username="alex")
    bo = await h.tg.create_user("Bo", username="bo")
    await h.tg.create_private_chat(alex["id"])  # Alex started the bot, Bo never did
    thread = (await h.tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(opened(ticket, forum["id"], thread),
                   refused(ticket, 2, forum["id"], thread, alex["id"], "alex"),
                   refused(ticket, 3, forum["id"], thread, bo["id"], "bo"))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.agent_notices == 2)
    private: list[dict[str, Any]] = await h.sent(alex["id"])
    assert [m["text"] for m in private] == [
        "Your /t pricng sent nothing. There is no template called 'pricng'."]
    in_topic = await h.sent(forum["id"])
    assert [(m["message_thread_id"], m["text"]) for m in in_topic] == [
        (thread, "Note for @bo (not sent to the customer): Your /t pricng sent nothing. "
                 "There is no template called 'pricng'.")]
    await h.stop()
    again = h.start(group="telegram-mirror-rebuilt")  # re-reading the log resends nothing
    await h.wait(lambda: again.stats.already_delivered == 2)
    assert len(await h.sent()) == 2
