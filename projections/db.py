"""Engines and schema creation. Nothing here connects until called."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, delete, event, insert, inspect, select

from projections.tables import meta, metadata


class ProjectionError(Exception):
    """Root of the errors raised by ``projections``."""


def make_engine(url: str) -> Engine:
    """An engine for PostgreSQL (``postgresql+psycopg://``) or SQLite (``sqlite:///path``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


SCHEMA_VERSION = 4
"""Bump when a projection table changes. Projections are derived data: on a mismatch the tables
are dropped and rebuilt from the log (their checkpoints go too, so the projector replays from
the first event). Schema migrations with Alembic come with the audit trail."""


def create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        found = None
        if inspect(conn).has_table(meta.name):
            found = conn.execute(select(meta.c.schema_version)
                                 .where(meta.c.name == "projections")).scalar_one_or_none()
        elif inspect(conn).has_table("cases"):
            found = 1  # built before versions were recorded
        if found is not None and found != SCHEMA_VERSION:
            metadata.drop_all(conn)
        metadata.create_all(conn)
        if found != SCHEMA_VERSION:
            conn.execute(delete(meta))
            conn.execute(insert(meta).values(name="projections",
                                             schema_version=SCHEMA_VERSION))
