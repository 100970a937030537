"""The body of an Alembic ``env.py``, shared by telecase's two migration folders
(``projections/migrations`` and ``streams/runtime/state_migrations``).

An environment runs two ways:

- from telecase (``projections.db.create_schema``, ``streams.runtime.state_tables.migrate_state``):
  the Config is built in code and carries an open connection in
  ``config.attributes["connection"]``; the migrations run inside the caller's transaction
  (which holds the migration lock on PostgreSQL);
- from the ``alembic`` command line with the folder's ``alembic.ini``: the database is
  ``TELECASE_DATABASE_URL`` when set, else the ini file's ``sqlalchemy.url``; with ``--sql``
  the SQL is printed instead of run.

``render_as_batch`` is on so revisions alter SQLite tables the way SQLite can (copy and move).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine


def run_environment(make_engine: Callable[[str], Engine], **options: Any) -> None:
    """Run the migrations; ``options`` go to ``context.configure`` (``target_metadata``,
    ``version_table``, ``compare_type``...)."""
    config = context.config
    given: Connection | None = config.attributes.get("connection")
    if given is None and config.config_file_name is not None:
        fileConfig(config.config_file_name)
    if context.is_offline_mode():
        context.configure(url=_url(), literal_binds=True, render_as_batch=True,
                          dialect_opts={"paramstyle": "named"}, **options)
        _run()
    elif given is not None:
        _migrate(given, options)
    else:
        engine = make_engine(_url())
        try:
            with engine.begin() as connection:
                _migrate(connection, options)
        finally:
            engine.dispose()


def _url() -> str:
    url = os.environ.get("TELECASE_DATABASE_URL") or context.config.get_main_option(
        "sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set TELECASE_DATABASE_URL or sqlalchemy.url")
    return url


def _migrate(connection: Connection, options: dict[str, Any]) -> None:
    context.configure(connection=connection, render_as_batch=True, **options)
    _run()


def _run() -> None:
    with context.begin_transaction():
        context.run_migrations()
