"""A maintained third-party client as the simulator's oracle (aiogram 3.x, a test dependency).

A demo-like run -- people doing everything the driver offers (topics opened, renamed, closed,
reopened, deleted; messages in topics, General and private chats; replies, edits, contacts,
keyboards; a discussion group; blocks and kicks) while telecase's own Telegram code answers
(the reply mirror's topic recovery, the topic reconciler, the long poller, the intake form's
keyboards), with the bot's rights varied -- and then:

- every update the simulator produced parses as aiogram's ``Update``;
- every request telecase sent is a valid call of the documented method (aiogram's method
  model, with every required parameter and no unknown one);
- every answer parses as aiogram's ``Response`` of that method's result type (or an error
  envelope).

aiogram's models allow unknown fields, so the check is made strict here: any field a model
does not declare (``model_extra``), at any depth, is a mismatch. A mismatch is a simulator or
telecase bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator
from typing import Any, cast

import aiogram.methods
import pytest
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import Update
from pydantic import BaseModel, TypeAdapter

from bench.traffic import ForumTraffic
from connectors.errors import ConnectorError
from connectors.telegram.bot_api import BotApi
from connectors.telegram.intake_messenger import REMOVE_KEYBOARD, keyboard
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.polling import LongPoller
from connectors.telegram.reply_mirror.recovery import TopicGone, TopicRecovery
from connectors.telegram.reply_mirror.stats import MirrorStats
from connectors.telegram.topic_check import TopicProbe
from simulators.telegram import BotApiSimulator, DriverError, SimulatorDriver
from streams.schema.events.intake import IntakeButton
from telecase.demo.traffic import DemoSummary, customers
from tests.simulators.telegram.conftest import T0, forum_ticket, no_wait


def extras(value: Any, where: str = "") -> list[str]:
    """Every field some model did not declare, with its path."""
    found: list[str] = []
    if isinstance(value, BaseModel):
        for name in value.model_extra or {}:
            found.append(f"{where}.{name}" if where else name)
        for name in type(value).model_fields:
            found += extras(getattr(value, name), f"{where}.{name}" if where else name)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += extras(item, f"{where}[{i}]")
    return found


def method_model(name: str) -> type[TelegramMethod[Any]]:
    model = getattr(aiogram.methods, name[0].upper() + name[1:], None)
    assert model is not None, f"{name} is not a Bot API method aiogram knows"
    return cast(type[TelegramMethod[Any]], model)


class _RawLog:
    def __init__(self) -> None:
        self.records: list[Any] = []

    async def append(self, records: list[Any]) -> None:
        self.records += records




def _settled() -> None:
    return None


@pytest.fixture
async def bot(sim: BotApiSimulator) -> AsyncIterator[BotApi]:
    client = BotApi(sim.token, sim.base_url)
    yield client
    await client.aclose()


async def _people(tg: SimulatorDriver, bot: BotApi, rng: random.Random) -> None:
    """A busy desk: everything people do, with telecase answering as it does."""
    forum = await tg.create_forum("Sales desk", username="sales_desk")
    strict = await tg.create_forum("Strict desk")
    await tg.set_bot_rights(strict["id"], can_manage_topics=False)
    group = await tg.create_discussion_group("News")
    users = [await tg.create_user(f"Prospect {n}", username=f"prospect{n}",
                                  phone=f"+1555010{n:02d}", last_name="Doe" if n % 2 else None)
             for n in range(8)]
    agent = await tg.create_user("Agent", username="agent")
    mirror = TopicRecovery(bot, cast(DeliveryLedger, None), None, MirrorStats())
    probe = TopicProbe(bot, interval=0.0, sleep=no_wait)
    topics: list[tuple[int, int, int]] = []  # (chat, thread, user)
    said: dict[int, list[int]] = {forum["id"]: [], strict["id"]: []}
    for step in range(160):
        user = rng.choice(users)
        chat = rng.choice((forum, strict))["id"]
        roll = rng.random()
        try:
            if roll < 0.12 or not topics:
                opened = await tg.open_topic(chat, user["id"], f"Question {step}")
                topics.append((chat, opened.thread_id, user["id"]))
            elif roll < 0.4:
                where, thread, who = rng.choice(topics)
                reply = rng.choice(said[where]) if said[where] and rng.random() < 0.3 else None
                out = await tg.write(where, who, f"message {step} https://example.com",
                                     thread, reply_to_message_id=reply)
                said[where].append(out.message_id)
            elif roll < 0.5:  # the General topic, replies included
                reply = rng.choice(said[chat]) if said[chat] and rng.random() < 0.5 else None
                writer = agent if reply is not None and rng.random() < 0.3 else user
                out = await tg.write(chat, writer["id"], f"general {step} @someone", None,
                                     reply_to_message_id=reply)
                said[chat].append(out.message_id)
            elif roll < 0.55 and said[chat]:
                await tg.edit(chat, rng.choice(said[chat]), f"edited {step}")
            elif roll < 0.6:
                where, thread, who = rng.choice(topics)
                await tg.share_contact(where, who, thread)
            elif roll < 0.7:  # telecase's reply mirror answers in a topic
                where, thread, _ = rng.choice(topics)
                await mirror.send(where, thread, f"Agent:\nanswer {step}", _settled)
            elif roll < 0.75:
                where, thread, who = rng.choice(topics)
                action = rng.choice((tg.close_topic, tg.reopen_topic))
                await action(where, thread, who)
            elif roll < 0.8:
                where, thread, who = rng.choice(topics)
                await tg.rename_topic(where, thread, who, f"Renamed {step}")
            elif roll < 0.83:
                where, thread, who = topics.pop(rng.randrange(len(topics)))
                await tg.delete_topic(where, thread, who)
                await probe.check(forum_ticket(where, thread), T0)
            elif roll < 0.9:
                where, thread, _ = rng.choice(topics)
                await probe.check(forum_ticket(where, thread), T0)
            elif roll < 0.95:  # the intake form in a private chat
                buttons = ((IntakeButton(text="Share my phone", request_contact=True),),
                           (IntakeButton(text="Skip"),))
                await tg.write(user["id"], user["id"], "/start")
                await bot.call("sendMessage", chat_id=user["id"], text="Your phone?",
                               reply_markup=keyboard(buttons))
                await tg.press_button(user["id"], user["id"], rng.choice(
                    ("Share my phone", "Skip")))
                await bot.call("sendMessage", chat_id=user["id"], text="Thanks",
                               reply_markup=REMOVE_KEYBOARD)
                await mirror.send(user["id"], None, "<b>bold</b>", _settled)
            else:
                await tg.post_to_channel(group["id"], f"post {step}")
        except (DriverError, ConnectorError, TopicGone):
            pass  # refusals are part of the run: their answers are checked too
    created = await bot.call("createForumTopic", chat_id=forum["id"], name="Outreach")
    mention = f'<a href="tg://user?id={users[0]["id"]}">Ann</a>'
    await bot.call("sendMessage", chat_id=forum["id"], parse_mode="HTML",
                   text=f"{mention}, <i>see</i> <code>x</code>",
                   message_thread_id=created["message_thread_id"])
    await bot.call("editForumTopic", chat_id=forum["id"], name="Outreach 2",
                   message_thread_id=created["message_thread_id"])
    for each in (forum, strict, group):
        await probe.missing_rights(each["id"])  # getChatMember: the bot as administrator
    await bot.call("getChatMember", chat_id=forum["id"], user_id=users[3]["id"])
    await tg.block_bot(users[1]["id"])
    await tg.unblock_bot(users[1]["id"])
    await tg.kick_bot(strict["id"], users[2]["id"])
    await bot.call("getMe")
    await bot.call("setWebhook", url="http://127.0.0.1:9/hook", secret_token="s3cret",
                   allowed_updates=["message", "edited_message", "my_chat_member"],
                   max_connections=5)
    await asyncio.sleep(0.05)  # a delivery attempt fails: getWebhookInfo shows the error
    await bot.call("getWebhookInfo")
    await bot.call("deleteWebhook")
    await LongPoller(bot, _RawLog(), bot_id=0, timeout=0).poll_once()  # type: ignore[arg-type]


def _invalid(updates: list[dict[str, Any]], calls: list[dict[str, Any]]) -> list[str]:
    """Every mismatch between what the simulator produced (updates, telecase's calls and
    their answers) and aiogram's strict models."""
    bad: list[str] = []
    for raw in updates:
        parsed = Update.model_validate(raw)
        bad += [f"update {raw['update_id']}: extra {x}" for x in extras(parsed)]
    for call in calls:
        model = method_model(call["method"])
        request = model.model_validate(call["params"])
        bad += [f"{call['method']} request: unknown parameter {x}" for x in extras(request)
                if "." not in x]
        answer = call["answer"]
        if answer["ok"]:
            typed = TypeAdapter(Response[model.__returning__]).validate_python(  # type: ignore[name-defined]
                answer)
        else:
            typed = Response[Any].model_validate(answer)
            assert isinstance(typed.error_code, int) and typed.description
        bad += [f"{call['method']} answer: extra {x}" for x in extras(typed)]
    return bad


async def test_every_update_request_and_answer_of_a_demo_like_run_is_valid(
        bot: BotApi, tg: SimulatorDriver) -> None:
    await _people(tg, bot, random.Random(20))
    updates = await tg.updates()
    calls = await tg.calls()
    assert len(updates) > 100 and len(calls) > 50
    kinds = {next(k for k in raw if k != "update_id") for raw in updates}
    assert {"message", "edited_message", "my_chat_member"} <= kinds
    assert _invalid(updates, calls) == []


@pytest.mark.soak
async def test_a_long_demo_run_is_valid_throughout(bot: BotApi, tg: SimulatorDriver) -> None:
    """The demo's own customers (``telecase run --demo``'s traffic) writing for
    ``TELECASE_SOAK_SECONDS`` / 2 (CI's short form: 10 s) while telecase's reply mirror
    answers in their topics: every update, call and answer still parses strictly."""
    seconds = float(os.environ.get("TELECASE_SOAK_SECONDS", "20")) / 2
    stop, summary = asyncio.Event(), DemoSummary()
    writing = asyncio.create_task(customers(tg, summary, stop, random.Random(7)))
    mirror = TopicRecovery(bot, cast(DeliveryLedger, None), None, MirrorStats())
    deadline = asyncio.get_running_loop().time() + seconds
    answered = 0
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        topics = [(u["chat"]["id"], u["message"].get("message_thread_id"))
                  for u in [{"chat": r["message"]["chat"], "message": r["message"]}
                            for r in await tg.updates() if "message" in r]
                  if u["message"].get("is_topic_message")]
        if topics:
            chat, thread = random.Random(answered).choice(topics)
            with contextlib.suppress(ConnectorError, TopicGone):
                await mirror.send(chat, thread, f"Agent:\nanswer {answered}", _settled)
                answered += 1
    stop.set()
    await writing
    updates, calls = await tg.updates(), await tg.calls()
    assert summary.updates_sent > 20 and answered > 5
    assert _invalid(updates, calls) == []


def test_bench_traffic_parses_and_its_first_topic_is_not_general() -> None:
    traffic = ForumTraffic()
    batch = traffic.topic_messages(3, 2)
    created, said = next(traffic.fresh_tickets(10))
    for raw in [*batch, created, said]:
        assert extras(Update.model_validate(raw)) == []
    assert batch[0]["message"]["message_thread_id"] != 1
    assert created["message"]["forum_topic_created"]
    assert said["message"]["message_thread_id"] == created["message"]["message_id"]


def test_the_oracle_is_strict() -> None:
    """A field no model declares is found at any depth; a call missing a required parameter
    or naming an unknown one is refused."""
    update = {"update_id": 1, "message": {
        "message_id": 2, "date": 1, "chat": {"id": 1, "type": "private", "shiny": 1},
        "text": "hi", "from": {"id": 1, "is_bot": False, "first_name": "A"}}}
    assert extras(Update.model_validate(update)) == ["message.chat.shiny"]
    with pytest.raises(ValueError, match="text"):
        method_model("sendMessage").model_validate({"chat_id": 1})
    call = method_model("sendMessage").model_validate({"chat_id": 1, "text": "x", "thread": 3})
    assert extras(call) == ["thread"]
