"""Alembic environment of the projection tables (``projections.tables.metadata``).

Run by telecase through :func:`projections.db.create_schema`, or by the ``alembic`` command
line with ``-c projections/migrations/alembic.ini`` (the database is ``TELECASE_DATABASE_URL``
when set, else the ini file's ``sqlalchemy.url``); how: :mod:`streams.runtime.alembic_env`.
"""

from __future__ import annotations

from projections.db import make_engine
from projections.tables import metadata
from streams.runtime.alembic_env import run_environment

run_environment(make_engine, target_metadata=metadata, compare_type=True)
