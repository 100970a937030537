"""Engines and schema creation. Nothing here connects until called."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

from projections.tables import metadata


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


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine)
