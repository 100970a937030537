"""The PostgreSQL settings a bench figure depends on, and durable bench sessions.

Every bench figure that touches PostgreSQL is printed with :func:`durability` of the server it
ran against: ``fsync``, ``synchronous_commit``, ``full_page_writes`` and ``wal_level`` as the
bench's own sessions saw them (``SHOW``), and a ``warnings`` list. Benches are durable by
default: :func:`durable_url` makes every session they open (and the projector processes they
start) run with ``synchronous_commit=on`` whatever the server's default is. ``fsync`` cannot be
set per session: a server running with ``fsync=off`` (the CI's throwaway PostgreSQL, for test
speed) commits without flushing the WAL, so its figures are not durable ones, and the bench
says so loudly, in its JSON and on stderr. :func:`scratch_database` gives a bench a database
of its own on the server.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_level")

_DURABLE_OPTION = "-c synchronous_commit=on"


def durable_url(url: str) -> str:
    """``url`` with libpq ``options`` making each session commit synchronously."""
    parsed = sa.make_url(url)
    options = parsed.query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    merged = f"{options} {_DURABLE_OPTION}" if options else _DURABLE_OPTION
    return parsed.update_query_dict({"options": merged}).render_as_string(hide_password=False)


def show(conn: sa.Connection) -> dict[str, str]:
    """The durability settings as this session sees them."""
    return {name: str(conn.exec_driver_sql(f"SHOW {name}").scalar_one()) for name in SETTINGS}


def warnings(settings: dict[str, str]) -> list[str]:
    """What makes figures taken under ``settings`` not durable ones."""
    out = []
    if settings.get("fsync") == "off":
        out.append("fsync=off on the server: commits are not flushed to disk, so these "
                   "figures are NOT durable ones (faster than a production server's)")
    if settings.get("synchronous_commit") not in ("on", "remote_apply", "remote_write"):
        out.append(f"synchronous_commit={settings.get('synchronous_commit')}: a commit "
                   "returns before its WAL is flushed")
    if settings.get("full_page_writes") == "off":
        out.append("full_page_writes=off: a crash can leave torn pages")
    return out


def durability(engine: sa.Engine) -> dict[str, Any]:
    """``{"settings": ..., "warnings": [...]}`` for a bench's JSON; warnings also go to
    stderr, so nobody quotes a non-durable figure without seeing it."""
    with engine.connect() as conn:
        settings = show(conn)
    found = warnings(settings)
    for warning in found:
        print(f"WARNING (bench): {warning}", file=sys.stderr)
    return {"settings": settings, "warnings": found}


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``server_url`` (its URL, durable as
    :func:`durable_url`), dropped afterwards: benches write to nothing of anyone else's."""
    url = sa.make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if not url.drivername.startswith("postgresql"):
        raise ValueError(f"the bench needs PostgreSQL, not {url.drivername}")
    name = f"telecase_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield durable_url(url.set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
