"""Flood limits on sendMessage, checked with a fake clock instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from simulators.telegram import BotApiSimulator, RateLimits, SimulatorDriver
from tests.simulators.telegram.conftest import TOKEN, BotApi


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def limited(clock: FakeClock) -> AsyncIterator[tuple[BotApi, SimulatorDriver]]:
    simulator = BotApiSimulator(TOKEN, limits=RateLimits(clock=clock))
    await simulator.start()
    async with httpx.AsyncClient(base_url=simulator.api_url) as client, \
            SimulatorDriver(simulator.base_url) as driver:
        yield BotApi(client), driver
    await simulator.stop()


async def _send(api: BotApi, chat_id: int) -> tuple[int, dict[str, Any]]:
    return await api.call("sendMessage", chat_id=chat_id, text="hi")


async def test_a_burst_in_one_chat_then_429_with_retry_after(
        limited: tuple[BotApi, SimulatorDriver], clock: FakeClock) -> None:
    api, tg = limited
    forum = await tg.create_forum("Sales")
    assert [(await _send(api, forum["id"]))[0] for _ in range(3)] == [200, 200, 200]
    status, body = await _send(api, forum["id"])
    assert status == 429
    assert body == {"ok": False, "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1}}
    other = await tg.create_forum("Support")
    assert (await _send(api, other["id"]))[0] == 200  # other chats are not affected
    clock.advance(1.0)
    assert (await _send(api, forum["id"]))[0] == 200
    assert (await _send(api, forum["id"]))[0] == 429


async def test_twenty_messages_a_minute_per_group(
        limited: tuple[BotApi, SimulatorDriver], clock: FakeClock) -> None:
    api, tg = limited
    forum = await tg.create_forum("Sales")
    for _ in range(20):
        assert (await _send(api, forum["id"]))[0] == 200
        clock.advance(1.0)
    status, body = await _send(api, forum["id"])
    assert status == 429
    # sent at t..t+19, now t+20: the first send leaves the window at t+60
    assert body["parameters"]["retry_after"] == 40
    clock.advance(40)
    assert (await _send(api, forum["id"]))[0] == 200


async def test_thirty_messages_a_second_overall(
        limited: tuple[BotApi, SimulatorDriver], clock: FakeClock) -> None:
    api, tg = limited
    users = [await tg.create_user(f"U{n}") for n in range(31)]
    chats = [await tg.create_private_chat(u["id"]) for u in users]
    for chat in chats[:30]:
        assert (await _send(api, chat["id"]))[0] == 200
    status, body = await _send(api, chats[30]["id"])
    assert (status, body["parameters"]) == (429, {"retry_after": 1})
    clock.advance(1.0)
    assert (await _send(api, chats[30]["id"]))[0] == 200


async def test_a_refused_message_is_not_sent(
        limited: tuple[BotApi, SimulatorDriver]) -> None:
    api, tg = limited
    forum = await tg.create_forum("Sales")
    statuses = [(await _send(api, forum["id"]))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(await tg.sent_messages(forum["id"])) == 3
