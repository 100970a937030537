"""The projections opened for reading (the audit trail on the command line, the audit API, the
dashboard): the configured runtime's database, which must exist already."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, make_url

from projections.db import make_engine
from telecase.settings import RuntimeKind, Settings, SettingsError


def open_projections(settings: Settings, runtime: RuntimeKind) -> Engine:
    """The projections' engine; a missing SQLite file is an error, not an empty new one."""
    url = settings.projection_url(runtime)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_file():
            raise SettingsError(f"no projections at {path}: run `telecase run` (embedded) or "
                                "point TELECASE_DATABASE_URL at the projections")
    return make_engine(url)
