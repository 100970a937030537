"""Projections are derived: a schema change drops and rebuilds them (replayed from the log)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from projections.db import SCHEMA_VERSION, create_schema, make_engine


def test_an_old_projection_schema_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with engine.begin() as conn:  # what version 1 left behind
        conn.exec_driver_sql("CREATE TABLE cases (ticket_id TEXT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE projector_checkpoints (projector TEXT, topic TEXT, "
                             "partition INTEGER, next_offset INTEGER)")
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES ('cases', 't', 0, 99)")
    create_schema(engine)
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("cases")}
        assert {"agent_reply_count", "first_response_at"} <= columns
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM projector_checkpoints").scalar() == 0
        assert conn.exec_driver_sql("SELECT schema_version FROM projection_meta").scalar() == (
            SCHEMA_VERSION)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES ('cases', 't', 0, 5)")
    create_schema(engine)  # same version: nothing is dropped
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM projector_checkpoints").scalar() == 1
    engine.dispose()
