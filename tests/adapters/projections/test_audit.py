"""The audit trail: one immutable row per ticket event, with who, what, why, before/after, the
ticket's agent and queue as of the event, and where in the log it came from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from projections import audit, bulk
from projections.db import create_schema, make_engine
from projections.registry import PROJECTORS, apply_all
from projections.tables import audit_trail, checkpoints
from streams.schema.commands import Assignment
from tests import infra
from tests.adapters.projections.factory import T0, Story, positioned, sqlite_engine
from tests.unit.core.test_service_level import START, Worker, agent_comment, private_message

AUDIT = PROJECTORS["audit"]


def _rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(audit_trail).order_by(audit_trail.c.ticket_id, audit_trail.c.seq))
            .mappings()]


def _story(ticket_id: str = "tg:-100:t7") -> Story:
    s = Story(ticket_id)
    s.opened("Pricing")
    s.later(minutes=1).wrote("My phone is +1 555 0100")
    s.later(minutes=1).routed("sales")
    s.assigned("ann", reason="round robin: least loaded")
    s.later(minutes=5).assigned("bo", previous="ann", by="reassign", reason="ann is away")
    s.later(minutes=1).replied("Hello from Bo")
    s.later(minutes=30).status("Closed", is_closed=True, previous="Working")
    return s


def test_one_row_per_event_and_none_for_a_redelivery(tmp_path: Path) -> None:
    s = _story()
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            assert AUDIT.apply(conn, positioned(s.events[:4]), T0) == 4
        with engine.begin() as conn:  # a redelivery overlapping the first batch
            assert AUDIT.apply(conn, positioned(s.events[2:], start=2), T0) == 3
        with engine.begin() as conn:  # the same events re-derived at later offsets
            assert AUDIT.apply(conn, positioned(s.events, start=100), T0) == 0
        rows = _rows(engine)
    assert [r["event_id"] for r in rows] == [e.event_id for e in s.events]
    assert [r["source_offset"] for r in rows] == list(range(len(s.events)))
    assert {r["source_topic"] for r in rows} == {"ticket.events"}


def test_rows_say_who_did_what_why_and_what_changed(tmp_path: Path) -> None:
    s = _story()
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            AUDIT.apply(conn, positioned(s.events), T0)
        opened, wrote, routed, assign, reassign, reply, status = _rows(engine)
    assert opened["action"] == "ticket opened (forum topic)"  # the subject: personal data
    assert (opened["before"], opened["after"]) == (
        None, {"status": "open", "subject": "Pricing", "thread_id": 7})
    assert (wrote["action"], wrote["actor_kind"]) == ("customer wrote a message", "customer")
    assert wrote["body"] == "My phone is +1 555 0100"
    assert (wrote["before"], wrote["after"], wrote["reason"]) == (None, None, None)
    assert routed["before"] == {"queue": None} and routed["after"] == {"queue": "sales"}
    assert (routed["queue"], routed["agent_id"]) == ("sales", None)

    assert assign["action"] == "assigned to ann by the desk"
    assert assign["reason"] == "round robin: least loaded"
    assert assign["before"] == {"agent_id": None, "queue": "sales"}
    assert assign["after"] == {"agent_id": "ann", "queue": "sales"}
    assert (assign["agent_id"], assign["body"]) == ("ann", None)
    assert reassign["before"] == {"agent_id": "ann", "queue": "sales"}
    assert reassign["after"] == {"agent_id": "bo", "queue": "sales"}
    assert (reassign["action"], reassign["reason"]) == (
        "assigned to bo by a reassignment", "ann is away")

    assert (reply["action"], reply["body"], reply["agent_id"]) == (
        "Bo replied in Telegram", "Hello from Bo", "bo")
    assert status["action"] == 'Case status set to "Closed" in Salesforce'
    assert status["before"] == {"status": "open", "salesforce_status": None}
    assert status["after"] == {"status": "closed", "salesforce_status": "Closed"}
    assert (status["agent_id"], status["queue"]) == ("bo", "sales")
    assert status["occurred_at"].replace(tzinfo=None) == (
        (T0 + timedelta(minutes=38)).replace(tzinfo=None))


def test_before_carries_over_between_batches(tmp_path: Path) -> None:
    """``before`` of the first event of a batch is read from the ticket's last stored row."""
    s = _story()
    with sqlite_engine(tmp_path) as engine:
        for i, event in enumerate(s.events):
            with engine.begin() as conn:
                AUDIT.apply(conn, positioned([event], start=i), T0)
        one_by_one = _rows(engine)
    (tmp_path / "b").mkdir()
    with sqlite_engine(tmp_path / "b") as engine:
        with engine.begin() as conn:
            AUDIT.apply(conn, positioned(s.events), T0)
        at_once = _rows(engine)
    assert [(r["before"], r["after"], r["state"]) for r in one_by_one] == [
        (r["before"], r["after"], r["state"]) for r in at_once]


def test_every_event_of_a_worker_run_has_exactly_one_row(tmp_path: Path) -> None:
    """Completeness over events the real core made (SLA signals, desk decisions, replies)."""
    w = Worker()
    w.feed(private_message("Is there an outage?"))
    tid = w.log[0].ticket_id
    w.feed(Assignment(decision_id="d1", ticket_id=tid, chat_id=501, action="assigned",
                      queue="support", agent_id="bo", salesforce_user_id="005000000000009AAA",
                      reason="round robin", at=START).to_bytes(), "ticket.commands")
    w.tick(START + timedelta(minutes=4))
    w.feed(agent_comment(tid, START + timedelta(minutes=5)), "salesforce.changes")
    batch = positioned(list(w.log))
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            apply_all(conn, batch, START)
        with engine.begin() as conn:
            apply_all(conn, batch, START)  # delivered twice
        rows = _rows(engine)
    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in w.log)
    kinds = {r["event_type"]: r for r in rows}
    assert {"sla.started", "sla.breached", "sla.escalated", "ticket.assigned",
            "agent.replied"} <= set(kinds)
    assert kinds["sla.breached"]["action"].startswith(
        "SLA first_response breached")
    assigned = kinds["ticket.assigned"]
    assert assigned["after"] == {"agent_id": "bo", "queue": "support",
                                 "owner_id": "005000000000009AAA"}


def _refuses_changes(engine: sa.Engine) -> None:
    s = Story()
    s.opened()
    s.wrote()
    with engine.begin() as conn:
        assert AUDIT.apply(conn, positioned(s.events), T0) == 2
    for statement in (sa.update(audit_trail).values(action="nothing happened"),
                      sa.update(audit_trail).values(body=None)
                      .where(audit_trail.c.event_type == "customer.message_received"),
                      sa.delete(audit_trail),
                      sa.delete(audit_trail).where(audit_trail.c.seq == 2)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_trail.c.action, audit_trail.c.body)
                            .order_by(audit_trail.c.seq)).all()
    assert [tuple(r) for r in rows] == [("ticket opened (forum topic)", None),
                                        ("customer wrote a message", "How much is it?")]
    with engine.begin() as conn:  # inserting stays possible
        s.later(minutes=1).replied()
        assert AUDIT.apply(conn, positioned(s.events[2:], start=2), T0) == 1


def test_sqlite_refuses_update_and_delete(tmp_path: Path) -> None:
    with sqlite_engine(tmp_path) as engine:
        _refuses_changes(engine)


@pytest.fixture
def pg_engine(pg_server: str) -> Iterator[sa.Engine]:
    with infra.fresh_database(pg_server) as url:
        engine = make_engine(url)
        create_schema(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.mark.integration
def test_postgres_refuses_update_delete_and_truncate(pg_engine: sa.Engine) -> None:
    _refuses_changes(pg_engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), pg_engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE audit_trail"))
    with pg_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_trail)).scalar() == 3


@pytest.mark.integration
def test_postgres_rows_match_sqlite_rows(pg_engine: sa.Engine, tmp_path: Path) -> None:
    s = _story()
    with sqlite_engine(tmp_path) as lite:
        for engine in (lite, pg_engine):
            with engine.begin() as conn:
                AUDIT.apply(conn, positioned(s.events), T0)
        here, there = _rows(lite), _rows(pg_engine)
    skip = {"id", "occurred_at", "recorded_at"}
    assert [{k: v for k, v in r.items() if k not in skip} for r in here] == [
        {k: v for k, v in r.items() if k not in skip} for r in there]


@pytest.mark.integration
def test_postgres_finds_each_tickets_last_row_as_the_grouped_join_does(
        pg_engine: sa.Engine) -> None:
    """PostgreSQL reads each ticket's latest row by an index scan per ticket (``LATERAL``);
    the grouped join SQLite runs finds the same rows, whatever a ticket's number of rows, and
    nothing for a ticket without any."""
    stories = [_story(f"t{n}") for n in range(3)]
    events = [e for n, story in enumerate(stories) for e in story.events[:3 + 2 * n]]
    with pg_engine.begin() as conn:
        AUDIT.apply(conn, positioned(events), T0)
    ids = ["t2", "t0", "unseen", "t1"]
    with pg_engine.connect() as conn:
        by_index = conn.execute(audit._last_rows(), bulk.ids_value(conn, ids)).all()
        grouped = conn.execute(audit._last_rows_grouped("postgresql"),
                               bulk.ids_value(conn, ids)).all()
        assert audit._last_states(conn, ids) == {
            t: (seq, {**audit.EMPTY_STATE, **state}, None) for t, seq, state in grouped}
    assert sorted(by_index) == sorted(grouped)
    assert sorted((t, seq) for t, seq, _ in grouped) == [("t0", 3), ("t1", 5), ("t2", 7)]


def _copy_in_schema_refuses_changes(engine: sa.Engine, schema: str) -> None:
    """A copy of the table created elsewhere (how ``telecase replay`` rebuilds) is
    append-only too."""
    elsewhere = sa.MetaData()
    copy = audit_trail.to_metadata(elsewhere)
    checkpoints.to_metadata(elsewhere)
    with engine.begin() as conn:
        translated = conn.execution_options(schema_translate_map={None: schema})
        elsewhere.create_all(translated)
        s = Story()
        s.opened()
        AUDIT.apply(translated, positioned(s.events), T0)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execution_options(schema_translate_map={None: schema}).execute(sa.delete(copy))


def test_a_rebuilt_copy_is_append_only_on_sqlite(tmp_path: Path) -> None:
    with sqlite_engine(tmp_path) as engine:
        @sa.event.listens_for(engine, "connect")
        def _attach(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("ATTACH DATABASE ? AS rebuild", (str(tmp_path / "r.sqlite"),))

        engine.dispose()  # connections from now on attach the rebuild file
        _copy_in_schema_refuses_changes(engine, "rebuild")


@pytest.mark.integration
def test_a_rebuilt_copy_is_append_only_on_postgres(pg_engine: sa.Engine) -> None:
    with pg_engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA rebuild"))
    _copy_in_schema_refuses_changes(pg_engine, "rebuild")
