"""SLA timers on the embedded runtime: fired by the worker's ticker, persisted with the
tickets' states, and fired on recovery when they came due while nothing ran (the ticker's
clock is driven; the log and store are real SQLite files)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.topics import TopicNames
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import decode_event
from tests.telegram_factory import BOT_ID, Script, private
from tests.unit.core.test_service_level import ANN, POLICY

NAMES = TopicNames()
T0 = 1_780_000_000


async def events_of(log: EmbeddedLog, topic: str = NAMES.ticket_events) -> list[object]:
    out: list[object] = []
    for p in range(await log.partitions(topic)):
        offset = 0
        while batch := await log.read(topic, p, offset, 1000):
            out += [decode_event(r.value) for r in batch]
            offset = batch[-1].offset + 1
    return out


async def run_worker(path: Path, now: float, until: object, tick_interval: float = 0.05,
                     tick_max_due: int | None = None) -> list[object]:
    """Run a worker over the log at ``path`` with its clock at ``now`` until ``until(events)``
    holds (or 10 s pass), then stop it; the events in the log."""
    log = await EmbeddedLog.open(path, 2)
    for topic in (NAMES.telegram_updates, NAMES.ticket_commands, NAMES.ticket_events):
        await log.create_topic(topic, 2)
    stop = asyncio.Event()
    worker = EmbeddedWorker(log, NAMES, sla_policy=POLICY, tick_interval=tick_interval,
                            clock=lambda: now, tick_max_due=tick_max_due)
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(200):
            events = await events_of(log)
            if until(events):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let a wrong extra tick show up
        return await events_of(log)
    finally:
        stop.set()
        await task
        await log.close()


def signals(events: list[object]) -> list[tuple[str, str]]:
    return [(e.ticket_id, getattr(e, "signal", e.type)) for e in events  # type: ignore[attr-defined]
            if e.type.startswith("sla.")]  # type: ignore[attr-defined]


async def _three_tickets(path: Path) -> None:
    """Three private chats' first messages at ``T0``, in the log's ``telegram.updates``."""
    log = await EmbeddedLog.open(path, 2)
    await log.create_topic(NAMES.telegram_updates, 2)
    updates = []
    for uid in (501, 502, 503):
        update = Script(private(uid), start_update=uid * 10).write(ANN | {"id": uid},
                                                                   "Hello", T0)
        raw = RawTelegramUpdate(bot_id=BOT_ID, source="webhook",
                                received_at=datetime.fromtimestamp(T0, UTC), update=update)
        updates.append(Outgoing(raw.routing_key().encode(), raw.to_bytes()))
    await log.append(NAMES.telegram_updates, updates)
    await log.close()


def test_timers_that_came_due_while_nothing_ran_fire_once_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"

    async def scenario() -> None:
        await _three_tickets(path)

        # 1. The worker runs at T0 + 1 s: three tickets start, nothing is due yet.
        first = await run_worker(path, T0 + 1, lambda ev: len(signals(ev)) >= 3)
        assert Counter(s[1] for s in signals(first)) == {"sla.started": 3}

        # 2. Nothing runs for 20 minutes; a new worker starts: everything due fires at once,
        #    each once per ticket, stamped with when it was due.
        late = T0 + 20 * 60
        second = await run_worker(path, late, lambda ev: len(signals(ev)) >= 12)
        fired = Counter(s[1] for s in signals(second))
        assert fired == {"sla.started": 3, "first_response_warning:0.5": 3,
                         "first_response_breached": 3, "escalation:1": 3}
        breach = next(e for e in second
                      if getattr(e, "signal", None) == "first_response_breached")
        assert breach.occurred_at == datetime.fromtimestamp(T0, UTC) + timedelta(minutes=10)  # type: ignore[attr-defined]
        assert breach.source.kind == "clock"  # type: ignore[attr-defined]

        # 3. Restarted again at the same instant: nothing fires twice.
        third = await run_worker(path, late, lambda ev: False)
        assert signals(third) == signals(second)
        ids = [e.event_id for e in third]  # type: ignore[attr-defined]
        assert len(ids) == len(set(ids))

        # 4. The restart fired the timers from the stored clocks alone (streams.runtime
        #    .state_codec v4): the customer's next message continues each ticket's sequence
        #    after its SLA events, none of them doubled or overwritten.
        log = await EmbeddedLog.open(path, 2)
        chat = Script(private(501), start_update=9000)
        chat.write(ANN | {"id": 501}, "Hello", T0)  # message 1, folded in step 1
        again = chat.write(ANN | {"id": 501}, "Still there?", late + 5)
        raw = RawTelegramUpdate(bot_id=BOT_ID, source="webhook",
                                received_at=datetime.fromtimestamp(late + 5, UTC), update=again)
        await log.append(NAMES.telegram_updates, [Outgoing(raw.routing_key().encode(),
                                                           raw.to_bytes())])
        await log.close()
        fourth = await run_worker(path, late + 6, lambda ev: len(ev) > len(third))
        ticket = [e for e in fourth if e.ticket_id == "tg:501:p:1"]  # type: ignore[attr-defined]
        seqs = [e.seq for e in ticket]  # type: ignore[attr-defined]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert ticket[-1].type == "customer.message_received"  # type: ignore[attr-defined]
        assert len(fourth) == len(third) + 1

    asyncio.run(scenario())


def test_a_restart_s_backlog_is_fired_tick_after_tick_without_waiting_the_interval(
        tmp_path: Path) -> None:
    """A restart fires at most ``tick_max_due`` overdue threads a tick; the worker sends the
    next tick as soon as one leaves a backlog, not at the ticker's next look: with one thread
    a tick and a minute between looks, three overdue tickets (two of them in one of the two
    partitions) all fire within seconds."""
    path = tmp_path / "log.sqlite"

    async def scenario() -> None:
        await _three_tickets(path)
        await run_worker(path, T0 + 1, lambda ev: len(signals(ev)) >= 3)
        fired = await run_worker(path, T0 + 20 * 60, lambda ev: len(signals(ev)) >= 12,
                                 tick_interval=60, tick_max_due=1)
        assert Counter(s[1] for s in signals(fired)) == {
            "sla.started": 3, "first_response_warning:0.5": 3, "first_response_breached": 3,
            "escalation:1": 3}  # within run_worker's 10 s, far less than one interval more

    asyncio.run(scenario())
