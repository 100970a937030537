"""Engines and schema migration. Nothing here connects until called.

The projection tables are migrated with Alembic (``projections/migrations``): the Config is
built in code (:func:`alembic_config`), so telecase needs no ini file at runtime, and the same
folder works with the ``alembic`` command line (``-c projections/migrations/alembic.ini``).

Projections are derived data. A database built before Alembic (projection tables present, no
``alembic_version``) is not converted: its tables, its ``projection_meta`` and its checkpoints
are dropped and migrated from scratch, and the projectors rebuild the rows from the log.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    inspect,
    text,
)

from projections.tables import metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_MIGRATION_LOCK = 0x7465_6C65_6361_7365 & 0x7FFF_FFFF_FFFF_FFFF
"""PostgreSQL advisory lock key held while migrating ("telecase"), so processes starting
together migrate one after the other."""

_PRE_ALEMBIC = "projection_meta"
"""The version table of the schemas built before Alembic."""


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
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)

    @event.listens_for(engine, "connect", insert=True)
    def _custom_plans(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # psycopg prepares a statement from its fifth run on a connection, and PostgreSQL may
        # then plan it once for any parameters. For the projectors' ``ticket_id = ANY(array)``
        # row reads that generic plan scanned the whole table under FOR UPDATE: 15-200 ms a
        # batch where the per-call plan takes 0.02 ms, most of the server's CPU at 1,000
        # updates/s (issue 19). Every statement is planned for its own parameters instead.
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.autocommit = autocommit

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for ``projections/migrations``; with ``connection``, the migrations
    run on it, inside its transaction."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def create_schema(engine: Engine) -> None:
    """Migrate the projection tables to the newest revision (``alembic upgrade head``)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        drop_pre_alembic(conn)
        command.upgrade(alembic_config(conn), "head")


def drop_pre_alembic(conn: Connection) -> bool:
    """Drop the projection tables of a database built before Alembic; ``True`` if it was."""
    found = set(inspect(conn).get_table_names())
    if "alembic_version" in found:
        return False
    ours = {t.name for t in metadata.sorted_tables} | {_PRE_ALEMBIC}
    if not found & ours:
        return False
    metadata.drop_all(conn, checkfirst=True)
    Table(_PRE_ALEMBIC, MetaData()).drop(conn, checkfirst=True)
    return True
