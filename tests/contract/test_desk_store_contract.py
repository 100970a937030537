"""One contract, two desk stores: the embedded one (records, state and positions in one
transaction of the log) and the Kafka one (records appended to Kafka, then state and positions
in one PostgreSQL transaction) keep what ``streams.runtime.desk.DeskWorker`` relies on:

- a store that never saved loads no snapshot and no positions;
- ``save`` makes the records readable in ``ticket.commands`` (each on its chat's partition)
  before the snapshot and the topic's positions are stored; a new store on the same log and
  database (a restart) loads them;
- positions of one topic are stored without touching another's;
- a save that fails while appending its records stores nothing: the next load is where the
  last good save left it, so the batch is decided again and never skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from projections.db import make_engine
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.desk import DeskSnapshot, DeskStore, EmbeddedDeskStore
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.kafka.desk_store import SqlDeskStore
from streams.runtime.topics import TopicNames
from tests import infra


@dataclass
class Opened:
    """A way to (re)open the same store, and the bus its records go to."""

    bus: Bus
    names: TopicNames
    reopen: Any  # () -> DeskStore


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    names = TopicNames(f"contract-{uuid.uuid4().hex[:8]}.")
    if request.param == "embedded":
        log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=4)
        await log.create_topic(names.ticket_commands, 4)
        yield Opened(log, names, lambda: EmbeddedDeskStore(log, names))
        await log.close()
        return
    bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), default_partitions=4)
    await bus.start()
    await bus.create_topic(names.ticket_commands, 4)
    with _database(request) as url:
        engine = make_engine(url)

        def reopen() -> DeskStore:
            store = SqlDeskStore(engine, bus, names)
            store.create()
            return store

        yield Opened(bus, names, reopen)
        engine.dispose()
    await bus.close()


def _database(request: pytest.FixtureRequest) -> Any:
    return infra.fresh_database(request.getfixturevalue("pg_server"))


class _Crashing(Sequence[Outgoing]):
    """Records whose appending fails half-way (a crash while the batch is appended)."""

    def __init__(self, records: list[Outgoing]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: Any) -> Any:
        return self.records[index]

    def __iter__(self) -> Iterator[Outgoing]:
        yield self.records[0]
        raise ConnectionError("crashed while appending")


def _snapshot(*requests: str) -> DeskSnapshot:
    return DeskSnapshot(recent_requests=requests)


def _decision(chat: int, n: int) -> Outgoing:
    return Outgoing(f"chat:{chat}".encode(), f"decision {chat}/{n}".encode())


async def _commands(opened: Opened) -> list[tuple[int, bytes | None, bytes]]:
    topic = opened.names.ticket_commands
    out = []
    for partition in range(await opened.bus.partitions(topic)):
        end = (await opened.bus.end_offsets(topic))[partition]
        offset = 0
        while offset < end:
            batch = await opened.bus.read(topic, partition, offset, 100, wait=1.0)
            out += [(r.partition, r.key, r.value) for r in batch]
            offset = batch[-1].offset + 1 if batch else end
    return out


async def test_a_store_that_never_saved_loads_nothing(opened: Opened) -> None:
    snapshot, positions = await opened.reopen().load()
    assert snapshot is None
    assert all(not p for p in positions.values())


async def test_save_appends_then_stores_and_a_restart_loads_it(opened: Opened) -> None:
    events = opened.names.ticket_events
    records = [_decision(1, 1), _decision(2, 1), _decision(1, 2)]
    await opened.reopen().save(records, _snapshot("r1"), events, {0: 5, 3: 7})

    snapshot, positions = await opened.reopen().load()
    assert snapshot == _snapshot("r1")
    assert positions[events] == {0: 5, 3: 7}
    commands = await _commands(opened)
    assert sorted(v for _, _, v in commands) == sorted(r.value for r in records)
    by_chat = {k: {p for p, key, _ in commands if key == k} for _, k, _ in commands}
    assert all(len(parts) == 1 for parts in by_chat.values())  # a chat keeps one partition
    chat1 = [v for _, k, v in commands if k == b"chat:1"]
    assert chat1 == [b"decision 1/1", b"decision 1/2"]  # in decision order


async def test_positions_of_one_topic_leave_the_others_alone(opened: Opened) -> None:
    names = opened.names
    store = opened.reopen()
    await store.save([], _snapshot("a"), names.ticket_events, {0: 3})
    await store.save([], _snapshot("b"), names.desk_requests, {0: 9})
    await store.save([], _snapshot("c"), names.ticket_events, {1: 4})

    snapshot, positions = await opened.reopen().load()
    assert snapshot == _snapshot("c")
    assert positions[names.ticket_events] == {0: 3, 1: 4}
    assert positions[names.desk_requests] == {0: 9}


async def test_a_save_that_fails_while_appending_stores_nothing(opened: Opened) -> None:
    events = opened.names.ticket_events
    store = opened.reopen()
    await store.save([_decision(1, 1)], _snapshot("before"), events, {0: 1})

    with pytest.raises(ConnectionError):
        await store.save(_Crashing([_decision(1, 2), _decision(2, 2)]), _snapshot("after"),
                         events, {0: 3})

    snapshot, positions = await opened.reopen().load()
    assert snapshot == _snapshot("before")  # the batch is decided again after the restart
    assert positions[events] == {0: 1}
