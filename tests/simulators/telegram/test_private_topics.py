"""Private chats in topic mode (Bot API 9.3): with the bot's ``has_topics_enabled`` on, a
private chat has topics; their messages carry ``message_thread_id`` and ``is_topic_message``
like a forum's, and the bot sends into one with ``message_thread_id``."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telegram import DriverError, SimulatorDriver
from tests.simulators.telegram.conftest import BotApi


async def test_without_topic_mode_a_private_thread_is_not_found(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    await tg.create_private_chat(ann["id"])
    assert "has_topics_enabled" not in await api.result("getMe")
    with pytest.raises(DriverError):
        await tg.open_topic(ann["id"], ann["id"], "Billing")
    status, body = await api.call("sendMessage", chat_id=ann["id"], message_thread_id=5,
                                  text="hi")
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")


async def test_private_topics_shape_messages_like_a_forums(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    assert (await tg.set_private_topics())["has_topics_enabled"] is True
    assert (await api.result("getMe"))["has_topics_enabled"] is True
    await tg.create_private_chat(ann["id"])
    opened = await tg.open_topic(ann["id"], ann["id"], "Billing")
    thread = opened.thread_id
    assert opened.message is not None
    assert opened.message["message_id"] == thread
    assert opened.message["forum_topic_created"]["name"] == "Billing"
    said = await tg.write(ann["id"], ann["id"], "Where is my invoice?",
                          message_thread_id=thread)
    assert said.message is not None
    assert (said.message["message_thread_id"], said.message["is_topic_message"]) == (thread, True)
    assert said.message["reply_to_message"]["message_id"] == thread  # the implicit reply
    assert said.message["chat"]["type"] == "private"
    plain = await tg.write(ann["id"], ann["id"], "And hello")
    assert plain.message is not None and "message_thread_id" not in plain.message

    sent = await api.result("sendMessage", chat_id=ann["id"], message_thread_id=thread,
                            text="Attached")
    assert (sent["message_thread_id"], sent["is_topic_message"]) == (thread, True)
    [record] = await tg.sent_messages(ann["id"])
    assert record["message_thread_id"] == thread
    status, body = await api.call("sendMessage", chat_id=ann["id"],
                                  message_thread_id=thread + 100, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")
    [topic] = await tg.topics(ann["id"])
    assert (topic["message_thread_id"], topic["name"]) == (thread, "Billing")


async def test_only_the_chats_user_opens_topics_in_it(
        tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    await tg.set_private_topics()
    await tg.create_private_chat(ann["id"])
    bob = await tg.create_user("Bob", "bob")
    with pytest.raises(DriverError):
        await tg.open_topic(ann["id"], bob["id"], "Not mine")
