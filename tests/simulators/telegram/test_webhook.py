"""Webhook delivery: real POSTs, the secret header, retries, per-chat order, pending count."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from simulators.telegram import BotApiSimulator, RetryPolicy, SimulatorDriver
from simulators.telegram.bot_api import MAX_POLL_TIMEOUT
from tests.simulators.telegram.conftest import FAST_RETRY, TOKEN, BotApi, WebhookReceiver


async def _info_when(api: BotApi, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            info = await api.result("getWebhookInfo")
            if predicate(info):
                return dict(info)
            await asyncio.sleep(0.02)


async def test_updates_are_posted_as_json_with_the_secret_header(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    await api.result("setWebhook", url=receiver.url, secret_token="s3cret_-X")
    said = await tg.write(forum["id"], ann["id"], "hello")
    [update] = await receiver.wait_accepted(1)
    assert update == said.update
    headers = receiver.received[0]["headers"]
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret_-X"
    assert headers["Content-Type"] == "application/json"
    info = await _info_when(api, lambda i: i["pending_update_count"] == 0)
    assert info["url"] == receiver.url
    assert info["has_custom_certificate"] is False
    assert info["max_connections"] == 40
    assert "last_error_date" not in info


async def test_no_secret_header_without_a_secret(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    await api.result("setWebhook", url=receiver.url)
    await tg.write(forum["id"], ann["id"], "hello")
    await receiver.wait_accepted(1)
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.received[0]["headers"]


async def test_pending_updates_wait_for_the_webhook_and_are_delivered_when_it_is_set(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    await tg.write(forum["id"], ann["id"], "before the webhook")
    assert (await api.result("getWebhookInfo"))["pending_update_count"] == 1
    await api.result("setWebhook", url=receiver.url)
    [update] = await receiver.wait_accepted(1)
    assert update["message"]["text"] == "before the webhook"


async def test_a_500_is_retried_recorded_and_the_update_kept_until_a_2xx(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    receiver.statuses = [500, 500]
    receiver.delay = 0.05
    await api.result("setWebhook", url=receiver.url)
    said = await tg.write(forum["id"], ann["id"], "hello")
    failing = await _info_when(api, lambda i: "last_error_date" in i)
    assert failing["pending_update_count"] == 1
    assert failing["last_error_message"] == (
        "Wrong response from the webhook: 500 Internal Server Error")
    assert await receiver.wait_accepted(1) == [said.update]
    await _info_when(api, lambda i: i["pending_update_count"] == 0)
    attempts = [(a["update_id"], a["attempt"], a["status"]) for a in await tg.webhook_log()]
    assert attempts == [(said.update_id, 1, 500), (said.update_id, 2, 500),
                        (said.update_id, 3, 200)]


async def test_an_unreachable_webhook_records_connection_refused_and_gives_up(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    url = receiver.url
    await receiver.stop()
    await api.result("setWebhook", url=url)
    await tg.write(forum["id"], ann["id"], "into the void")
    info = await _info_when(api, lambda i: i["pending_update_count"] == 0)
    assert info["last_error_message"] == "Connection refused"
    log = await tg.webhook_log()
    refused = [a for a in log if a["error"] == "Connection refused"]
    assert len(refused) == FAST_RETRY.max_attempts
    assert log[-1]["error"] == "gave up"


async def test_one_chat_is_delivered_in_order_one_at_a_time_chats_in_parallel(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, ann: dict[str, Any]) -> None:
    receiver.delay = 0.15
    receiver.statuses = [200, 503]  # the 2nd update of some chat fails once
    forums = [await tg.create_forum(f"Forum {n}") for n in range(3)]
    written = []
    for round_ in range(3):
        for chat in forums:
            written.append(await tg.write(chat["id"], ann["id"], f"{chat['id']}:{round_}"))
    await api.result("setWebhook", url=receiver.url, max_connections=10)
    accepted = await receiver.wait_accepted(len(written), timeout=10)

    for chat in forums:
        ids = [u["update_id"] for u in accepted if u["message"]["chat"]["id"] == chat["id"]]
        assert ids == sorted(ids) and len(ids) == 3
        starts = [r["started"] for r in receiver.received
                  if r["update"]["message"]["chat"]["id"] == chat["id"]]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(gap >= 0.14 for gap in gaps), gaps  # the next waited for the previous
    assert receiver.max_in_flight >= 2  # different chats went concurrently


async def test_max_connections_caps_concurrent_requests(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, ann: dict[str, Any]) -> None:
    receiver.delay = 0.1
    for n in range(4):
        chat = await tg.create_forum(f"Forum {n}")
        await tg.write(chat["id"], ann["id"], "hi")
    await api.result("setWebhook", url=receiver.url, max_connections=1)
    await receiver.wait_accepted(4)
    assert receiver.max_in_flight == 1


async def test_delete_webhook_leaves_pending_updates_for_get_updates(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    receiver.statuses = [500] * 50
    await api.result("setWebhook", url=receiver.url)
    said = await tg.write(forum["id"], ann["id"], "stuck")
    await _info_when(api, lambda i: "last_error_date" in i)
    _, body = await api.call("deleteWebhook")
    assert body["description"] == "Webhook was deleted"
    assert [u["update_id"] for u in await api.result("getUpdates")] == [said.update_id]


async def test_drop_pending_updates_forgets_them(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    await tg.write(forum["id"], ann["id"], "old news")
    await api.result("setWebhook", url=receiver.url, drop_pending_updates=True)
    assert (await api.result("getWebhookInfo"))["pending_update_count"] == 0
    fresh = await tg.write(forum["id"], ann["id"], "fresh")
    assert await receiver.wait_accepted(1) == [fresh.update]


async def test_redeliver_posts_the_same_update_again(
        api: BotApi, tg: SimulatorDriver, receiver: WebhookReceiver, forum: dict[str, Any],
        ann: dict[str, Any]) -> None:
    await api.result("setWebhook", url=receiver.url)
    said = await tg.write(forum["id"], ann["id"], "twice")
    await receiver.wait_accepted(1)
    await tg.redeliver(said.queued_id)
    assert await receiver.wait_accepted(2) == [said.update, said.update]
    assert [a["replay"] for a in await tg.webhook_log()] == [False, True]


@pytest.mark.parametrize(("secret", "description"), [
    ("has space", "Bad Request: secret token contains unallowed characters"),
    ("x" * 257, "Bad Request: secret token is too long"),
])
async def test_set_webhook_refuses_bad_secret_tokens(
        api: BotApi, secret: str, description: str) -> None:
    status, body = await api.call("setWebhook", url="http://127.0.0.1:9/h", secret_token=secret)
    assert (status, body["description"]) == (400, description)


async def test_set_webhook_with_an_empty_url_removes_it(api: BotApi) -> None:
    await api.result("setWebhook", url="http://127.0.0.1:9/h")
    _, again = await api.call("setWebhook", url="http://127.0.0.1:9/h")
    assert again["description"] == "Webhook is already set"
    _, removed = await api.call("setWebhook", url="")
    assert removed["description"] == "Webhook was deleted"
    assert (await api.result("getWebhookInfo"))["url"] == ""


async def test_a_timed_out_answer_is_retried_so_the_bot_sees_the_update_twice(
        receiver: WebhookReceiver) -> None:
    """The webhook got the update but answered too late: Telegram sends it again."""
    policy = RetryPolicy(initial_delay=0.01, max_attempts=3, request_timeout=0.2)
    receiver.delays = [0.5]
    async with BotApiSimulator(TOKEN, webhook_retry=policy) as simulator, \
            SimulatorDriver(simulator.base_url) as tg, \
            httpx.AsyncClient(base_url=simulator.api_url) as client:
        api = BotApi(client)
        ann = await tg.create_user("Ann")
        said = await tg.write(ann["id"], ann["id"], "/start")
        await api.result("setWebhook", url=receiver.url)
        info = await _info_when(api, lambda i: i["pending_update_count"] == 0)
        await receiver.wait_accepted(2)
    assert [r["update"] for r in receiver.received] == [said.update, said.update]
    assert info["last_error_message"] == "Read timeout expired"


QUICK = RetryPolicy(initial_delay=0.01, max_delay=0.02, request_timeout=2.0)


@contextlib.asynccontextmanager
async def _with_ann(**options: Any) -> AsyncIterator[
        tuple[BotApi, SimulatorDriver, dict[str, Any]]]:
    """A simulator built with ``options``, its Bot API, its driver, and a user Ann."""
    async with BotApiSimulator(TOKEN, **options) as simulator, \
            SimulatorDriver(simulator.base_url) as tg, \
            httpx.AsyncClient(base_url=simulator.api_url) as client:
        yield BotApi(client), tg, await tg.create_user("Ann")


class _WallClock:
    def __init__(self) -> None:
        self.now = 1_767_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_default_schedule_grows_to_a_minute_and_never_gives_up_by_count() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.max_attempts is None  # only the update's 24 hours end it
    assert policy.delay(1, retry_after=90.0) == 90.0  # the webhook's Retry-After, as given


async def test_retry_after_of_the_webhooks_answer_is_waited_out() -> None:
    answered: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        answered.append(asyncio.get_running_loop().time())
        if len(answered) == 1:
            return web.Response(status=429, headers={"Retry-After": "0.4"})
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with _with_ann(webhook_retry=QUICK) as (api, tg, ann):
            await tg.write(ann["id"], ann["id"], "/start")
            await api.result("setWebhook", url=url)
            await _info_when(api, lambda i: i["pending_update_count"] == 0)
    finally:
        await runner.cleanup()
    assert len(answered) == 2 and answered[1] - answered[0] >= 0.4


async def test_an_update_older_than_24_hours_is_dropped_not_delivered(
        receiver: WebhookReceiver) -> None:
    wall = _WallClock()
    receiver.statuses = [500] * 1000
    async with _with_ann(webhook_retry=QUICK, wall_clock=wall) as (api, tg, ann):
        said = await tg.write(ann["id"], ann["id"], "/start")
        await api.result("setWebhook", url=receiver.url)
        await _info_when(api, lambda i: "last_error_date" in i)
        assert (await api.result("getWebhookInfo"))["pending_update_count"] == 1
        wall.now += 24 * 3600 + 1
        await _info_when(api, lambda i: i["pending_update_count"] == 0)
        log = await tg.webhook_log()
    assert log[-1]["update_id"] == said.update_id and log[-1]["error"] == "expired"
    assert receiver.accepted() == []


async def test_get_updates_drops_updates_older_than_24_hours() -> None:
    assert MAX_POLL_TIMEOUT == 50  # the Bot API server's cap on a long poll
    wall = _WallClock()
    async with _with_ann(wall_clock=wall) as (api, tg, ann):
        await tg.write(ann["id"], ann["id"], "old")
        wall.now += 24 * 3600 + 1
        fresh = await tg.write(ann["id"], ann["id"], "new")
        assert await api.result("getUpdates") == [fresh.update]
