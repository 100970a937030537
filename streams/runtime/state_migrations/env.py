"""Alembic environment of the durable state tables (see :mod:`streams.runtime.state_tables`):
their own version table, no ``target_metadata`` (the revisions are written by hand and spell
their tables out). How it runs: :mod:`streams.runtime.alembic_env`."""

from __future__ import annotations

from streams.runtime.alembic_env import run_environment
from streams.runtime.state_tables import VERSION_TABLE, make_state_engine

run_environment(make_state_engine, version_table=VERSION_TABLE)
