"""Telegram falling silent tells Salesforce (``telecase.ops.silence_salesforce``): one Task
for the configured user per silence episode, in the simulated org through simple-salesforce."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce.api import Salesforce

from streams.sla.calendar import BusinessCalendar
from telecase.ops.silence import SilenceWatch, watch_silence
from telecase.ops.silence_salesforce import SUBJECT, SalesforceSilenceNotice

HOOK = {"url": "https://example.test/telegram", "pending_update_count": 0}


class ScriptedUpdates:
    """``telegram.updates``' size, read after read; stops the watcher at the end."""

    def __init__(self, sizes: list[int], stop: asyncio.Event) -> None:
        self.sizes, self.stop = sizes, stop

    async def end_offsets(self, topic: str) -> dict[int, int]:
        size = self.sizes.pop(0)
        if not self.sizes:
            self.stop.set()
        return {0: size}


class ScriptedBotApi:
    """``getWebhookInfo`` fails on the reads listed in ``failing``; notices are kept."""

    def __init__(self, failing: set[int]) -> None:
        self.failing, self.reads = failing, 0
        self.notices: list[str] = []

    async def call(self, method: str, **params: Any) -> Any:
        if method == "sendMessage":
            self.notices.append(params["text"])
            return {}
        self.reads += 1
        if self.reads in self.failing:
            raise ConnectionError("telegram down")
        return HOOK


async def user_id(sf: Salesforce) -> str:
    found = await asyncio.to_thread(sf.query, "SELECT Id FROM User LIMIT 1")
    return str(found["records"][0]["Id"])


async def silence_tasks(sf: Salesforce) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(
        sf.query, f"SELECT Id, Subject, Description, OwnerId FROM Task WHERE Subject = '{SUBJECT}'")
    return list(found["records"])


async def test_each_silence_episode_creates_one_task_for_the_configured_user(
        sf: Salesforce) -> None:
    lead = await user_id(sf)

    async def connect() -> Salesforce:
        return sf

    stop = asyncio.Event()
    # read 1: first look; 2: no update (episode 1); 3: the API fails too (reasons change,
    # same episode); 4: an update (delivering); 5: none again (episode 2); 6: same episode.
    bus = ScriptedUpdates([1, 1, 1, 2, 2, 2], stop)
    api = ScriptedBotApi(failing={3})
    watch = SilenceWatch(timedelta(0), BusinessCalendar.always_open(),
                         datetime.now(UTC) - timedelta(minutes=1))
    await watch_silence(bus, "telegram.updates", api, watch, stop,  # type: ignore[arg-type]
                        lead_chat_id=-100, salesforce=SalesforceSilenceNotice(connect, lead),
                        every=0.01)
    assert len(api.notices) == 3  # the lead chat hears of each change of reasons
    tasks = await silence_tasks(sf)
    assert len(tasks) == 2
    assert {t["OwnerId"] for t in tasks} == {lead}
    assert all("no_updates" in t["Description"] for t in tasks)


async def test_salesforce_being_down_does_not_stop_the_watch(sf: Salesforce) -> None:
    async def down() -> Salesforce:
        raise ConnectionError("salesforce down")

    stop = asyncio.Event()
    watch = SilenceWatch(timedelta(0), BusinessCalendar.always_open(), datetime.now(UTC))
    api = ScriptedBotApi(failing=set())
    await watch_silence(ScriptedUpdates([1, 1, 1], stop), "telegram.updates",  # type: ignore[arg-type]
                        api, watch, stop, salesforce=SalesforceSilenceNotice(down, "005x"),
                        every=0.01)
    assert await silence_tasks(sf) == []
