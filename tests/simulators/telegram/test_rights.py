"""The bot's administrator rights per group, deleted topics, and flood limits on every method.

Rights as the Bot API documents each topic method: createForumTopic needs
``can_manage_topics``; edit/close/reopen need it unless the bot created the topic;
deleteForumTopic needs ``can_delete_messages``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulators.telegram import BotApiSimulator, RateLimits, SimulatorDriver
from tests.simulators.telegram.conftest import TOKEN, BotApi


async def _description(api: BotApi, method: str, **params: Any) -> tuple[int, str]:
    status, body = await api.call(method, **params)
    return status, str(body.get("description", "ok" if body.get("ok") else ""))


async def test_default_rights_manage_every_topic(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    theirs = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    for method in ("closeForumTopic", "reopenForumTopic"):
        assert await api.result(method, chat_id=forum["id"], message_thread_id=theirs)
    assert await api.result("editForumTopic", chat_id=forum["id"], message_thread_id=theirs,
                            name="Pricing (EU)")
    assert await api.result("createForumTopic", chat_id=forum["id"], name="Outreach")
    assert await api.result("deleteForumTopic", chat_id=forum["id"], message_thread_id=theirs)


async def test_without_can_manage_topics_only_its_own_topics(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    theirs = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    mine = (await api.result("createForumTopic", chat_id=forum["id"],
                             name="Outreach"))["message_thread_id"]
    rights = await tg.set_bot_rights(forum["id"], can_manage_topics=False)
    assert rights["can_manage_topics"] is False and rights["can_delete_messages"] is True
    chat = forum["id"]
    assert await _description(api, "createForumTopic", chat_id=chat, name="New") == (
        400, "Bad Request: not enough rights to create a topic")
    assert await _description(api, "closeForumTopic", chat_id=chat,
                              message_thread_id=theirs) == (
        400, "Bad Request: not enough rights to close or open the topic")
    assert await _description(api, "reopenForumTopic", chat_id=chat,
                              message_thread_id=theirs) == (
        400, "Bad Request: not enough rights to close or open the topic")
    assert await _description(api, "editForumTopic", chat_id=chat, message_thread_id=theirs,
                              name="X") == (400, "Bad Request: not enough rights to edit the topic")
    # the creator of a topic may still edit, close and reopen it
    assert await api.result("closeForumTopic", chat_id=chat, message_thread_id=mine)
    assert await api.result("reopenForumTopic", chat_id=chat, message_thread_id=mine)
    assert await api.result("editForumTopic", chat_id=chat, message_thread_id=mine,
                            name="Outreach 2")
    # deleting needs can_delete_messages, which it still has
    assert await api.result("deleteForumTopic", chat_id=chat, message_thread_id=theirs)


async def test_without_can_delete_messages_no_topic_is_deleted(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any]) -> None:
    mine = (await api.result("createForumTopic", chat_id=forum["id"],
                             name="Outreach"))["message_thread_id"]
    await tg.set_bot_rights(forum["id"], can_delete_messages=False)
    assert await _description(api, "deleteForumTopic", chat_id=forum["id"],
                              message_thread_id=mine) == (
        400, "Bad Request: not enough rights to delete the topic")


async def test_a_deleted_topic_is_topic_id_invalid_for_topic_methods(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.delete_topic(forum["id"], thread, ann["id"])
    for method, extra in (("editForumTopic", {"name": "X"}), ("closeForumTopic", {}),
                          ("reopenForumTopic", {}), ("deleteForumTopic", {})):
        assert await _description(api, method, chat_id=forum["id"], message_thread_id=thread,
                                  **extra) == (400, "Bad Request: TOPIC_ID_INVALID"), method
    assert await _description(api, "sendMessage", chat_id=forum["id"], text="hi",
                              message_thread_id=thread) == (
        400, "Bad Request: message thread not found")


async def test_kicked_member_update_carries_the_bots_rights(
        tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    await tg.set_bot_rights(forum["id"], can_manage_topics=False)
    kicked = await tg.kick_bot(forum["id"], ann["id"])
    old = (kicked.update or {})["my_chat_member"]["old_chat_member"]
    assert old["status"] == "administrator" and old["can_manage_topics"] is False


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def strict() -> AsyncIterator[tuple[BotApi, SimulatorDriver, _Clock]]:
    clock = _Clock()
    limits = RateLimits(calls_per_chat_per_minute=2, calls_per_second=3,
                        webhook_changes_per_second=1, clock=clock)
    simulator = BotApiSimulator(TOKEN, limits=limits)
    await simulator.start()
    async with httpx.AsyncClient(base_url=simulator.api_url) as client, \
            SimulatorDriver(simulator.base_url) as driver:
        yield BotApi(client), driver, clock
    await simulator.stop()


@pytest.mark.parametrize("method", ["createForumTopic", "reopenForumTopic", "editForumTopic",
                                    "closeForumTopic"])
async def test_topic_methods_answer_429_with_retry_after(
        strict: tuple[BotApi, SimulatorDriver, _Clock], method: str) -> None:
    api, tg, clock = strict
    forum = await tg.create_forum("Sales")
    params: dict[str, Any] = {"chat_id": forum["id"], "message_thread_id": 999, "name": "N"}
    first = [(await api.call(method, **params))[0] for _ in range(2)]
    assert 429 not in first  # answered (or refused for other reasons): counted as calls
    status, body = await api.call(method, **params)
    assert status == 429 and body["parameters"]["retry_after"] == 60
    assert body["description"] == "Too Many Requests: retry after 60"
    clock.now += 60
    status, _body = await api.call(method, **params)
    assert status != 429


async def test_set_webhook_answers_429(strict: tuple[BotApi, SimulatorDriver, _Clock]) -> None:
    api, _tg, clock = strict
    assert (await api.call("deleteWebhook"))[0] == 200
    status, body = await api.call("deleteWebhook")
    assert status == 429 and body["parameters"] == {"retry_after": 1}
    clock.now += 1
    assert (await api.call("deleteWebhook"))[0] == 200


async def test_delete_message_refuses_a_topics_creation_and_old_messages() -> None:
    wall = _Clock()
    wall.now = 1_767_000_000.0
    async with BotApiSimulator(TOKEN, wall_clock=wall,
                               limits=RateLimits(enabled=False)) as simulator, \
            SimulatorDriver(simulator.base_url) as tg, \
            httpx.AsyncClient(base_url=simulator.api_url) as client:
        api = BotApi(client)
        forum = await tg.create_forum("Sales")
        ann = await tg.create_user("Ann")
        topic = await tg.open_topic(forum["id"], ann["id"], "Pricing")
        said = await tg.write(forum["id"], ann["id"], "old news", topic.thread_id)
        assert await _description(api, "deleteMessage", chat_id=forum["id"],
                                  message_id=topic.thread_id) == (
            400, "Bad Request: message can't be deleted")
        wall.now += 48 * 3600
        assert await _description(api, "deleteMessage", chat_id=forum["id"],
                                  message_id=said.message_id) == (
            400, "Bad Request: message can't be deleted")


async def test_a_text_mention_carries_the_whole_user_or_none(
        api: BotApi, tg: SimulatorDriver, ann: dict[str, Any]) -> None:
    await tg.create_private_chat(ann["id"])
    sent = await api.result("sendMessage", chat_id=ann["id"], parse_mode="HTML",
                            text=f'<a href="tg://user?id={ann["id"]}">you</a> and '
                                 '<a href="tg://user?id=42">a stranger</a>')
    assert sent["text"] == "you and a stranger"
    assert sent["entities"] == [{"type": "text_mention", "user": ann, "offset": 0,
                                 "length": 3}]


async def test_get_chat_member_shows_the_bots_rights_and_members(
        api: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    me = await api.result("getMe")
    await tg.set_bot_rights(forum["id"], can_manage_topics=False)
    bot = await api.result("getChatMember", chat_id=forum["id"], user_id=me["id"])
    assert bot["status"] == "administrator" and bot["can_manage_topics"] is False
    assert bot["can_delete_messages"] is True and bot["user"]["id"] == me["id"]
    member = await api.result("getChatMember", chat_id=forum["id"], user_id=ann["id"])
    assert member == {"status": "member", "user": ann}
    assert await _description(api, "getChatMember", chat_id=forum["id"], user_id=1) == (
        400, "Bad Request: user not found")
