"""The whole reply mirror against the simulator's rules: the bot's rights varied, and 429 on
each topic method it calls (sendMessage, reopenForumTopic, createForumTopic).

With ``can_manage_topics`` a reply reaches an open topic, a closed one (reopened first, so the
customer can answer) and a deleted one (recreated). Without it, a reply to an open topic still
goes; a closed customer topic and a deleted topic are dead-lettered with the missing right in
the description -- a refusal for good, visible at once, not a silent success.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.telegram.reply_mirror import ReplyMirror
from streams.schema.deadletter import DeadLetter
from tests.adapters.telegram_out.conftest import Harness, harness, opened, replied


async def _letters(h: Harness) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for record in await h.records(h.names.dead_letters):
        letter = DeadLetter.model_validate_json(record.value)
        out[record.key.decode() if record.key else ""] = (letter.reason, letter.detail)
    return out


async def _three_topics(h: Harness) -> tuple[int, list[int]]:
    """A forum with a customer's open, closed and deleted topic, each with a reply queued."""
    forum = await h.tg.create_forum("Sales")
    ann = await h.tg.create_user("Ann")
    chat = forum["id"]
    threads = [(await h.tg.open_topic(chat, ann["id"], name)).thread_id
               for name in ("Open", "Closed", "Deleted")]
    await h.tg.close_topic(chat, threads[1], ann["id"])
    await h.tg.delete_topic(chat, threads[2], ann["id"])
    for n, thread in enumerate(threads):
        ticket = f"tg:{chat}:t{thread}"
        await h.append(opened(ticket, chat, thread, f"Question {n}"),
                       replied(ticket, 2, f"answer {n}", chat, thread))
    return chat, threads


async def _run_until(h: Harness, done: Any) -> ReplyMirror:
    mirror = h.start()
    await h.wait(lambda: done(mirror))
    return mirror


async def test_with_can_manage_topics_every_reply_lands_and_no_topic_stays_closed(
        tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        chat, _threads = await _three_topics(h)
        mirror = await _run_until(h, lambda m: m.stats.sent == 3)
        assert (mirror.stats.reopened, mirror.stats.recreated) == (1, 1)
        assert not any(t["closed"] for t in await h.tg.topics(chat) if not t["deleted"])


async def test_without_can_manage_topics_a_closed_or_deleted_topic_is_refused_with_the_reason(
        tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        chat, threads = await _three_topics(h)
        await h.tg.set_bot_rights(chat, can_manage_topics=False)
        await _run_until(h, lambda m: m.stats.sent == 1
                                  and m.stats.dead_lettered == 2)
        sent = await h.sent(chat)
        assert [m["message_thread_id"] for m in sent] == [threads[0]]
        details = sorted(detail for _, detail in (await _letters(h)).values())
        assert details == ["Bad Request: not enough rights to close or open the topic",
                           "Bad Request: not enough rights to create a topic"]
        [closed] = [t for t in await h.tg.topics(chat) if t["message_thread_id"] == threads[1]]
        assert closed["closed"] is True  # nothing was posted where the customer cannot answer


@pytest.mark.parametrize("method", ["sendMessage", "reopenForumTopic", "createForumTopic"])
async def test_a_429_on_any_method_is_waited_out_then_the_reply_lands(
        tmp_path: Path, method: str) -> None:
    async with harness(tmp_path) as h:
        chat, _threads = await _three_topics(h)
        await h.tg.fail_next(1, 429, methods=[method], retry_after=1)
        mirror = await _run_until(h, lambda m: m.stats.sent == 3)
        assert mirror.stats.flood_429 == 1
        assert mirror.stats.dead_lettered == 0
        assert len({m["message_thread_id"] for m in await h.sent(chat)}) == 3
