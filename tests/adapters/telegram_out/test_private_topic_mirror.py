"""Replies to a ticket of a private chat's topic (Bot API 9.3, issue 16 item 8): sent into the
topic with its ``message_thread_id``, never reopened first, and into the private chat itself
when the user deleted the topic."""

from __future__ import annotations

from typing import Any

from tests.adapters.telegram_out.conftest import Harness, opened, replied


async def _private_topic(h: Harness, ann: dict[str, Any]) -> int:
    await h.tg.set_private_topics()
    await h.tg.create_private_chat(ann["id"])
    return int((await h.tg.open_topic(ann["id"], ann["id"], "Billing")).thread_id)


async def _reply_once(h: Harness, ann: dict[str, Any], thread: int) -> dict[str, Any]:
    """The agent's reply to the topic's ticket, as Telegram got it."""
    ticket = f"tg:{ann['id']}:pt{thread}"
    await h.append(opened(ticket, ann["id"], thread, "Billing"),
                   replied(ticket, 2, "Invoice sent again.", ann["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    [message] = await h.sent(ann["id"])
    assert message["text"] == "Alice:\nInvoice sent again."
    return message


async def test_a_reply_lands_in_the_private_topic(h: Harness, ann: dict[str, Any]) -> None:
    thread = await _private_topic(h, ann)
    message = await _reply_once(h, ann, thread)
    assert (message["message_thread_id"], message["is_topic_message"]) == (thread, True)
    assert "reopenForumTopic" not in [c["method"] for c in await h.tg.calls()]


async def test_a_deleted_private_topic_is_answered_in_the_chat_itself(
        h: Harness, ann: dict[str, Any]) -> None:
    thread = await _private_topic(h, ann)
    await h.tg.delete_topic(ann["id"], thread, ann["id"])
    assert (await _reply_once(h, ann, thread))["message_thread_id"] is None
    assert "createForumTopic" not in [c["method"] for c in await h.tg.calls()]
