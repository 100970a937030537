"""sendMessage: shapes in topics, General and private chats, and the real API's errors."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telegram import DriverError, SimulatorDriver
from tests.simulators.telegram.conftest import BotApi


async def test_a_message_sent_into_a_topic_carries_the_thread(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    sent = await api.result("sendMessage", chat_id=forum["id"], text="Hi Ann",
                            message_thread_id=topic.thread_id)
    assert sent["from"]["id"] == (await api.result("getMe"))["id"]
    assert sent["from"]["is_bot"] is True
    assert sent["chat"] == forum
    assert sent["message_thread_id"] == topic.thread_id
    assert sent["is_topic_message"] is True
    assert sent["reply_to_message"]["forum_topic_created"]["name"] == "Pricing"
    assert sent["text"] == "Hi Ann"
    [record] = await tg.sent_messages(forum["id"])
    assert (record["message_id"], record["message_thread_id"], record["text"]) == (
        sent["message_id"], topic.thread_id, "Hi Ann")


async def test_the_bot_does_not_receive_its_own_messages(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any]) -> None:
    await api.result("sendMessage", chat_id=forum["id"], text="hello General")
    assert await api.result("getUpdates") == []


async def test_reply_parameters_reply_to_a_message_in_its_topic(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    asked = await tg.write(forum["id"], ann["id"], "How much?", topic.thread_id)
    sent = await api.result("sendMessage", chat_id=forum["id"], text="$10",
                            reply_parameters={"message_id": asked.message_id})
    assert sent["message_thread_id"] == topic.thread_id  # the reply decides the topic
    assert sent["reply_to_message"]["message_id"] == asked.message_id
    assert "reply_to_message" not in sent["reply_to_message"]


async def test_sending_to_a_closed_topic_is_topic_closed_without_can_manage_topics(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    await tg.close_topic(forum["id"], topic.thread_id, ann["id"])
    await tg.set_bot_rights(forum["id"], can_manage_topics=False)
    status, body = await api.call("sendMessage", chat_id=forum["id"], text="anyone?",
                                  message_thread_id=topic.thread_id)
    assert (status, body) == (400, {"ok": False, "error_code": 400,
                                    "description": "Bad Request: TOPIC_CLOSED"})


async def test_an_admin_with_can_manage_topics_posts_in_a_closed_topic_which_stays_closed(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    await tg.close_topic(forum["id"], topic.thread_id, ann["id"])
    sent = await api.result("sendMessage", chat_id=forum["id"], text="anyone?",
                            message_thread_id=topic.thread_id)
    assert sent["message_thread_id"] == topic.thread_id
    [state] = await tg.topics(forum["id"])
    assert state["closed"] is True  # the customer still cannot answer
    with pytest.raises(DriverError) as refused:
        await tg.write(forum["id"], ann["id"], "can I?", topic.thread_id)
    assert refused.value.description == "Bad Request: TOPIC_CLOSED"


@pytest.mark.parametrize("which", ["deleted", "unknown", "general"])
async def test_sending_to_a_missing_thread_is_message_thread_not_found(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any],
        which: str) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    await tg.delete_topic(forum["id"], topic.thread_id, ann["id"])
    thread_id = {"deleted": topic.thread_id, "unknown": 999, "general": 1}[which]
    status, body = await api.call("sendMessage", chat_id=forum["id"], text="hello?",
                                  message_thread_id=thread_id)
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")


@pytest.mark.parametrize(("text", "description"), [
    ("x" * 4097, "Bad Request: message is too long"),
    ("", "Bad Request: message text is empty"),
    ("   ", "Bad Request: message text is empty"),
])
async def test_text_must_be_1_to_4096_characters(
        api: BotApi, forum: dict[str, Any], text: str, description: str) -> None:
    assert (await api.result("sendMessage", chat_id=forum["id"], text="x" * 4096))["text"]
    status, body = await api.call("sendMessage", chat_id=forum["id"], text=text)
    assert (status, body["description"]) == (400, description)


async def test_an_unknown_chat_is_chat_not_found(api: BotApi) -> None:
    status, body = await api.call("sendMessage", chat_id=-100123, text="hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


async def test_a_user_who_blocked_the_bot_is_403_and_the_bot_is_told(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    chat = await tg.create_private_chat(ann["id"])
    assert (await api.result("sendMessage", chat_id=chat["id"], text="hi"))["chat"] == chat
    blocked = await tg.block_bot(ann["id"])
    status, body = await api.call("sendMessage", chat_id=chat["id"], text="still there?")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    member = blocked.update["my_chat_member"] if blocked.update else {}
    assert member["new_chat_member"]["status"] == "kicked"
    assert member["from"] == ann


async def test_html_parse_mode_becomes_plain_text_with_entities(
        api: BotApi, forum: dict[str, Any]) -> None:
    sent = await api.result("sendMessage", chat_id=forum["id"], parse_mode="HTML",
                            text='<b>Case</b> &lt;42&gt; <a href="https://x.test">open</a>')
    assert sent["text"] == "Case <42> open"
    assert sent["entities"] == [{"type": "bold", "offset": 0, "length": 4},
                                {"type": "text_link", "url": "https://x.test", "offset": 10,
                                 "length": 4}]
    status, body = await api.call("sendMessage", chat_id=forum["id"], parse_mode="HTML",
                                  text="Ann <ann@x.test> wrote")
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities:")


async def test_private_chats_have_no_threads(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    chat = await tg.create_private_chat(ann["id"])
    assert chat == {"id": ann["id"], "type": "private", "first_name": "Ann",
                    "username": "ann_smith"}
    said = await tg.write(chat["id"], ann["id"], "/start")
    message = said.message or {}
    assert "message_thread_id" not in message and "is_topic_message" not in message
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    status, body = await api.call("sendMessage", chat_id=chat["id"], text="hi",
                                  message_thread_id=5)
    assert (status, body["description"]) == (400, "Bad Request: message thread not found")


async def test_a_group_that_removed_the_bot_is_403_and_the_bot_is_told(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    assert (await api.result("sendMessage", chat_id=forum["id"], text="hi"))["chat"] == forum
    kicked = await tg.kick_bot(forum["id"], ann["id"])
    member = kicked.update["my_chat_member"] if kicked.update else {}
    assert (member["chat"], member["from"]) == (forum, ann)
    assert member["old_chat_member"]["status"] == "administrator"
    bot = await api.result("getMe")
    now = member["new_chat_member"]
    assert (now["status"], now["until_date"], now["user"]["id"]) == ("kicked", 0, bot["id"])
    calls: list[tuple[str, dict[str, Any]]] = [
        ("sendMessage", {"text": "still there?"}),
        ("sendMessage", {"text": "and here?", "message_thread_id": topic.thread_id}),
        ("createForumTopic", {"name": "New"}),
        ("reopenForumTopic", {"message_thread_id": topic.thread_id})]
    for method, params in calls:
        status, body = await api.call(method, chat_id=forum["id"], **params)
        assert (status, body["description"]) == (
            403, "Forbidden: bot was kicked from the supergroup chat"), method
    said = await tg.write(forum["id"], ann["id"], "the bot is gone", topic.thread_id)
    assert said.update_id is None  # nothing from the group reaches the bot any more
    assert [m["text"] for m in await tg.sent_messages(forum["id"])] == ["hi"]


async def test_the_bot_can_be_removed_only_from_a_group_it_is_in(
        tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    chat = await tg.create_private_chat(ann["id"])
    await tg.kick_bot(forum["id"], ann["id"])
    for chat_id in (forum["id"], chat["id"], -100123):
        with pytest.raises(DriverError) as refused:
            await tg.kick_bot(chat_id, ann["id"])
        assert refused.value.error_code == 400
