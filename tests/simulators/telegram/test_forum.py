"""Forum topics: the bot's topic methods, the service messages everyone receives, and the
message shapes of topics, General, replies, edits and discussion groups."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telegram import DriverError, SimulatorDriver
from tests.simulators.telegram.conftest import BotApi


async def test_create_forum_topic_on_a_non_forum_chat_is_refused(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    group = await tg.create_discussion_group("Comments")
    private = await tg.create_private_chat(ann["id"])
    for chat in (group, private):
        status, body = await api.call("createForumTopic", chat_id=chat["id"], name="Nope")
        assert (status, body["description"]) == (400, "Bad Request: the chat is not a forum")


async def test_the_bot_receives_its_own_forum_service_messages(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any]) -> None:
    bot = await api.result("getMe")
    topic = await api.result("createForumTopic", chat_id=forum["id"], name="Case 001",
                             icon_color=9367192)
    thread = topic["message_thread_id"]
    assert topic == {"message_thread_id": thread, "name": "Case 001", "icon_color": 9367192}
    assert await api.result("editForumTopic", chat_id=forum["id"], message_thread_id=thread,
                            name="Case 001 (billing)") is True
    assert await api.result("closeForumTopic", chat_id=forum["id"],
                            message_thread_id=thread) is True
    assert await api.result("reopenForumTopic", chat_id=forum["id"],
                            message_thread_id=thread) is True

    messages = [u["message"] for u in await api.result("getUpdates")]
    created, edited, closed, reopened = messages
    assert created["message_id"] == thread
    assert created["forum_topic_created"] == {"name": "Case 001", "icon_color": 9367192}
    assert edited["forum_topic_edited"] == {"name": "Case 001 (billing)"}
    assert closed["forum_topic_closed"] == {}
    assert reopened["forum_topic_reopened"] == {}
    for message in messages:
        assert message["from"]["id"] == bot["id"] and message["from"]["is_bot"] is True
        assert message["message_thread_id"] == thread
        assert message["is_topic_message"] is True
    for message in (edited, closed, reopened):
        assert message["reply_to_message"]["message_id"] == thread


async def test_closing_a_closed_topic_or_reopening_an_open_one_is_not_modified(
        api: BotApi, forum: dict[str, Any]) -> None:
    thread = (await api.result("createForumTopic", chat_id=forum["id"],
                               name="Case"))["message_thread_id"]
    status, body = await api.call("reopenForumTopic", chat_id=forum["id"],
                                  message_thread_id=thread)
    assert (status, body["description"]) == (400, "Bad Request: TOPIC_NOT_MODIFIED")
    await api.result("closeForumTopic", chat_id=forum["id"], message_thread_id=thread)
    status, body = await api.call("closeForumTopic", chat_id=forum["id"],
                                  message_thread_id=thread)
    assert (status, body["description"]) == (400, "Bad Request: TOPIC_NOT_MODIFIED")


async def test_a_topic_message_has_the_thread_and_an_implicit_reply_to_its_creation(
        tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    created = topic.message or {}
    assert created["message_id"] == topic.thread_id == created["message_thread_id"]
    assert created["is_topic_message"] is True
    assert created["forum_topic_created"]["name"] == "Pricing"
    assert created["forum_topic_created"]["icon_color"] in (
        7322096, 16766590, 13338331, 9367192, 16749490, 16478047)

    said = (await tg.write(forum["id"], ann["id"], "How much?", topic.thread_id)).message or {}
    assert said["message_thread_id"] == topic.thread_id
    assert said["is_topic_message"] is True
    assert said["reply_to_message"] == created
    assert said["from"] == ann
    assert said["chat"] == {"id": forum["id"], "type": "supergroup", "title": "Sales",
                            "is_forum": True}
    assert str(forum["id"]).startswith("-100")

    answer = await tg.write(forum["id"], ann["id"], "Or less?", topic.thread_id,
                            reply_to_message_id=said["message_id"])
    reply = answer.message or {}
    assert reply["reply_to_message"]["message_id"] == said["message_id"]
    assert "reply_to_message" not in reply["reply_to_message"]


async def test_general_topic_messages_have_no_thread(
        tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    said = (await tg.write(forum["id"], ann["id"], "Hello?")).message or {}
    assert set(said) == {"message_id", "from", "date", "chat", "text"}
    reply = (await tg.write(forum["id"], ann["id"], "Anyone?",
                            reply_to_message_id=said["message_id"])).message or {}
    # Since Bot API 9.3's topic model a reply in General carries no message_thread_id either
    # (older servers sent the reply chain's root there), and it is never a topic message.
    assert "message_thread_id" not in reply
    assert reply["reply_to_message"]["message_id"] == said["message_id"]
    assert "is_topic_message" not in reply


async def test_user_topic_actions_produce_service_messages(
        tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    thread = topic.thread_id
    renamed = await tg.rename_topic(forum["id"], thread, ann["id"], "Pricing (EU)")
    closed = await tg.close_topic(forum["id"], thread, ann["id"])
    with pytest.raises(DriverError) as refused:
        await tg.write(forum["id"], ann["id"], "too late", thread)
    reopened = await tg.reopen_topic(forum["id"], thread, ann["id"])
    assert (renamed.message or {})["forum_topic_edited"] == {"name": "Pricing (EU)"}
    assert "forum_topic_closed" in (closed.message or {})
    assert refused.value.description == "Bad Request: TOPIC_CLOSED"
    assert "forum_topic_reopened" in (reopened.message or {})
    ids = [renamed.update_id, closed.update_id, reopened.update_id]
    assert ids == [topic.queued_id + 1, topic.queued_id + 2, topic.queued_id + 3]
    [state] = await tg.topics(forum["id"])
    assert (state["name"], state["closed"], state["deleted"]) == ("Pricing (EU)", False, False)


async def test_edits_arrive_as_edited_message_with_edit_date(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    said = await tg.write(forum["id"], ann["id"], "How mcuh?", topic.thread_id)
    edited = await tg.edit(forum["id"], said.message_id, "How much?")
    updates = await api.result("getUpdates", offset=said.update_id)
    assert [u["update_id"] for u in updates] == [said.update_id, edited.update_id]
    message = updates[1]["edited_message"]
    assert message["message_id"] == said.message_id
    assert message["text"] == "How much?"
    assert message["edit_date"] >= message["date"]
    assert message["message_thread_id"] == topic.thread_id
    assert message["is_topic_message"] is True


async def test_discussion_group_comment_threads_are_not_topics(
        tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    group = await tg.create_discussion_group("Announcements chat")
    assert group["type"] == "supergroup" and "is_forum" not in group
    post = await tg.post_to_channel(group["id"], "New prices from Monday")
    root = post.message or {}
    assert root["is_automatic_forward"] is True
    assert root["sender_chat"]["type"] == "channel"
    comment = (await tg.write(group["id"], ann["id"], "Finally!", root["message_id"])).message
    assert comment is not None
    assert comment["message_thread_id"] == root["message_id"]
    assert "is_topic_message" not in comment
    assert comment["reply_to_message"]["message_id"] == root["message_id"]


async def test_other_update_types_and_raw_updates_pass_through_as_given(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    query = {"id": "4382", "from": ann, "chat_instance": "-77", "data": "take:case-1",
             "message": {"message_id": 2, "date": 0, "chat": forum}}
    callback = await tg.emit("callback_query", query)
    raw = await tg.emit_raw({"future_update_type": {"anything": [1, 2, 3]}})
    await tg.emit_raw({"update_id": 424242, "message": {"weird": True}})
    updates = await api.result("getUpdates")
    assert updates == [{"update_id": callback.update_id, "callback_query": query},
                       {"update_id": raw.update_id, "future_update_type": {"anything": [1, 2, 3]}},
                       {"update_id": 424242, "message": {"weird": True}}]
    assert raw.update_id == callback.queued_id + 1
    assert await api.result("answerCallbackQuery", callback_query_id="4382") is True


async def test_a_shared_contact_carries_the_users_phone(
        tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    chat = await tg.create_private_chat(ann["id"])
    shared = (await tg.share_contact(chat["id"], ann["id"])).message or {}
    assert shared["contact"] == {"phone_number": "+15550100", "first_name": "Ann",
                                 "user_id": ann["id"]}


async def test_delete_message_own_others_missing_and_without_the_right(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
    hers = await tg.write(forum["id"], ann["id"], "/t pricing", topic.thread_id)
    mine = await api.result("sendMessage", chat_id=forum["id"], text="Hello",
                            message_thread_id=topic.thread_id)
    assert await api.result("deleteMessage", chat_id=forum["id"],
                            message_id=hers.message["message_id"]) is True
    status, body = await api.call("deleteMessage", chat_id=forum["id"],
                                  message_id=hers.message["message_id"])
    assert (status, body["description"]) == (400, "Bad Request: message to delete not found")

    await tg.set_bot_rights(forum["id"], can_delete_messages=False)
    again = await tg.write(forum["id"], ann["id"], "/kb refunds", topic.thread_id)
    status, body = await api.call("deleteMessage", chat_id=forum["id"],
                                  message_id=again.message["message_id"])
    assert (status, body["description"]) == (400, "Bad Request: message can't be deleted")
    assert await api.result("deleteMessage", chat_id=forum["id"],
                            message_id=mine["message_id"]) is True  # its own, always
    assert await tg.deleted_messages(forum["id"]) == [hers.message["message_id"],
                                                      mine["message_id"]]
