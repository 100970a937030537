"""One contract, two projector runners: ``projections.bus_runner.BusProjector`` on the embedded
log (SQLite projections) and ``projections.kafka_runner.KafkaProjector`` on Kafka (PostgreSQL)
keep what the read side relies on:

- every event of ``ticket.events`` (every partition) reaches every projector, and each
  projector's checkpoint ends at the partitions' end offsets;
- a runner started again (a restart) goes on from the checkpoints stored with the rows: events
  it already applied count once, new ones are applied;
- an undecodable record goes to ``telecase.deadletter`` and is passed, never blocking the
  partition.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from projections.bus_runner import BusProjector
from projections.db import create_schema, make_engine
from projections.kafka_runner import KafkaProjector
from projections.registry import PROJECTORS, load_checkpoints
from projections.tables import audit_trail, cases
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.topics import TopicNames
from streams.schema.events import encode_event
from tests import infra
from tests.adapters.projections.factory import Story

PARTITIONS = 2
Runner = Callable[[], Awaitable[Callable[[], Awaitable[None]]]]
"""Starts a runner; returns what stops it (and waits for it)."""


@dataclass
class Opened:
    bus: Bus
    engine: sa.Engine
    names: TopicNames
    start: Runner


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    names = TopicNames(f"contract-{uuid.uuid4().hex[:8]}.")
    if request.param == "embedded":
        log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=PARTITIONS)
        engine = make_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
        create_schema(engine)

        async def start_embedded() -> Callable[[], Awaitable[None]]:
            stop = asyncio.Event()
            task = asyncio.create_task(BusProjector(log, engine, names, linger=0).run(stop))

            async def halt() -> None:
                stop.set()
                await asyncio.wait_for(task, 20)
            return halt

        await _topics(log, names)
        yield Opened(log, engine, names, start_embedded)
        engine.dispose()
        await log.close()
        return
    servers = request.getfixturevalue("kafka_bootstrap")
    bus = KafkaBus(servers, default_partitions=PARTITIONS)
    await bus.start()
    await _topics(bus, names)
    group = f"contract-projector-{uuid.uuid4().hex[:8]}"
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        engine = make_engine(url)
        create_schema(engine)

        async def start_kafka() -> Callable[[], Awaitable[None]]:
            runner = KafkaProjector(engine, servers, group_id=group, names=names,
                                    session_timeout=6.0, bus=bus)
            task = asyncio.create_task(runner.run())

            async def halt() -> None:
                runner.stop()
                await asyncio.wait_for(task, 30)
            return halt

        yield Opened(bus, engine, names, start_kafka)
        engine.dispose()
    await bus.close()


async def _topics(bus: Any, names: TopicNames) -> None:
    await bus.create_topic(names.ticket_events, PARTITIONS)
    await bus.create_topic(names.dead_letters, 1)


def _stories(count: int, messages: int) -> list[Story]:
    stories = []
    for n in range(count):
        story = Story(ticket_id=f"tg:-100{n}:t{n}")
        story.opened()
        for _ in range(messages):
            story.later(minutes=1).wrote()
        stories.append(story)
    return stories


async def _append(opened: Opened, stories: list[Story], start: int = 0) -> None:
    await opened.bus.append(opened.names.ticket_events, [
        Outgoing(e.ticket_id.encode(), encode_event(e), partition=n % PARTITIONS)
        for n, story in enumerate(stories) for e in story.events[start:]])


def _audited(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_trail))
                   .scalar_one())


def _messages(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {row.ticket_id: int(row.message_count)
                for row in conn.execute(sa.select(cases.c.ticket_id, cases.c.message_count))}


async def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    async def check() -> bool:
        return await asyncio.to_thread(predicate)
    await infra.wait_until(check, timeout=timeout, interval=0.1)


async def _ends(opened: Opened) -> dict[tuple[str, int], int]:
    topic = opened.names.ticket_events
    return {(topic, p): end for p, end in (await opened.bus.end_offsets(topic)).items()}


async def test_every_event_reaches_every_projector(opened: Opened) -> None:
    stories = _stories(4, messages=3)
    await _append(opened, stories)
    total = sum(len(s.events) for s in stories)
    halt = await opened.start()
    try:
        await _until(lambda: _audited(opened.engine) == total)
    finally:
        await halt()
    assert _messages(opened.engine) == {s.ticket_id: 3 for s in stories}
    ends = await _ends(opened)
    with opened.engine.connect() as conn:
        assert {n: load_checkpoints(conn, n) for n in PROJECTORS} == {n: ends for n in PROJECTORS}


async def test_a_restarted_runner_goes_on_from_its_checkpoints(opened: Opened) -> None:
    stories = _stories(3, messages=2)
    await _append(opened, stories)
    first = sum(len(s.events) for s in stories)
    halt = await opened.start()
    try:
        await _until(lambda: _audited(opened.engine) == first)
    finally:
        await halt()

    for story in stories:
        story.later(minutes=1).wrote()
    await _append(opened, stories, start=-1)
    halt = await opened.start()
    try:
        await _until(lambda: _audited(opened.engine) == first + len(stories))
        await asyncio.sleep(0.5)  # time to apply anything twice, were it to
    finally:
        await halt()
    assert _audited(opened.engine) == first + len(stories)
    assert _messages(opened.engine) == {s.ticket_id: 3 for s in stories}


async def test_an_undecodable_record_is_dead_lettered_and_passed(opened: Opened) -> None:
    [story] = _stories(1, messages=1)
    names = opened.names
    await opened.bus.append(names.ticket_events, [
        Outgoing(b"junk", b"\xff not an event", partition=0)])
    await _append(opened, [story])
    halt = await opened.start()
    try:
        await _until(lambda: _audited(opened.engine) == len(story.events))
    finally:
        await halt()
    letters = await opened.bus.read(names.dead_letters, 0, 0, 10, wait=5.0)
    assert len(letters) == 1
    letter = json.loads(letters[0].value)
    assert (letter["partition"], letter["offset"]) == (0, 0)
    ends = await _ends(opened)
    with opened.engine.connect() as conn:
        assert load_checkpoints(conn, "cases")[names.ticket_events, 0] == ends[
            names.ticket_events, 0]
