"""Alembic for the durable state tables telecase owns besides the projections.

Those tables are state, not derived data (a projection can be rebuilt from the log; these
cannot): the reply mirror's delivery ledger (``connectors.telegram.ledger``), the intake
messenger's topics (``connectors.telegram.intake_topics``), the Salesforce write ledger
(``connectors.salesforce.comments``), the customer-file ledger
(``connectors.salesforce.files``), the deadline-notification ledger
(``connectors.salesforce.notifications``) and the Kafka desk store
(``streams.runtime.kafka.desk_store``). Their revisions live in ``state_migrations/``, one
Alembic branch per owner (:data:`BRANCHES`), so each owner migrates its own tables in whatever
database it was given:

- embedded runtime: the ledger and the intake topics in ``<data dir>/telegram-ledger.sqlite``;
- Kafka runtime: all three in the projections database (unless ``TELECASE_TELEGRAM_LEDGER_URL``
  puts the ledger elsewhere), beside the projections' own ``alembic_version``.

Each database records these branches in a version table of its own, :data:`VERSION_TABLE`,
apart from the projections' ``alembic_version``. The first revision of each branch adopts a
database made before Alembic (by ``create_all``): a table already there is kept as it is, a
missing one is created, and the revision is recorded either way. The layering puts these
migrations here, not in ``projections/migrations``: the ledger (``connectors``) and the desk
store (``streams.runtime``) may not import ``projections``.

New revision (from the repository root)::

    alembic -c streams/runtime/state_migrations/alembic.ini revision \\
        --head telegram_ledger@head -m "what changed"
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config

STATE_MIGRATIONS = Path(__file__).resolve().parent / "state_migrations"

VERSION_TABLE = "telecase_state_version"

Branch = Literal["telegram_ledger", "intake_topics", "salesforce_ledger", "desk_store",
                 "salesforce_files", "salesforce_notifications"]
BRANCHES: tuple[Branch, ...] = ("telegram_ledger", "intake_topics", "salesforce_ledger",
                                "desk_store", "salesforce_files", "salesforce_notifications")

_MIGRATION_LOCK = 0x7374_6174_6573
"""PostgreSQL advisory lock key held while migrating ("states"), so processes starting
together migrate one after the other."""


def state_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config for ``state_migrations``; with ``connection``, the migrations run on
    it, inside its transaction."""
    config = Config()
    config.set_main_option("script_location", str(STATE_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def make_state_engine(url: str) -> sa.Engine:
    """An engine for the ``alembic`` command line (telecase passes the owner's engine)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url)


def migrate_state(engine: sa.Engine, branch: Branch) -> None:
    """Bring ``branch``'s tables to its newest revision (``alembic upgrade <branch>@head``),
    adopting tables ``create_all`` made before Alembic."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": _MIGRATION_LOCK})
        command.upgrade(state_config(conn), f"{branch}@head")


def adopt_or_create(table: sa.Table) -> None:
    """In a revision: create ``table`` (with its indexes) unless the database has it already
    (made by ``create_all`` before Alembic, from the same definition)."""
    bind = op.get_bind()
    if not sa.inspect(bind).has_table(table.name):
        table.create(bind)
