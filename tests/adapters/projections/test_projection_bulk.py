"""The projectors' write paths (``projections.bulk``) and the runners' decoding: the fast lanes
(PostgreSQL COPY into a stage, or straight into the audit trail) write exactly what the
row-by-row path writes, a racing writer is absorbed, and decoding is the schema's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper

from bench.replay import make_events
from projections import audit, bulk
from projections.db import create_schema, make_engine
from projections.decode import decode, decode_records
from projections.registry import PROJECTORS, apply_all
from projections.tables import audit_trail, checkpoints
from streams.schema import events as schema
from streams.schema.events import TicketEvent, decode_event, encode_event
from tests import infra
from tests.adapters.projections.factory import T0, Story, positioned, sqlite_engine
from tests.adapters.projections.test_replay import core_events, snapshot

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _events() -> list[TicketEvent]:
    """The real core's mixed run, then hand-made ticket lives over 2 partitions' worth."""
    return core_events() + [e for _, e in make_events(700, partitions=1)]


def _project(url: str, events: list[TicketEvent], batch: int) -> dict[str, list[dict[str, Any]]]:
    engine = make_engine(url)
    try:
        create_schema(engine)
        records = positioned(events)
        for start in range(0, len(records), batch):
            with engine.begin() as conn:
                apply_all(conn, records[start:start + batch], NOW)
        with engine.begin() as conn:  # redelivered: nothing changes
            apply_all(conn, records[:batch], NOW)
        return snapshot(engine)
    finally:
        engine.dispose()


@pytest.fixture
def pg_urls(pg_server: str) -> Iterator[tuple[str, str]]:
    with infra.fresh_database(pg_server) as one, infra.fresh_database(pg_server) as two:
        yield one, two


@pytest.mark.integration
def test_staged_rows_equal_row_by_row_rows_on_postgres(
        pg_urls: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events()
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 10**9)
    row_by_row = _project(pg_urls[0], events, batch=300)
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1)
    staged = _project(pg_urls[1], events, batch=300)
    assert staged == row_by_row
    assert len(staged["audit_trail"]) == len(events)  # exactly one row per event
    on_sqlite = _project(f"sqlite:///{tmp_path / 'p.sqlite'}", events, batch=300)
    assert {t: [{k: v for k, v in r.items() if k != "id"} for r in rows]
            for t, rows in staged.items()} == {
        t: [{k: v for k, v in r.items() if k != "id"} for r in rows]
        for t, rows in on_sqlite.items()}


@pytest.mark.integration
def test_array_rows_equal_executemany_rows_on_postgres(
        pg_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the staging threshold PostgreSQL inserts a batch's rows as one statement over
    arrays; SQLAlchemy's ``executemany`` of the same statement (a run per row) stores the
    same rows, in the same order (the audit trail's ids), over batches that update rows
    written before and a redelivered one."""
    events = _events()
    arrays = _project(pg_urls[0], events, batch=80)
    monkeypatch.setattr(bulk, "_insert_arrays", bulk._executemany)
    plain = _project(pg_urls[1], events, batch=80)
    assert arrays == plain
    assert len(arrays["audit_trail"]) == len(events)
    assert all(arrays[t] for t in ("cases", "workload_tickets", "agent_workloads",
                                   "metrics_tickets", "daily_metrics"))


@pytest.mark.integration
def test_array_rows_fail_as_single_rows_would(pg_server: str) -> None:
    """The arrays carry no length or range of their own: a value too long for its column, or
    beyond it, fails the statement (and so the batch, which the runners then apply event by
    event) as an inserted row would, never stored cut short."""
    table = sa.Table("limits", sa.MetaData(), sa.Column("id", sa.String(4), primary_key=True),
                     sa.Column("n", sa.Integer), sa.Column("at", sa.DateTime(timezone=True)))
    with infra.fresh_database(pg_server) as pg:
        engine = make_engine(pg)
        try:
            table.metadata.create_all(engine)
            for row in (["abcde", 1, None], ["abcd", 2**31, None]):
                with pytest.raises(sa.exc.DataError), engine.begin() as conn:
                    bulk.insert(conn, table, ["id", "n", "at"], [["ok", 0, NOW], row])
            with engine.begin() as conn:
                bulk.insert(conn, table, ["id", "n", "at"], [["ok", 0, NOW], ["abcd", None, None]])
            with engine.connect() as conn:
                assert conn.execute(sa.select(table).order_by(table.c.id)).all() == [
                    ("abcd", None, None), ("ok", 0, NOW)]
        finally:
            engine.dispose()


@pytest.mark.integration
def test_arrays_go_to_postgres_in_binary(pg_server: str) -> None:
    """The projectors' array parameters (rows' columns, ``among_ids``' values) are sent in
    psycopg's binary format on the engine's connections, and read back as they were."""
    values = ["a", None, 'é"{},\\', ""]
    with infra.fresh_database(pg_server) as pg:
        engine = make_engine(pg)
        try:
            with engine.connect() as conn:
                driver = conn.connection.driver_connection
                assert isinstance(driver, psycopg.Connection)
                dumper = driver.adapters.get_dumper(bulk.BinaryArray, PyFormat.AUTO)
                assert dumper is ListBinaryDumper
                echoed = conn.exec_driver_sql("SELECT %s::text[]", (bulk.BinaryArray(values),))
                assert echoed.scalar() == values
        finally:
            engine.dispose()


def _project_apart(url: str, events: list[TicketEvent], batch: int,
                   apply: Callable[[sa.Connection, Any, datetime], object],
                   ) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[Any, ...]]]:
    """Like :func:`_project`, with the projectors behind one another (``metrics`` has not
    seen the first batches, ``audit`` has seen part of the next one), and checkpoints."""
    engine = make_engine(url)
    try:
        create_schema(engine)
        records = positioned(events)
        with engine.begin() as conn:
            for name, spec in PROJECTORS.items():
                if name != "metrics":
                    spec.apply(conn, records[:batch], NOW)
            PROJECTORS["audit"].apply(conn, records[batch:batch + batch // 2], NOW)
        for start in range(0, len(records), batch):
            with engine.begin() as conn:
                apply(conn, records[start:start + batch], NOW)
        with engine.begin() as conn:
            assert apply_all(conn, [], NOW) == dict.fromkeys(PROJECTORS, 0)
        with engine.connect() as conn:
            stored = [tuple(r) for r in conn.execute(sa.select(checkpoints).order_by(
                *checkpoints.primary_key.columns))]
        return snapshot(engine), stored
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite", pytest.param("postgresql",
                                                       marks=pytest.mark.integration)])
def test_apply_all_writes_what_each_projector_writes_on_its_own(
        url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """``apply_all`` reads every projector's checkpoints in one statement and moves them in
    one; each projector applied on its own (its checkpoints read and written by itself) makes
    the same rows and checkpoints, with projectors at different checkpoints."""
    events = _events()[:400]
    if url == "sqlite":
        urls = [f"sqlite:///{tmp_path / 'one.sqlite'}", f"sqlite:///{tmp_path / 'two.sqlite'}"]
    else:
        urls = list(request.getfixturevalue("pg_urls"))

    def one_by_one(conn: sa.Connection, batch: Any, now: datetime) -> None:
        for spec in PROJECTORS.values():
            spec.apply(conn, batch, now)

    together = _project_apart(urls[0], events, 60, apply_all)
    apart = _project_apart(urls[1], events, 60, one_by_one)
    assert together == apart
    assert len(together[0]["audit_trail"]) == len(events)
    assert {(name, offset) for name, _, _, offset in together[1]} == {
        (name, len(events)) for name in PROJECTORS}


def _stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows as SQLite holds them (dates as text, booleans as
    integers, JSON as its text), in the order they were inserted."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: conn.exec_driver_sql(
                        f'SELECT * FROM "{table.name}" ORDER BY rowid').all()
                    for spec in PROJECTORS.values() for table in spec.tables}
    finally:
        engine.dispose()


def test_the_sqlite_lane_stores_what_sqlalchemy_executemany_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite lane (statements compiled once, tuples through each type's bind
    processor) and SQLAlchemy's own ``executemany`` of the same statements store the same
    values, byte for byte, in the same order, over batches that update rows written before."""
    events = _events()
    lane = f"sqlite:///{tmp_path / 'lane.sqlite'}"
    _project(lane, events, batch=300)
    monkeypatch.setattr(bulk, "_executemany_sqlite", bulk._executemany)
    plain = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    _project(plain, events, batch=300)
    stored = _stored(lane)
    assert stored == _stored(plain)
    assert len(stored["audit_trail"]) == len(events)
    assert all(stored[t] for t in ("cases", "workload_tickets", "agent_workloads",
                                   "metrics_tickets", "daily_metrics"))


@pytest.mark.integration
def test_a_racing_writer_is_absorbed_by_the_copy_into_the_audit_trail(
        pg_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Another instance committed the same rows after this one read the last states: the
    direct COPY meets the unique ``event_id``, and the batch is written the staged way, with
    ``ON CONFLICT DO NOTHING``, in the same transaction."""
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1)
    copied: list[bool] = []
    copy_new = bulk._copy_new
    monkeypatch.setattr(bulk, "_copy_new", lambda *args: copied.append(copy_new(*args))
                        or copied[-1])
    story = Story()
    story.opened()
    story.later(minutes=1).wrote()
    story.later(minutes=1).routed()
    engine = make_engine(pg_urls[0])
    try:
        create_schema(engine)
        with engine.begin() as conn:
            PROJECTORS["audit"].apply(conn, positioned(story.events[:2]), NOW)
        monkeypatch.setattr(audit, "_last_states", lambda conn, ids: {})  # read too early
        with engine.begin() as conn:
            assert audit.fold(conn, positioned(story.events), NOW) == 3
        with engine.connect() as conn:
            rows = conn.execute(sa.select(audit_trail.c.event_id, audit_trail.c.before,
                                          audit_trail.c.state)
                                .order_by(audit_trail.c.seq)).all()
    finally:
        engine.dispose()
    assert copied == [True, False]  # the first batch went straight in, the second fell back
    assert [r.event_id for r in rows] == [e.event_id for e in story.events]
    assert rows[2].before == {"queue": None} and rows[2].state["subject"] == "Pricing"


def test_json_values_are_encoded_as_sqlalchemy_encodes_them(tmp_path: Path) -> None:
    for value in (None, {"a": 1, "b": "é\"\n", "c": None, "d": 1.5, "e": True}, [1, "x"], "s"):
        assert bulk.dumps(value) == json.dumps(value)
    story = Story()
    story.opened("Prix €")
    story.wrote()
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            PROJECTORS["audit"].apply(conn, positioned(story.events), T0)
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(
                'SELECT "before", "after", state FROM audit_trail ORDER BY seq').all()
    assert stored[0][0] == "null" and stored[1][:2] == ("null", "null")  # as JSON's null
    assert json.loads(stored[0][1])["subject"] == "Prix €"


def _record(offset: int, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic="ticket.events", partition=0, offset=offset, key=b"k",
                           value=value)


def test_decoding_is_the_schemas_whatever_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events()[:200]
    payloads = [encode_event(e) for e in events]
    assert [decode(p) for p in payloads] == [decode_event(p) for p in payloads] == events
    older = json.loads(payloads[0])
    older["version"] = 0  # an old payload: only the upcast chain reads it
    monkeypatch.setitem(schema.UPCASTERS, (older["type"], 0), lambda p: {**p, "version": 1})
    records = [_record(0, json.dumps(older).encode()), _record(1, b'{"type": "x.y"}'),
               _record(2, b"not json"), _record(3, payloads[1])]
    batch, letters = decode_records(records, "projector", NOW)
    assert [e for _, e in batch] == [events[0], None, None, events[1]]
    assert [(d.reason, d.offset) for d in letters] == [("unknown_event", 1),
                                                       ("invalid_event", 2)]


@pytest.mark.parametrize("url", ["sqlite", pytest.param("postgresql",
                                                       marks=pytest.mark.integration)])
def test_among_ids_finds_every_value_whatever_their_number(url: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    """More values than SQLite takes parameters in one statement (one JSON array there, one
    array on PostgreSQL); and ``insert`` below and above the staging threshold."""
    table = sa.Table("things", sa.MetaData(), sa.Column("id", sa.String(16), primary_key=True),
                     sa.Column("doc", sa.JSON), sa.Column("n", sa.Integer))
    ids = [f"t{i:05d}" for i in range(1200)]

    def check(engine: sa.Engine) -> None:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            written = bulk.insert(conn, table, ["id", "doc", "n"],
                                  [[t, bulk.dumps({"i": i}), i] for i, t in enumerate(ids)])
            assert written == len(ids)
            assert bulk.insert(conn, table, ["id", "doc", "n"], [[ids[0], "null", 0]],
                               bulk.OnConflict()) == 1
            found = conn.execute(sa.select(table).where(
                bulk.among_ids(conn.dialect.name, table.c.id)),
                bulk.ids_value(conn, ids[::-1])).all()
        assert sorted((r.id, r.doc["i"], r.n) for r in found) == [
            (t, i, i) for i, t in enumerate(ids)]

    if url == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
        check(engine)
        engine.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as pg:
        engine = make_engine(pg)
        check(engine)
        engine.dispose()
