"""``telecase bench telegram-out``: agent replies through the reply mirror into Telegram.

Everything runs in this process: the Telegram simulator (real HTTP, Telegram's documented
flood limits on unless told otherwise), an embedded log and a SQLite delivery ledger in a
temporary directory. The bench opens ``forums * topics_per_forum`` forum topics and
``private_chats`` private chats in the simulator, appends ``replies`` ``AgentReplied``
(``via="salesforce"``) events spread round-robin over those threads to ``ticket.events`` at
once (a backlog, the hardest case for the shaping), runs one :class:`ReplyMirror` until each
reply is delivered or dead-lettered, and reports JSON. With ``rate`` > 0 the replies are
appended at that pace while the mirror runs instead (steady state: latency then shows the
mirror's own overhead, as long as the pace per chat stays within the limits).

Figures:

- ``delivered``: distinct replies the *simulator* received from the bot; ``duplicates``: any
  received more than once; ``completeness_pct``: delivered / replies (target 100);
- ``telegram_429s``: 429 answers the mirror got (target 0: its scheduler keeps the limits);
- ``duration_s`` and ``msgs_per_s``: from the mirror's start to the last delivery;
- ``latency_ms``: p50/p99/max from a reply's append (its ``occurred_at``) to its delivery
  (its ledger ``sent_at``).

With Telegram's limits (1/s per chat, 20/min per group, 30/s overall), throughput is bounded by
the slowest thread: a forum's topics share one chat, so ``replies / threads`` per chat at ~1/s,
and never more than ~30/s in total.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.raw_log import BusRawLog
from connectors.telegram.bot_api import BotApi
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror import Limits, ReplyMirror
from simulators.telegram import BotApiSimulator, RateLimits, SimulatorDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    SourceRef,
    TicketEvent,
    TicketOpened,
    decode_event,
    encode_event,
)

TOKEN = "7000000002:bench-telegram-out"
_MARK = re.compile(r"\[r(\d+)\]")


async def run_bench(*, replies: int = 300, forums: int = 10, topics_per_forum: int = 2,
                    private_chats: int = 40, telegram_limits: RateLimits | None = None,
                    mirror_limits: Limits | None = None, max_in_flight: int = 8,
                    rate: float = 0.0, timeout: float = 600.0) -> dict[str, Any]:
    """Run the bench and return its figures (JSON-able). ``telegram_limits``: the simulator's
    flood limits (default: Telegram's); ``mirror_limits``: the mirror's (default: Telegram's
    documented ones); ``rate``: replies appended per second while the mirror runs (0: all
    of them before it starts)."""
    if replies < 1 or forums * topics_per_forum + private_chats < 1:
        raise ValueError("need at least one reply and one thread")
    sim = BotApiSimulator(TOKEN, limits=telegram_limits or RateLimits())
    await sim.start()
    try:
        with tempfile.TemporaryDirectory(prefix="telecase-bench-tg-") as work:
            return await _bench(sim, Path(work), replies=replies, forums=forums,
                                topics_per_forum=topics_per_forum, private_chats=private_chats,
                                mirror_limits=mirror_limits or Limits(),
                                max_in_flight=max_in_flight, rate=rate, timeout=timeout)
    finally:
        await sim.stop()


def run(**options: Any) -> dict[str, Any]:
    """:func:`run_bench` from synchronous code (the CLI)."""
    return asyncio.run(run_bench(**options))


async def _threads(tg: SimulatorDriver, forums: int, topics_per_forum: int,
                   private_chats: int) -> list[tuple[str, int, int | None, str]]:
    """``(ticket_id, chat_id, thread_id, subject)`` of every thread the bench answers in."""
    threads: list[tuple[str, int, int | None, str]] = []
    customer = await tg.create_user("Bench", username="bench_customer")
    for f in range(forums):
        forum = await tg.create_forum(f"Bench forum {f}")
        for t in range(topics_per_forum):
            subject = f"Inquiry {f}.{t}"
            thread = (await tg.open_topic(forum["id"], customer["id"], subject)).thread_id
            threads.append((f"tg:{forum['id']}:t{thread}", forum["id"], thread, subject))
    for p in range(private_chats):
        user = await tg.create_user(f"Customer {p}")
        chat = await tg.create_private_chat(user["id"])
        threads.append((f"tg:{chat['id']}:p1", chat["id"], None, f"Private {p}"))
    return threads


def _opened(threads: list[tuple[str, int, int | None, str]],
            now: datetime) -> list[TicketEvent]:
    events: list[TicketEvent] = []
    for ticket_id, chat_id, thread_id, subject in threads:
        events.append(TicketOpened(
            event_id=f"{ticket_id}#1", ticket_id=ticket_id, seq=1, occurred_at=now,
            recorded_at=now, source=SourceRef(kind="telegram", chat_id=chat_id),
            actor=Actor(kind="customer"),
            channel="forum_topic" if thread_id else "private_chat", chat_id=chat_id,
            thread_id=thread_id, thread_key=f"{chat_id}:{thread_id}", subject=subject,
            subject_message_id=thread_id or 1, customer=None,
            customer_message_id=thread_id or 1))
    return events


_AGENT = Agent(salesforce_user_id="005BENCH", display_name="Bench Agent")


def _reply(threads: list[tuple[str, int, int | None, str]], n: int) -> AgentReplied:
    """Reply ``n``, round-robin over the threads (ticket seq 1 is its ``TicketOpened``)."""
    ticket_id, chat_id, thread_id, _ = threads[n % len(threads)]
    seq = n // len(threads) + 2
    now = datetime.now(UTC)
    return AgentReplied(
        event_id=f"{ticket_id}#{seq}", ticket_id=ticket_id, seq=seq, occurred_at=now,
        recorded_at=now, source=SourceRef(kind="salesforce", change_id=f"bench-{n}"),
        actor=Actor(kind="agent", id="005BENCH"), via="salesforce",
        comment_id=f"00aBENCH{n}", chat_id=chat_id, thread_id=thread_id, agent=_AGENT,
        text=f"Thanks for waiting: here is the answer to your question. [r{n}]")


async def _append(bus: EmbeddedLog, names: TopicNames, events: list[TicketEvent]) -> None:
    for start in range(0, len(events), 1000):
        await bus.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                               for e in events[start:start + 1000]])


async def _feed(bus: EmbeddedLog, names: TopicNames,
                threads: list[tuple[str, int, int | None, str]], replies: int,
                rate: float) -> None:
    """Append the replies at ``rate`` per second (on a schedule, not sleep-after-each)."""
    start = time.monotonic()
    for n in range(replies):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await _append(bus, names, [_reply(threads, n)])


async def _bench(sim: BotApiSimulator, work: Path, *, replies: int, forums: int,
                 topics_per_forum: int, private_chats: int, mirror_limits: Limits,
                 max_in_flight: int, rate: float, timeout: float) -> dict[str, Any]:
    names = TopicNames("bench.")
    bus = await EmbeddedLog.open(work / "log.sqlite")
    ledger = DeliveryLedger.from_url(f"sqlite:///{work / 'ledger.sqlite'}")
    api = BotApi(TOKEN, base_url=sim.base_url, timeout=10.0)
    tg = SimulatorDriver(sim.base_url, timeout=30.0)
    try:
        threads = await _threads(tg, forums, topics_per_forum, private_chats)
        await _append(bus, names, _opened(threads, datetime.now(UTC)))
        if rate <= 0:
            await _append(bus, names, [_reply(threads, n) for n in range(replies)])
        mirror = ReplyMirror(bus, names, api, ledger, limits=mirror_limits,
                             raw_log=BusRawLog(bus, names.telegram_updates),
                             max_in_flight=max_in_flight)
        stop = asyncio.Event()
        task = asyncio.create_task(mirror.run(stop))
        feeder = asyncio.create_task(_feed(bus, names, threads, replies, rate)) if (
            rate > 0) else None
        started = time.monotonic()
        finished = started
        while mirror.stats.sent + mirror.stats.dead_lettered < replies:
            if task.done():
                task.result()
                raise RuntimeError("the mirror stopped before delivering everything")
            if time.monotonic() - started > timeout:
                break
            await asyncio.sleep(0.01)
            finished = time.monotonic()
        stop.set()
        await task
        if feeder is not None:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        occurred = {e.event_id: e.occurred_at for e in await _logged(bus, names)}
        received = [int(m.group(1)) for s in await tg.sent_messages()
                    if (m := _MARK.search(s["text"]))]
        delivered = len(set(received))
        duration = max(finished - started, 1e-9)
        latencies = sorted((d.sent_at - occurred[d.event_id]).total_seconds() * 1000
                           for d in await asyncio.to_thread(ledger.deliveries))
        return {
            "replies": replies,
            "threads": len(threads),
            "forum_topics": forums * topics_per_forum,
            "private_chats": private_chats,
            "delivered": delivered,
            "duplicates": len(received) - delivered,
            "completeness_pct": round(100.0 * delivered / replies, 2),
            "telegram_429s": mirror.stats.flood_429,
            "dead_lettered": mirror.stats.dead_lettered,
            "duration_s": round(duration, 3),
            "msgs_per_s": round(delivered / duration, 2),
            "latency_ms": _percentiles(latencies),
            "mirror_limits": asdict(mirror_limits),
        }
    finally:
        await tg.aclose()
        await api.aclose()
        await asyncio.to_thread(ledger.dispose)
        await bus.close()


async def _logged(bus: EmbeddedLog, names: TopicNames) -> list[TicketEvent]:
    events: list[TicketEvent] = []
    for partition in range(await bus.partitions(names.ticket_events)):
        offset = 0
        while records := await bus.read(names.ticket_events, partition, offset, 5000):
            events.extend(decode_event(r.value) for r in records)
            offset = records[-1].offset + 1
    return events


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    if len(values) == 1:
        return {"p50": round(values[0], 1), "p99": round(values[0], 1),
                "max": round(values[0], 1)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p99": round(cuts[98], 1), "max": round(values[-1], 1)}


__all__ = ["run", "run_bench"]
