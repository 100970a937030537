"""Projections are derived: a database built before Alembic is dropped and migrated from scratch
(the projectors replay the log); one Alembic manages is migrated in place."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from projections.db import create_schema, make_engine


def test_a_pre_alembic_projection_schema_is_dropped_and_migrated(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with engine.begin() as conn:  # what version 1 left behind
        conn.exec_driver_sql("CREATE TABLE cases (ticket_id TEXT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE projector_checkpoints (projector TEXT, topic TEXT, "
                             "partition INTEGER, next_offset INTEGER)")
        conn.exec_driver_sql("CREATE TABLE projection_meta (name TEXT, schema_version INT)")
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES ('cases', 't', 0, 99)")
    create_schema(engine)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        columns = {c["name"] for c in inspector.get_columns("cases")}
        assert {"agent_reply_count", "first_response_at"} <= columns
        assert "projection_meta" not in inspector.get_table_names()
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM projector_checkpoints").scalar() == 0
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES ('cases', 't', 0, 5)")
    create_schema(engine)  # at head already: nothing is dropped
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM projector_checkpoints").scalar() == 1
    engine.dispose()


def test_a_stale_projector_never_overwrites_a_further_row_or_checkpoint(tmp_path: Path) -> None:
    """Two instances on one partition during a rebalance: the one that lost the partition
    computed its rows from what it read before the other committed. Whichever commits last,
    the row and the checkpoint that are further along stay."""
    from datetime import UTC, datetime

    from projections.cases import Offset, _upsert, apply_batch, apply_event
    from projections.tables import cases, checkpoints
    from tests.adapters.salesforce.test_case_sync import conversation, customer

    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    events = conversation("tg:-1:t1", customer(1), 5)  # seq 1..6
    now = datetime.now(UTC)
    stale: dict[str, object] | None = None
    for e in events[:3]:  # what the stale instance computed from an empty table
        stale = apply_event(stale, e)  # type: ignore[arg-type]
    assert stale is not None
    stale["projected_at"] = now
    with engine.begin() as conn:  # the instance that kept going commits everything first
        apply_batch(conn, [(Offset("ticket.events", 0, i), e) for i, e in enumerate(events)],
                    now)
    with engine.begin() as conn:  # then the stale one commits its row and checkpoint
        _upsert(conn, cases, [stale], ["ticket_id"], "last_seq")
        _upsert(conn, checkpoints, [{"projector": "cases", "topic": "ticket.events",
                                     "partition": 0, "next_offset": 3}],
                ["projector", "topic", "partition"], "next_offset")
    with engine.connect() as conn:
        row = conn.execute(sa.select(cases)).mappings().one()
        assert (row["last_seq"], row["message_count"]) == (6, 5)
        offset = conn.exec_driver_sql("SELECT next_offset FROM projector_checkpoints").scalar()
        assert offset == 6
    engine.dispose()


def test_postgres_connections_plan_each_statement_for_its_parameters(pg_server: str) -> None:
    """A generic plan of the projectors' ``ticket_id = ANY(array) ... FOR UPDATE`` reads took
    15-200 ms a batch in ``bench ingest`` where the per-call plan takes 0.02 ms: every pooled
    connection plans per call, and is left transactional (a rollback still undoes)."""
    from tests.infra import fresh_database
    with fresh_database(pg_server) as url:
        engine = make_engine(url)
        create_schema(engine)
        held = [engine.connect() for _ in range(3)]
        try:
            assert {c.exec_driver_sql("SHOW plan_cache_mode").scalar() for c in held} == {
                "force_custom_plan"}
        finally:
            for conn in held:
                conn.close()
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO workload_tickets (ticket_id, last_seq, is_open) "
                                 "VALUES ('t1', 1, true)")
            conn.rollback()
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM workload_tickets").scalar() == 0
        engine.dispose()
