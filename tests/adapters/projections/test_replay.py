"""``telecase replay``: rebuilt projections equal live ones, row for row, on SQLite and on
PostgreSQL; an interrupted replay resumes; nothing is appended to the log; the live tables serve
throughout; the swap waits for a live projector that is further along."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bench.replay import make_events
from projections.db import create_schema, make_engine
from projections.decode import decode_records
from projections.registry import PROJECTORS
from projections.replay import (
    REBUILD_SCHEMA,
    Progress,
    RebuildTarget,
    ReplayError,
    choose,
    rebuild_engine,
    replay,
)
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.commands import Assignment
from streams.schema.events import TicketEvent, encode_event
from telecase.ops.replay import EmbeddedSource
from tests import infra
from tests.telegram_factory import Script, forum, private, user
from tests.unit.core.test_service_level import START, T0, Worker, agent_comment, raw

TOPIC = TopicNames().ticket_events
UNDECODABLE = b'{"type": "martian.landed", "version": 1}'


def core_events() -> list[TicketEvent]:
    """A mixed run through the real ticket core: forum topics (written, edited, renamed,
    closed, reopened), private chats, an agent's Salesforce reply, desk decisions, SLA clocks
    fired by ticks."""
    w = Worker()
    script = Script(forum(), start_update=1)
    for n in range(6):
        who = user(600 + n, f"Customer{n}")
        at = T0 + n * 60
        created = script.create_topic(who, f"Topic {n}", at)
        w.feed(raw(created))
        thread = created["message"]["message_id"]
        first = script.write(who, "our shop has an outage" if n % 2 else "pricing?", at + 5,
                             thread)
        w.feed(raw(first))
        w.feed(raw(script.edit(first, "pricing for 20 seats?", at + 30)))
        w.feed(raw(script.write(who, "anyone?", at + 90, thread)))
        if n % 3 == 0:
            w.feed(raw(script.service(who, thread, at + 40, "forum_topic_edited",
                                      name=f"Renamed {n}")))
        if n % 2 == 0:
            w.feed(raw(script.service(who, thread, at + 50, "forum_topic_closed")))
        if n == 2:
            w.feed(raw(script.service(who, thread, at + 70, "forum_topic_reopened")))
    for uid in (701, 702, 703):
        w.feed(raw(Script(private(uid), start_update=uid * 10).write(user(uid), "hello",
                                                                      T0 + 10)))
    tickets = [e.ticket_id for e in w.log if e.type == "ticket.opened"]
    for i, ticket in enumerate(tickets[:4]):
        w.feed(Assignment(decision_id=f"r{i}", ticket_id=ticket, chat_id=-1001000000001,
                          action="routed", queue="sales", rule="default", at=START,
                          reason="default queue").to_bytes(), "ticket.commands")
        w.feed(Assignment(decision_id=f"a{i}", ticket_id=ticket, chat_id=-1001000000001,
                          action="assigned", queue="sales", agent_id=f"agent-{i % 2}", at=START,
                          reason="least loaded").to_bytes(), "ticket.commands")
    w.feed(agent_comment(tickets[-1], START + timedelta(minutes=3)), "salesforce.changes")
    for minutes in (1, 5, 12, 30, 90, 180):
        w.tick(START + timedelta(minutes=minutes))
    return list(w.log)


def mixed_events() -> list[bytes]:
    """Encoded records: the core's events, hand-made ticket lives (routed, assigned, Case
    linked, owner and status changes, SLA met, closed) and one record no build can read."""
    events = core_events() + [e for _, e in make_events(600, partitions=1)]
    payloads = [encode_event(e) for e in events]
    payloads.insert(len(payloads) // 3, UNDECODABLE)
    return payloads


class Live:
    """The live side: a log being appended to, and a projector applying every registered
    projection to it in batches (rows and checkpoints in one transaction, as the runners do)."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.log_path = tmp / "log.sqlite"
        self.url = url
        self.engine = make_engine(url)
        create_schema(self.engine)
        self.position = 0
        self.log: EmbeddedLog | None = None

    async def append(self, payloads: list[bytes]) -> None:
        if self.log is None:
            self.log = await EmbeddedLog.open(self.log_path)
            await self.log.create_topic(TOPIC, 1)
        await self.log.append(TOPIC, [Outgoing(b"k", p, partition=0) for p in payloads])

    async def project(self, batch: int = 37) -> None:
        assert self.log is not None
        while True:
            records = await self.log.read(TOPIC, 0, self.position, batch)
            if not records:
                return
            decoded, _ = decode_records(records, "projector", datetime.now(UTC))
            with self.engine.begin() as conn:
                for spec in PROJECTORS.values():
                    spec.apply(conn, decoded, datetime.now(UTC))
            self.position = records[-1].offset + 1

    def record_count(self) -> tuple[int, int]:
        with sqlite3.connect(self.log_path) as db:
            return (db.execute("SELECT COUNT(*) FROM records").fetchone()[0],
                    db.execute("SELECT COUNT(*) FROM positions").fetchone()[0])

    async def close(self) -> None:
        if self.log is not None:
            await self.log.close()
        self.engine.dispose()


def snapshot(engine: sa.Engine, schema: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every row of every registered projection's tables, by primary key, every column but
    ``projected_at`` (when the row was written: a rebuild writes it later by design)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for spec in PROJECTORS.values():
            for table in spec.tables:
                t = (table if schema is None
                     else table.to_metadata(sa.MetaData(), schema=schema))
                rows = conn.execute(sa.select(t).order_by(*t.primary_key.columns)).mappings()
                out[table.name] = [{k: _utc(v) for k, v in r.items() if k != "projected_at"}
                                   for r in rows]
    return out


def _utc(v: Any) -> Any:
    return v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v


def checkpoints(engine: sa.Engine, schema: str | None = None) -> dict[tuple[str, int], int]:
    t = sa.Table("projector_checkpoints", sa.MetaData(), autoload_with=engine, schema=schema)
    with engine.connect() as conn:
        return {(r.projector, r.partition): r.next_offset for r in conn.execute(sa.select(t))}


class Stop(Exception):
    """Stands for Ctrl-C or a kill between two batches."""


def stop_after(batches: int) -> Any:
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.events and len([s for s in seen if s.events]) >= batches:
            raise Stop

    return on_progress


async def scenario(tmp: Path, url: str) -> None:
    payloads = mixed_events()
    cut = int(len(payloads) * 0.7)
    live = Live(tmp, url)
    engine = rebuild_engine(url)
    source = EmbeddedSource(live.log_path, TOPIC)
    try:
        await live.append(payloads[:cut])
        await live.project()
        before = snapshot(live.engine)
        assert before["cases"] and before["audit_trail"]
        counted = live.record_count()

        # interrupted after 3 batches: what was committed stays in the rebuild schema
        target = RebuildTarget(engine, choose(None), TOPIC)
        with pytest.raises(Stop):
            await replay(target, source, batch=40, swap=False, on_progress=stop_after(3))
        rebuilt_cp = checkpoints(engine, REBUILD_SCHEMA)
        assert rebuilt_cp and all(o == 120 for o in rebuilt_cp.values())
        assert snapshot(live.engine) == before  # the live tables served, untouched

        # the log moves on, the live projector with it; the replay resumes and catches up
        await live.append(payloads[cut:])
        await live.project()
        counted = live.record_count()
        result = await replay(target, source, batch=40, swap=False)
        assert result.resumed_from == {0: 120}
        assert result.events == len(payloads) - 120
        assert payloads.index(UNDECODABLE) >= 120 and result.undecodable == 1  # skipped
        live_rows = snapshot(live.engine)
        assert snapshot(engine, REBUILD_SCHEMA) == live_rows
        assert all(o == len(payloads) for o in checkpoints(engine, REBUILD_SCHEMA).values())
        assert live.record_count() == counted  # nothing appended, no position committed

        # the live projector gets ahead of the rebuild: the swap refuses, changing nothing
        await live.append(payloads[:5])  # re-delivered events: no-ops everywhere
        await live.project()
        assert target.swap() == {0: len(payloads) + 5}
        assert snapshot(live.engine) == live_rows

        # so the replay reads up to it first, then swaps
        result = await replay(target, source, batch=40, max_lag=0)
        assert result.swapped and result.rebuilt_to == {0: len(payloads) + 5}
        assert snapshot(live.engine) == live_rows
        assert all(o == len(payloads) + 5 for (name, _), o in checkpoints(live.engine).items()
                   if name in PROJECTORS)
        assert not {n for n, _ in checkpoints(engine, REBUILD_SCHEMA)} & set(PROJECTORS)
        assert _audit_is_append_only(live.engine)
        assert live.record_count()[1] == counted[1]
    finally:
        await source.close()
        await live.close()
        engine.dispose()


def _audit_is_append_only(engine: sa.Engine) -> bool:
    """The swapped-in audit trail still refuses DELETE (the migration's triggers came along)."""
    if "audit" not in PROJECTORS:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_trail"))
    except sa.exc.DBAPIError:
        return True
    return False


def test_replay_on_sqlite_equals_live_resumes_and_swaps(tmp_path: Path) -> None:
    asyncio.run(scenario(tmp_path, f"sqlite:///{tmp_path / 'projections.sqlite'}"))


@pytest.fixture()
def pg_url(pg_server: str) -> Iterator[str]:
    with infra.fresh_database(pg_server) as url:
        yield url


@pytest.mark.integration
def test_replay_on_postgresql_equals_live_resumes_and_swaps(tmp_path: Path,
                                                            pg_url: str) -> None:
    asyncio.run(scenario(tmp_path, pg_url))


@pytest.mark.integration
def test_a_second_replay_after_a_swap_rebuilds_again(tmp_path: Path, pg_url: str) -> None:
    async def go() -> None:
        live = Live(tmp_path, pg_url)
        await live.append(mixed_events()[:200])
        await live.project()
        engine = rebuild_engine(pg_url)
        source = EmbeddedSource(live.log_path, TOPIC)
        try:
            target = RebuildTarget(engine, choose(None), TOPIC)
            expected = snapshot(live.engine)
            for _ in range(2):
                result = await replay(target, source, batch=64)
                assert result.swapped and result.resumed_from == {0: 0}
                assert snapshot(live.engine) == expected
        finally:
            await source.close()
            await live.close()
            engine.dispose()

    asyncio.run(go())


def test_restart_drops_the_rebuild_and_starts_from_the_first_event(tmp_path: Path) -> None:
    async def go() -> None:
        url = f"sqlite:///{tmp_path / 'projections.sqlite'}"
        live = Live(tmp_path, url)
        await live.append(mixed_events()[:150])
        engine = rebuild_engine(url)
        source = EmbeddedSource(live.log_path, TOPIC)
        try:
            target = RebuildTarget(engine, choose(["cases"]), TOPIC)
            with pytest.raises(Stop):
                await replay(target, source, batch=50, swap=False, on_progress=stop_after(2))
            resumed = await replay(target, source, batch=50, swap=False)
            assert resumed.resumed_from == {0: 100} and resumed.events == 50
            again = await replay(target, source, batch=50, swap=False, restart=True)
            assert again.resumed_from == {0: 0} and again.events == 150
        finally:
            await source.close()
            await live.close()
            engine.dispose()

    asyncio.run(go())


def test_an_unknown_projection_is_refused() -> None:
    with pytest.raises(ReplayError, match="no projection named nope"):
        choose(["cases", "nope"])


def test_the_command_rebuilds_swaps_and_prints_a_summary(tmp_path: Path) -> None:
    from telecase.cli.main import app

    async def setup() -> dict[str, list[dict[str, Any]]]:
        live = Live(tmp_path, f"sqlite:///{tmp_path / 'projections.sqlite'}")
        await live.append(mixed_events()[:120])
        await live.project()
        rows = snapshot(live.engine)
        await live.close()
        return rows

    expected = asyncio.run(setup())
    env = {"TELECASE_DATA_DIR": str(tmp_path), "TELECASE_DATABASE_URL": "", "DATABASE_URL": "",
           "KAFKA_BOOTSTRAP_SERVERS": "", "TELECASE_KAFKA_BOOTSTRAP_SERVERS": ""}
    result = CliRunner().invoke(app, ["replay", "--runtime", "embedded", "--projection",
                                      "cases", "--batch", "50"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["swapped"] is True and summary["projections"] == ["cases"]
    assert summary["events"] == 120 and summary["rebuilt_to"] == {"0": 120}
    engine = make_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert snapshot(engine)["cases"] == expected["cases"]
    engine.dispose()


@pytest.mark.integration
def test_replay_from_kafka_equals_live_and_leaves_the_topic_and_groups_alone(
        kafka_bootstrap: str, pg_url: str) -> None:
    import uuid

    from aiokafka import AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.runtime.kafka.admin import ensure_topics
    from telecase.ops.replay import KafkaSource

    names = TopicNames(f"replay{uuid.uuid4().hex[:8]}.")
    payloads = mixed_events()

    async def go() -> None:
        await ensure_topics(kafka_bootstrap, names, partitions=1, replication_factor=1)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for p in payloads:
                await producer.send(names.ticket_events, p, key=b"k", partition=0)
            await producer.flush()
        finally:
            await producer.stop()
        live = make_engine(pg_url)
        create_schema(live)
        with live.begin() as conn:  # the live projection, applied by batches as the runner
            for i in range(0, len(payloads), 50):
                records = [_Rec(names.ticket_events, i + j, p)
                           for j, p in enumerate(payloads[i:i + 50])]
                decoded, _ = decode_records(records, "projector", datetime.now(UTC))
                for spec in PROJECTORS.values():
                    spec.apply(conn, decoded, datetime.now(UTC))
        expected = snapshot(live)
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        groups_before = await admin.list_consumer_groups()
        source = KafkaSource(kafka_bootstrap, names.ticket_events)
        await source.start()
        engine = rebuild_engine(pg_url)
        try:
            result = await replay(RebuildTarget(engine, choose(None), names.ticket_events),
                                  source, batch=100)
            assert result.swapped and result.events == len(payloads)
            assert result.undecodable == 1
            assert snapshot(live) == expected
            ends = await source.consumer.end_offsets([TopicPartition(names.ticket_events, 0)])
            assert list(ends.values()) == [len(payloads)]  # nothing appended
            assert await admin.list_consumer_groups() == groups_before  # none joined
        finally:
            await source.close()
            await admin.close()
            engine.dispose()
            live.dispose()

    asyncio.run(go())


class _Rec:
    def __init__(self, topic: str, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = (topic, 0, offset,
                                                                          b"k", value)
