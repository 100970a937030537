"""The durable state tables (delivery ledger, intake topics, desk store) are migrated by
Alembic on SQLite and PostgreSQL: a fresh database gets them from the migration, one that
``create_all`` made before Alembic is adopted with its rows, and each owner's branch lives
beside the projections' own migrations without touching them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from connectors.salesforce import comments, files, notifications
from connectors.telegram import intake_topics, ledger
from projections.db import create_schema, make_engine
from streams.runtime.kafka import desk_store
from streams.runtime.state_tables import (
    BRANCHES,
    STATE_MIGRATIONS,
    VERSION_TABLE,
    Branch,
    migrate_state,
    state_config,
)
from tests import infra

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ScriptDirectory.from_config(state_config())
OWNERS: dict[Branch, sa.MetaData] = {"telegram_ledger": ledger.metadata,
                                     "intake_topics": intake_topics.metadata,
                                     "salesforce_ledger": comments.metadata,
                                     "desk_store": desk_store.metadata,
                                     "salesforce_files": files.metadata,
                                     "salesforce_notifications": notifications.metadata}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
        yield made
        made.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        made = make_engine(url)
        yield made
        made.dispose()


def _recorded(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}).get_current_heads())


def _like_the_owner(engine: sa.Engine, branch: Branch) -> None:
    with engine.connect() as conn:
        owned = set(OWNERS[branch].tables)  # other owners' tables aside

        def ours(obj: Any, name: str | None, kind: str, *_: object) -> bool:
            return (name if kind == "table" else obj.table.name) in owned

        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": ours})
        assert compare_metadata(context, OWNERS[branch]) == []
    assert _head(branch) in _recorded(engine)


@pytest.mark.parametrize("branch", BRANCHES)
def test_a_fresh_database_gets_the_tables_from_the_migration(engine: sa.Engine,
                                                             branch: Branch) -> None:
    migrate_state(engine, branch)
    migrate_state(engine, branch)  # at head: a no-op
    _like_the_owner(engine, branch)
    assert set(sa.inspect(engine).get_table_names()) == {*OWNERS[branch].tables, VERSION_TABLE}


@pytest.mark.parametrize("branch", BRANCHES)
def test_tables_create_all_made_are_adopted_with_their_rows(engine: sa.Engine,
                                                           branch: Branch) -> None:
    OWNERS[branch].create_all(engine)
    first = next(iter(OWNERS[branch].sorted_tables))
    with engine.begin() as conn:
        conn.execute(first.insert().values(_row(first)))
    migrate_state(engine, branch)
    _like_the_owner(engine, branch)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(first)).scalar() == 1


def test_a_ledger_with_some_tables_gets_the_missing_ones(engine: sa.Engine) -> None:
    ledger.deliveries.create(engine)
    migrate_state(engine, "telegram_ledger")
    _like_the_owner(engine, "telegram_ledger")


def test_every_branch_in_the_projections_database_beside_its_migrations(
        engine: sa.Engine) -> None:
    """The Kafka runtime: ledger, intake topics and desk store in the projections database."""
    create_schema(engine)
    for branch in BRANCHES:
        migrate_state(engine, branch)
        _like_the_owner(engine, branch)
    assert _recorded(engine) == {_head(b) for b in BRANCHES}
    create_schema(engine)  # the projections' own version table is untouched
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads()


def test_the_owners_create_goes_through_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    book = ledger.DeliveryLedger.from_url(url)
    book.create()
    intake_topics.IntakeTopics(book.engine).create()
    assert _recorded(book.engine) == {_head("telegram_ledger"),
                                      _head("intake_topics")}
    book.dispose()


def test_the_folder_works_with_the_alembic_command_line() -> None:
    heads = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(STATE_MIGRATIONS / "alembic.ini"), "heads"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert {line.split()[0] for line in heads.splitlines()} == {
        _head(b) for b in BRANCHES}


def _head(branch: Branch) -> str:
    return SCRIPTS.get_revision(f"{branch}@head").revision


def _row(table: sa.Table) -> dict[str, object]:
    samples: dict[type, object] = {sa.String: "x", sa.Text: "x", sa.BigInteger: 1,
                                   sa.Integer: 1, sa.DateTime: datetime.now(UTC)}
    return {column.name: samples[type(column.type)] for column in table.columns}
