"""Alembic migrates the projection tables: fresh SQLite and PostgreSQL databases reach head and
match ``projections.tables`` exactly; a database built before Alembic is rebuilt; the folder
works with the ``alembic`` command line."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from projections.db import MIGRATIONS, alembic_config, create_schema, make_engine
from projections.tables import metadata
from tests import infra

ROOT = Path(__file__).resolve().parents[3]
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' "
              "AND tbl_name = 'audit_trail'",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_trail'::regclass "
                  "AND NOT tgisinternal",
}


def _at_head_and_like_the_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == HEAD
        assert compare_metadata(context, metadata) == []
        tables = set(sa.inspect(conn).get_table_names())
        triggers = {r[0] for r in conn.exec_driver_sql(TRIGGERS[conn.dialect.name])}
    assert tables == {*metadata.tables, "alembic_version"}
    assert len(triggers) >= 2


def _build_pre_alembic(engine: sa.Engine) -> None:
    """What a release before Alembic left behind: old tables, a version row, checkpoints."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE cases (ticket_id VARCHAR(128) PRIMARY KEY, "
                             "status VARCHAR(16))")
        conn.exec_driver_sql("INSERT INTO cases VALUES ('tg:1:p:1', 'open')")
        conn.exec_driver_sql("CREATE TABLE projector_checkpoints (projector VARCHAR(64), "
                             "topic VARCHAR(128), partition INTEGER, next_offset BIGINT)")
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES "
                             "('cases', 'ticket.events', 0, 99)")
        conn.exec_driver_sql("CREATE TABLE projection_meta (name VARCHAR(64) PRIMARY KEY, "
                             "schema_version INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO projection_meta VALUES ('projections', 4)")


def _rebuilt(engine: sa.Engine) -> None:
    _at_head_and_like_the_models(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM cases").scalar() == 0
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM projector_checkpoints").scalar() == 0


def test_a_fresh_sqlite_database_migrates_to_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    create_schema(engine)  # at head: a no-op
    _at_head_and_like_the_models(engine)
    engine.dispose()


def test_a_pre_alembic_sqlite_database_is_rebuilt(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    _build_pre_alembic(engine)
    create_schema(engine)
    _rebuilt(engine)
    engine.dispose()


def test_a_database_alembic_manages_keeps_its_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO projector_checkpoints VALUES "
                             "('cases', 'ticket.events', 0, 7)")
    create_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT next_offset FROM projector_checkpoints").scalar() == 7
    engine.dispose()


def test_the_alembic_command_line_uses_the_same_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    env = {**os.environ, "TELECASE_DATABASE_URL": url}
    ini = str(MIGRATIONS / "alembic.ini")
    for args in (["upgrade", "head"], ["check"], ["current"]):
        done = subprocess.run([sys.executable, "-m", "alembic", "-c", ini, *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert HEAD is not None and HEAD in done.stdout
    engine = make_engine(url)
    _at_head_and_like_the_models(engine)
    engine.dispose()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    with infra.fresh_database(pg_server) as url:
        yield url


@pytest.mark.integration
def test_a_fresh_postgres_database_migrates_to_head(pg_url: str) -> None:
    engine = make_engine(pg_url)
    create_schema(engine)
    create_schema(engine)
    _at_head_and_like_the_models(engine)
    engine.dispose()


@pytest.mark.integration
def test_processes_starting_together_migrate_once(pg_url: str) -> None:
    engines = [make_engine(pg_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(engine: sa.Engine) -> None:
        try:
            create_schema(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    _at_head_and_like_the_models(engines[0])
    for e in engines:
        e.dispose()


@pytest.mark.integration
def test_a_pre_alembic_postgres_database_is_rebuilt(pg_url: str) -> None:
    engine = make_engine(pg_url)
    _build_pre_alembic(engine)
    create_schema(engine)
    _rebuilt(engine)
    engine.dispose()
