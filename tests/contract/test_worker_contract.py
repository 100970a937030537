"""One contract, two ticket workers: the embedded one (events, states and position in one SQLite
transaction) and the Faust one on Kafka (events appended and acknowledged, then states and
the owed position in the table, then the consumer's offsets). A worker that crashes part-way
through the raw updates and is started again leaves ``ticket.events`` as if it never had:

- every update is folded: each chat's ticket has one ``customer.message_received`` per message;
- nothing is doubled: each ticket's ``seq`` runs from 1 without gaps, and an event appended
  again (re-derived after a crash between the append and the state) is identical to the first;
- each ticket's events are in one partition, keyed by ticket id.

The embedded worker crashes inside its transaction (the states' write fails); the Faust worker
is killed (SIGKILL) while it folds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.raw_log import BusRawLog
from streams.runtime.bus import Bus
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.topics import TopicNames
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import TicketEvent, decode_event
from tests import infra
from tests.telegram_factory import BOT_ID, Script, private, user

PARTITIONS = 4
CHATS, MESSAGES = 6, 8
T0 = 1_780_000_000


@dataclass
class Opened:
    bus: Bus
    names: TopicNames
    run_and_crash: Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]
    """Runs a worker until the condition holds, then crashes it."""
    run_until: Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]
    """Runs a worker until the condition holds, then stops it."""


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    names = TopicNames(f"contract-{uuid.uuid4().hex[:8]}.")
    if request.param == "embedded":
        log = await EmbeddedLog.open(tmp_path / "log.sqlite", PARTITIONS)
        for topic in (names.telegram_updates, names.ticket_commands, names.ticket_events):
            await log.create_topic(topic, PARTITIONS)
        yield Opened(log, names, *_embedded(log, names))
        await log.close()
        return
    servers = request.getfixturevalue("kafka_bootstrap")
    await ensure_topics(servers, names, partitions=PARTITIONS)
    bus = KafkaBus(servers, PARTITIONS)
    await bus.start()
    env = {"KAFKA_BOOTSTRAP_SERVERS": servers, "TELECASE_TOPIC_PREFIX": names.prefix,
           "TELECASE_TOPIC_PARTITIONS": str(PARTITIONS),
           "TELECASE_WORKER_APP_ID": f"{names.prefix}worker",
           "TELECASE_DATA_DIR": str(tmp_path / "data"), "TELECASE_LOG_LEVEL": "info",
           "TELECASE_CONSUMER_SESSION_TIMEOUT": "6"}
    started: list[infra.Process] = []

    def start() -> infra.Process:
        proc = infra.Process(["worker"], env, tmp_path, f"worker{len(started)}").start()
        started.append(proc)
        return proc

    async def until(condition: Callable[[], Awaitable[bool]], proc: infra.Process) -> None:
        try:
            await infra.wait_until(condition, timeout=120, interval=0.2)
        except AssertionError:
            print(proc.output())
            raise

    async def run_and_crash(condition: Callable[[], Awaitable[bool]]) -> None:
        proc = start()
        await until(condition, proc)
        proc.kill()

    async def run_until(condition: Callable[[], Awaitable[bool]]) -> None:
        proc = start()
        await until(condition, proc)
        proc.stop()

    try:
        yield Opened(bus, names, run_and_crash, run_until)
    finally:
        for proc in started:
            proc.kill()
        await bus.close()


def _embedded(log: EmbeddedLog, names: TopicNames) -> tuple[Any, Any]:
    def worker() -> EmbeddedWorker:
        return EmbeddedWorker(log, names, batch_max=5, linger=0)

    async def run_and_crash(condition: Callable[[], Awaitable[bool]]) -> None:
        await infra.wait_until(condition, timeout=1)  # nothing runs before it
        real, calls = log.put_states_in, 0

        def crashing(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:  # inside the second batch's transaction, after its appends: the
                task.cancel()  # process dies there (an I/O error alone is retried)
                raise OSError("the machine went down")
            return real(*args, **kwargs)

        log.put_states_in = crashing  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(worker().run(stop))
        try:
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
        finally:
            stop.set()  # the worker's other consumers end with it
            log.put_states_in = real  # type: ignore[method-assign]
            await asyncio.sleep(0.5)

    async def run_until(condition: Callable[[], Awaitable[bool]]) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker().run(stop))
        try:
            await infra.wait_until(condition, timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    return run_and_crash, run_until


async def _append_updates(opened: Opened, messages: range) -> None:
    raw_log = BusRawLog(opened.bus, opened.names.telegram_updates)
    envelopes = []
    for n in messages:
        for chat in range(CHATS):
            uid = 7100 + chat
            script = Script(private(uid), start_update=uid * 1000 + n)
            update = script.write(user(uid, f"Customer {chat}"), f"message {n}", T0 + n)
            update["message"]["message_id"] = n + 1  # one counter per chat, as Telegram
            envelopes.append(RawTelegramUpdate(
                bot_id=BOT_ID, source="webhook", update=update,
                received_at=datetime.fromtimestamp(T0 + n, UTC)))
    await raw_log.append(envelopes)


async def _events(opened: Opened) -> list[tuple[int, bytes | None, TicketEvent]]:
    topic = opened.names.ticket_events
    out = []
    for partition, end in (await opened.bus.end_offsets(topic)).items():
        offset = 0
        while offset < end:
            batch = await opened.bus.read(topic, partition, offset, 500, wait=1.0)
            out += [(r.partition, r.key, decode_event(r.value)) for r in batch]
            offset = batch[-1].offset + 1 if batch else end
    return out


def _received(events: list[tuple[int, bytes | None, TicketEvent]]) -> int:
    return len({e.event_id for _, _, e in events if e.type == "customer.message_received"})


async def test_a_crashed_worker_restarted_loses_and_doubles_nothing(opened: Opened) -> None:
    await _append_updates(opened, range(0, MESSAGES // 2))

    async def some_folded() -> bool:
        return _received(await _events(opened)) > 0

    async def nothing_yet() -> bool:
        return True

    crash_when = nothing_yet if isinstance(opened.bus, EmbeddedLog) else some_folded
    await opened.run_and_crash(crash_when)
    await _append_updates(opened, range(MESSAGES // 2, MESSAGES))

    async def all_folded() -> bool:
        return _received(await _events(opened)) == CHATS * MESSAGES

    await opened.run_until(all_folded)

    by_ticket: dict[str, dict[int, TicketEvent]] = defaultdict(dict)
    partitions: dict[str, set[int]] = defaultdict(set)
    for partition, key, event in await _events(opened):
        assert key == event.ticket_id.encode()
        partitions[event.ticket_id].add(partition)
        first = by_ticket[event.ticket_id].setdefault(event.seq, event)
        assert first == event, f"{event.event_id} re-derived differently"
    assert len(by_ticket) == CHATS
    for ticket_id, seqs in by_ticket.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), ticket_id
        assert len(partitions[ticket_id]) == 1, ticket_id
        received = [e for e in seqs.values() if e.type == "customer.message_received"]
        assert len(received) == MESSAGES, ticket_id
