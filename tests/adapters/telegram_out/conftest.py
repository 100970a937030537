"""A reply mirror on the embedded log, talking to the real Telegram simulator over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from connectors.raw_log import BusRawLog
from connectors.telegram.bot_api import BotApi
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror import Limits, ReplyMirror
from simulators.telegram import BotApiSimulator, RateLimits, SimulatorDriver
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    SourceRef,
    TicketEvent,
    TicketOpened,
    encode_event,
)

TOKEN = "7000000001:AAE-mirror-test"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LOOSE = Limits(per_chat=1000, per_group=1000, overall=1000, margin=0.0)
"""Mirror limits that never hold anything back (the simulator's are off too)."""


def opened(ticket_id: str, chat_id: int, thread_id: int | None, subject: str = "Pricing",
           *, at: datetime = T0) -> TicketOpened:
    return TicketOpened(
        event_id=f"{ticket_id}#1", ticket_id=ticket_id, seq=1, occurred_at=at, recorded_at=at,
        source=SourceRef(kind="telegram", chat_id=chat_id, message_id=thread_id or 1),
        actor=Actor(kind="customer", id="1"),
        channel="forum_topic" if thread_id else "private_chat", chat_id=chat_id,
        thread_id=thread_id, thread_key=f"{chat_id}:t{thread_id}", subject=subject,
        subject_message_id=thread_id or 1, customer=None, customer_message_id=thread_id or 1)


def replied(ticket_id: str, seq: int, text: str, chat_id: int | None,
            thread_id: int | None, *, via: str = "salesforce",
            at: datetime | None = None, agent: str | None = "Alice") -> AgentReplied:
    when = at or T0 + timedelta(seconds=seq)
    return AgentReplied(
        event_id=f"{ticket_id}#{seq}", ticket_id=ticket_id, seq=seq, occurred_at=when,
        recorded_at=when, source=SourceRef(kind="salesforce", change_id=f"c{seq}"),
        actor=Actor(kind="agent", id="005A"), via=via,  # type: ignore[arg-type]
        comment_id=f"00a{seq}" if via == "salesforce" else None,
        message_id=None if via == "salesforce" else 900 + seq,
        chat_id=chat_id, thread_id=thread_id,
        agent=Agent(salesforce_user_id="005A", display_name=agent), text=text)


class ClosableBus(Bus, Protocol):
    async def close(self) -> None: ...


@dataclass
class Harness:
    sim: BotApiSimulator
    tg: SimulatorDriver
    bus: ClosableBus
    ledger: DeliveryLedger
    api: BotApi
    names: TopicNames = field(default_factory=lambda: TopicNames(f"t{uuid.uuid4().hex[:8]}."))
    running: list[tuple[ReplyMirror, asyncio.Event, asyncio.Task[None]]] = field(
        default_factory=list)

    async def append(self, *events: TicketEvent) -> None:
        await self.bus.append(self.names.ticket_events, [
            Outgoing(e.ticket_id.encode(), encode_event(e)) for e in events])

    def mirror(self, **options: Any) -> ReplyMirror:
        options.setdefault("limits", LOOSE)
        options.setdefault("raw_log", BusRawLog(self.bus, self.names.telegram_updates))
        options.setdefault("commit_interval", 0.02)
        return ReplyMirror(self.bus, self.names, self.api, self.ledger, **options)

    def start(self, **options: Any) -> ReplyMirror:
        mirror = self.mirror(**options)
        stop = asyncio.Event()
        self.running.append((mirror, stop, asyncio.create_task(mirror.run(stop))))
        return mirror

    async def stop(self) -> None:
        while self.running:
            _, stop, task = self.running.pop()
            stop.set()
            await asyncio.wait_for(task, 10)

    async def wait(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for _, _, task in self.running:
                if task.done():
                    task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met")
            await asyncio.sleep(0.01)

    async def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        return await self.tg.sent_messages(chat_id)

    async def records(self, topic: str) -> list[Record]:
        return await self.bus.read(topic, 0, 0, 10_000)


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, limits: RateLimits | None = None, *,
                  bus: ClosableBus | None = None,
                  ledger_url: str | None = None) -> AsyncIterator[Harness]:
    """The embedded log and a SQLite ledger unless ``bus`` / ``ledger_url`` say otherwise."""
    sim = BotApiSimulator(TOKEN, limits=limits or RateLimits(enabled=False))
    await sim.start()
    if bus is None:
        bus = await EmbeddedLog.open(tmp_path / "log.sqlite")
    ledger = DeliveryLedger.from_url(ledger_url or f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    api = BotApi(TOKEN, base_url=sim.base_url, timeout=5.0)
    tg = SimulatorDriver(sim.base_url)
    h = Harness(sim, tg, bus, ledger, api)
    try:
        yield h
    finally:
        await h.stop()
        await tg.aclose()
        await api.aclose()
        ledger.dispose()
        await bus.close()
        await sim.stop()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(tmp_path) as opened_harness:
        yield opened_harness


@pytest.fixture
async def forum(h: Harness) -> dict[str, Any]:
    return await h.tg.create_forum("Sales")


@pytest.fixture
async def ann(h: Harness) -> dict[str, Any]:
    return await h.tg.create_user("Ann", username="ann")
