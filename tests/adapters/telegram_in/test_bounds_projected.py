"""What the door accepts fits the projections: updates with every id and date at Telegram's
bounds pass the check, fold in the worker's code, and their events are projected on SQLite and
PostgreSQL (``BIGINT``) without an overflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from projections.cases import Offset
from projections.db import create_schema, make_engine
from projections.registry import apply_all
from projections.tables import cases
from streams.schema.envelope import EncodedUpdate
from streams.schema.telegram_bounds import ID_BITS, INT64_MAX, UNIX_TIME_MAX
from streams.schema.update_check import check_body
from tests import infra
from tests.adapters.telegram_in.hostile import fold_all

LOWEST_CHAT = -(2 ** ID_BITS) + 1
HIGHEST_USER = 2 ** ID_BITS - 1


def _updates() -> list[dict[str, Any]]:
    """A forum topic and a private chat, every id at its bound, then an edit at the last
    date."""
    person = {"id": HIGHEST_USER, "is_bot": False, "first_name": "Edge"}
    forum = {"id": LOWEST_CHAT, "type": "supergroup", "is_forum": True, "title": "Edge"}
    topic = {"message_id": INT64_MAX, "date": UNIX_TIME_MAX - 1, "chat": forum, "from": person,
             "message_thread_id": INT64_MAX, "is_topic_message": True,
             "forum_topic_created": {"name": "Bounds", "icon_color": INT64_MAX}}
    said = {"message_id": INT64_MAX - 1, "date": UNIX_TIME_MAX - 1, "chat": forum,
            "from": person, "message_thread_id": INT64_MAX, "is_topic_message": True,
            "text": "at the edge"}
    private = {"message_id": INT64_MAX, "date": UNIX_TIME_MAX - 1, "text": "hi", "from": person,
               "chat": {"id": HIGHEST_USER, "type": "private", "first_name": "Edge"}}
    edited = {**private, "text": "hi!", "edit_date": UNIX_TIME_MAX}
    return [{"update_id": INT64_MAX - 3, "message": topic},
            {"update_id": INT64_MAX - 2, "message": said},
            {"update_id": INT64_MAX - 1, "message": private},
            {"update_id": INT64_MAX, "edited_message": edited}]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        made = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
        create_schema(made)
        yield made
        made.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        made = make_engine(url)
        create_schema(made)
        yield made
        made.dispose()


def test_ids_at_their_bounds_fold_and_project(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    records = []
    for update in _updates():
        checked = check_body(json.dumps(update).encode())
        records.append(EncodedUpdate.from_body(bot_id=7, source="webhook", received_at=now,
                                               body=checked.body,
                                               update=checked.update).to_bytes())
    folded = fold_all(records)
    assert [f.dead_letter for f in folded] == [None] * len(records)
    events = [e for f in folded for e in f.events]
    assert events
    with engine.begin() as conn:
        apply_all(conn, [(Offset("ticket.events", 0, n), e) for n, e in enumerate(events)], now)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cases.c.chat_id, cases.c.thread_id)).all()
    assert sorted(rows) == sorted([(LOWEST_CHAT, INT64_MAX), (HIGHEST_USER, None)])
