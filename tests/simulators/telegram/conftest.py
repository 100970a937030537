"""Fixtures for the Bot API simulator's behaviour tests: a running simulator, its driver, a
Bot API client, and a small webhook receiver whose answers a test can script."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from simulators.telegram import (
    BotApiSimulator,
    RateLimits,
    RetryPolicy,
    SimulatorDriver,
)
from streams.core.ticket import TicketState

TOKEN = "7000000001:AAE-simulator-test"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
FAST_RETRY = RetryPolicy(initial_delay=0.02, factor=2.0, max_delay=0.1, max_attempts=4,
                         request_timeout=2.0)


class BotApi:
    """A thin Bot API caller that returns (HTTP status, envelope)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        body = {k: v for k, v in params.items() if v is not None}
        response = await self.client.post(f"/{method}", json=body)
        return response.status_code, response.json()

    async def result(self, method: str, **params: Any) -> Any:
        status, body = await self.call(method, **params)
        assert status == 200 and body["ok"] is True, body
        return body["result"]


class WebhookReceiver:
    """An aiohttp server playing the bot's webhook endpoint.

    ``statuses`` are answered in order (then 200); ``delays`` are slept before answering, in
    order (then ``delay``).
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delays: list[float] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            update = await request.json()
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append({"update": update, "headers": dict(request.headers),
                                  "status": status, "started": asyncio.get_running_loop().time()})
            delay = self.delays.pop(0) if self.delays else self.delay
            if delay:
                await asyncio.sleep(delay)
            self._arrived.set()
            return web.json_response({"ok": status < 300}, status=status)
        finally:
            self.in_flight -= 1

    def accepted(self) -> list[dict[str, Any]]:
        """Updates answered with 2xx, in the order they arrived."""
        return [r["update"] for r in self.received if 200 <= r["status"] < 300]

    async def wait_accepted(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                self._arrived.clear()
                if len(self.accepted()) >= count:
                    return self.accepted()
                await self._arrived.wait()


@pytest.fixture
async def sim() -> AsyncIterator[BotApiSimulator]:
    simulator = BotApiSimulator(TOKEN, limits=RateLimits(enabled=False),
                                webhook_retry=FAST_RETRY)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def tg(sim: BotApiSimulator) -> AsyncIterator[SimulatorDriver]:
    async with SimulatorDriver(sim.base_url) as driver:
        yield driver


@pytest.fixture
async def api(sim: BotApiSimulator) -> AsyncIterator[BotApi]:
    async with httpx.AsyncClient(base_url=sim.api_url, timeout=10.0) as client:
        yield BotApi(client)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver()
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
async def forum(tg: SimulatorDriver) -> dict[str, Any]:
    return await tg.create_forum("Sales")


@pytest.fixture
async def ann(tg: SimulatorDriver) -> dict[str, Any]:
    return await tg.create_user("Ann", username="ann_smith", phone="+15550100")


def forum_ticket(chat: int, thread: int) -> TicketState:
    """An open forum ticket on ``thread``, as the reconciler's probe reads it."""
    return TicketState(ticket_id=f"tg:{chat}:t{thread}", channel="forum_topic", chat_id=chat,
                       thread_id=thread, seq=1, status="open", status_message_id=thread,
                       subject="Pricing", subject_message_id=thread, customer=None,
                       customer_message_id=thread, opened_at=T0, last_message_at=None)


async def no_wait(_: float) -> None:
    """A sleep that returns at once."""
    return None
