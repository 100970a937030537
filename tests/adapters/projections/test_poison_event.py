"""A projector fed an event it cannot write (a chat id beyond 64 bits: ``OverflowError`` on
SQLite, ``NumericValueOutOfRange`` on PostgreSQL) dead-letters it, with the reason, origin,
stage and traceback, and projects the events around it; every projector's checkpoint moves past
it, so a restart does not meet it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from projections.bus_runner import BusProjector
from projections.db import create_schema, make_engine
from projections.registry import PROJECTORS, load_checkpoints
from projections.tables import audit_trail, cases
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent, encode_event
from tests import infra
from tests.adapters.projections.factory import Story

BEYOND_64_BITS = 2**64 + 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'p.sqlite'}"
        engine = make_engine(url)
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        engine = make_engine(url)
        create_schema(engine)
        yield engine
        engine.dispose()


def _poisoned(story: Story) -> TicketEvent:
    opened = story.opened("Too large")
    poison = opened.model_copy(update={"chat_id": BEYOND_64_BITS})
    story.events[-1] = poison
    return poison


async def test_an_event_a_projector_cannot_write_is_dead_lettered_and_the_next_projected(
        engine: sa.Engine, tmp_path: Path) -> None:
    good, bad, after = Story("tg:-100:t1"), Story("tg:-100:t2"), Story("tg:-100:t3")
    good.opened(), good.wrote()
    _poisoned(bad)
    after.opened(), after.wrote()
    events = [*good.events, *bad.events, *after.events]  # the poison at offset 2
    names = TopicNames("t.")
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        await log.append(names.ticket_events, [
            Outgoing(e.ticket_id.encode(), encode_event(e), partition=0) for e in events])
        runner = BusProjector(log, engine, names)
        records = await log.read(names.ticket_events, 0, 0, 100)
        await runner.handle(records)
        await runner.handle(records)  # delivered again: nothing applied twice
        letters = [DeadLetter.model_validate_json(r.value)
                   for r in await log.read(names.dead_letters, 0, 0, 100)]
    finally:
        await log.close()
    assert runner.applied == 4
    [letter] = letters
    assert (letter.reason, letter.consumer) == ("projection_failed", "projector:cases")
    assert (letter.topic, letter.partition, letter.offset) == (names.ticket_events, 0, 2)
    assert letter.key == "tg:-100:t2" and letter.payload() == records[2].value
    assert letter.traceback and "Error" in letter.traceback.splitlines()[-1]
    assert str(BEYOND_64_BITS) not in letter.detail + letter.traceback  # no statement quoted
    with engine.connect() as conn:
        rows = conn.execute(sa.select(cases.c.ticket_id, cases.c.message_count)
                            .order_by(cases.c.ticket_id)).all()
        assert [tuple(r) for r in rows] == [("tg:-100:t1", 1), ("tg:-100:t3", 1)]
        audited = conn.execute(sa.select(audit_trail.c.ticket_id)).scalars().all()
        assert sorted(set(audited)) == ["tg:-100:t1", "tg:-100:t3"]
        end = {(names.ticket_events, 0): len(events)}
        assert {n: load_checkpoints(conn, n) for n in PROJECTORS} == {n: end for n in PROJECTORS}
