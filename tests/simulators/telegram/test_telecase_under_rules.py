"""telecase's Telegram side under the simulator's rules: the bot's rights varied, closed and
deleted topics in every documented shape, and 429 on the topic methods.

The reply mirror's topic recovery (``TopicRecovery.send``) reopens a topic before each send,
with and without ``can_manage_topics``; the topic reconciler's probe reports a missing right
clearly; every deleted-topic answer is ``TopicDeleted``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY

from connectors.telegram.bot_api import (
    BotApi,
    NotEnoughRights,
    TooManyRequests,
    TopicDeleted,
    api_error,
)
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror.recovery import TopicGone, TopicRecovery
from connectors.telegram.reply_mirror.stats import MirrorStats
from connectors.telegram.topic_check import TopicProbe
from simulators.telegram import BotApiSimulator, SimulatorDriver
from tests.simulators.telegram.conftest import T0, forum_ticket, no_wait


@pytest.fixture
async def bot(sim: BotApiSimulator) -> AsyncIterator[BotApi]:
    client = BotApi(sim.token, sim.base_url)
    yield client
    await client.aclose()


def recovery(bot: BotApi) -> TopicRecovery:
    # the ledger is only used to recreate a topic, which these tests do not reach
    return TopicRecovery(bot, cast(DeliveryLedger, None), None, MirrorStats())


async def _state(tg: SimulatorDriver, chat: int, thread: int) -> dict[str, Any]:
    [topic] = [t for t in await tg.topics(chat) if t["message_thread_id"] == thread]
    return topic


def _noop() -> None:
    return None


def _rights_missing(method: str) -> float:
    return REGISTRY.get_sample_value("telecase_telegram_rights_missing_total",
                                     {"method": method}) or 0.0


@pytest.mark.parametrize("can_manage_topics", [True, False])
async def test_a_reply_to_a_customers_closed_topic(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any],
        can_manage_topics: bool) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.close_topic(forum["id"], thread, ann["id"])
    await tg.set_bot_rights(forum["id"], can_manage_topics=can_manage_topics)
    topics = recovery(bot)
    if can_manage_topics:  # reopened first, then answered: the customer can write back
        sent = await topics.send(forum["id"], thread, "Here is the price", _noop)
        assert sent["message_thread_id"] == thread
        assert (await _state(tg, forum["id"], thread))["closed"] is False
        assert topics.stats.reopened == 1
    else:  # it may not reopen the customer's topic: refused for good, with the reason
        before = _rights_missing("reopenForumTopic")
        with pytest.raises(NotEnoughRights, match="not enough rights to close or open"):
            await topics.send(forum["id"], thread, "Here is the price", _noop)
        assert _rights_missing("reopenForumTopic") == before + 1
        assert await tg.sent_messages(forum["id"]) == []


@pytest.mark.parametrize("can_manage_topics", [True, False])
async def test_a_reply_to_an_open_topic_or_the_bots_own_closed_one(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any],
        can_manage_topics: bool) -> None:
    theirs = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    mine = int((await bot.call("createForumTopic", chat_id=forum["id"],
                               name="Outreach"))["message_thread_id"])
    await bot.call("closeForumTopic", chat_id=forum["id"], message_thread_id=mine)
    await tg.set_bot_rights(forum["id"], can_manage_topics=can_manage_topics)
    topics = recovery(bot)
    await topics.send(forum["id"], theirs, "open: sent as is", _noop)
    await topics.send(forum["id"], mine, "its own topic: reopened (creator)", _noop)
    assert (await _state(tg, forum["id"], mine))["closed"] is False
    assert topics.stats.reopened == 1
    assert len(await tg.sent_messages(forum["id"])) == 2


@pytest.mark.parametrize("description", [
    "Bad Request: message thread not found", "Bad Request: TOPIC_ID_INVALID",
    "Bad Request: TOPIC_DELETED", "Bad Request: topic not found"])
def test_every_deleted_topic_answer_is_topic_deleted(description: str) -> None:
    assert isinstance(api_error("sendMessage", 400, description), TopicDeleted)


async def test_a_deleted_topic_is_gone_whatever_telegram_says(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.delete_topic(forum["id"], thread, ann["id"])
    topics = recovery(bot)
    with pytest.raises(TopicGone):  # reopenForumTopic: TOPIC_ID_INVALID
        await topics.send(forum["id"], thread, "hello?", _noop)
    other = (await tg.open_topic(forum["id"], ann["id"], "Renewal")).thread_id
    await tg.fail_next(1, 400, methods=["sendMessage"], description="Bad Request: TOPIC_DELETED")
    with pytest.raises(TopicGone):
        await topics.send(forum["id"], other, "hello?", _noop)


async def test_429_on_reopen_is_transient_with_retry_after(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.fail_next(1, 429, methods=["reopenForumTopic"], retry_after=7)
    with pytest.raises(TooManyRequests) as flooded:
        await recovery(bot).send(forum["id"], thread, "hello", _noop)
    assert flooded.value.retry_after == 7
    assert await tg.sent_messages(forum["id"]) == []  # nothing sent before the reopen




async def test_the_reconciler_says_which_right_is_missing(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.set_bot_rights(forum["id"], can_manage_topics=False)
    found = await TopicProbe(bot, interval=0.0, sleep=no_wait).check(
        forum_ticket(forum["id"], thread), T0)
    assert found is not None and found.kind == "topic_unchecked"
    assert "can_manage_topics" in found.detail


async def test_the_reconciler_waits_out_429_then_probes(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    await tg.close_topic(forum["id"], thread, ann["id"])
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    await tg.fail_next(2, 429, methods=["reopenForumTopic"], retry_after=3)
    found = await TopicProbe(bot, interval=0.0, sleep=sleep).check(
        forum_ticket(forum["id"], thread), T0)
    assert found is not None and found.kind == "topic_closed"
    assert waits == [3.0, 3.0]  # Telegram's retry_after, as given
    deleted = (await tg.open_topic(forum["id"], ann["id"], "Gone")).thread_id
    await tg.delete_topic(forum["id"], deleted, ann["id"])
    gone = await TopicProbe(bot, interval=0.0, sleep=no_wait).check(
        forum_ticket(forum["id"], deleted), T0)
    assert gone is not None and gone.kind == "topic_missing"  # TOPIC_ID_INVALID


async def test_a_round_of_reconciliation_says_early_which_rights_a_group_lacks(
        bot: BotApi, tg: SimulatorDriver, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    strict = await tg.create_forum("Strict")
    await tg.set_bot_rights(strict["id"], can_manage_topics=False, can_delete_messages=False)
    tickets = [forum_ticket(chat, (await tg.open_topic(chat, ann["id"], "Q")).thread_id)
               for chat in (forum["id"], strict["id"])]
    probe = TopicProbe(bot, interval=0.0, sleep=no_wait)
    assert await probe.missing_rights(forum["id"]) == []
    assert await probe.missing_rights(strict["id"]) == ["can_manage_topics",
                                                        "can_delete_messages"]
    probed, findings = await probe.check_all(tickets, T0)
    assert probed == 2
    assert REGISTRY.get_sample_value("telecase_telegram_groups_lacking_rights") == 1.0
    assert [f.kind for f in findings] == ["topic_unchecked"]  # the strict group's topic
