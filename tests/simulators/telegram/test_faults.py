"""Injected outages and latency of the Bot API."""

from __future__ import annotations

import time

import httpx

from simulators.telegram import BotApiSimulator, SimulatorDriver
from tests.simulators.telegram.conftest import BotApi


async def test_the_next_calls_fail_with_500_then_recover(
        api: BotApi, tg: SimulatorDriver) -> None:
    await tg.fail_next(2, 500)
    for _ in range(2):
        status, body = await api.call("getMe")
        assert (status, body) == (500, {"ok": False, "error_code": 500,
                                        "description": "Internal Server Error"})
    assert (await api.call("getMe"))[0] == 200


async def test_a_502_is_an_html_page_like_the_proxy_in_front_of_telegram(
        sim: BotApiSimulator, tg: SimulatorDriver) -> None:
    await tg.fail_next(1, 502)
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sim.api_url}/getMe")
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text


async def test_faults_can_target_methods_and_carry_retry_after(
        api: BotApi, tg: SimulatorDriver) -> None:
    await tg.fail_next(1, 429, methods=["sendMessage"], retry_after=7)
    assert (await api.call("getMe"))[0] == 200
    forum = await tg.create_forum("Sales")
    status, body = await api.call("sendMessage", chat_id=forum["id"], text="hi")
    assert (status, body["parameters"]) == (429, {"retry_after": 7})
    assert (await api.call("sendMessage", chat_id=forum["id"], text="hi"))[0] == 200


async def test_latency_delays_every_call_until_cleared(
        api: BotApi, tg: SimulatorDriver) -> None:
    await tg.set_latency(0.3)
    started = time.monotonic()
    await api.result("getMe")
    assert time.monotonic() - started >= 0.3
    state = await tg.clear_faults()
    assert state == {"latency": 0.0, "rules": []}
