"""The audit queries: who sees which tickets, personal data, order and time windows.

One contract on SQLite and on real PostgreSQL (the ``postgresql`` parameter is an integration
test)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine

from projections.audit_queries import (
    AccessDenied,
    TicketNotFound,
    Viewer,
    agent_activity,
    parse_instant,
    queues_led_by,
    ticket_history,
)
from projections.db import create_schema, make_engine
from projections.registry import apply_all
from streams.schema.events import Actor, TopicRenamed
from tests import infra
from tests.adapters.audit.fixtures import (
    ALL_TICKETS,
    CUSTOMER,
    POLICY,
    SECRET_BODY,
    SUBJECT,
    T0,
    case_rows,
    fill,
)
from tests.adapters.projections.factory import T0 as STORY_T0
from tests.adapters.projections.factory import Story, positioned


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
        fill(engine)
        with engine.connect() as connection:
            yield connection
        engine.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        engine = create_engine(url)
        fill(engine)
        with engine.connect() as connection:
            yield connection
        engine.dispose()


def agent(agent_id: str, pii: bool | None = None) -> Viewer:
    return Viewer("agent", agent_id, pii=pii)


def lead(agent_id: str, pii: bool | None = None) -> Viewer:
    return Viewer.team_lead(agent_id, POLICY, pii=pii)


def visible(conn: Connection, viewer: Viewer) -> set[str]:
    seen = set()
    for ticket in ALL_TICKETS:
        try:
            ticket_history(conn, ticket, viewer)
        except TicketNotFound:
            continue
        seen.add(ticket)
    return seen


@pytest.mark.parametrize(("viewer", "expected"), [
    (Viewer.admin(), set(ALL_TICKETS)),
    (agent("ann"), {"tg:1:t1"}),
    (agent("bob"), {"tg:1:t2", "tg:1:t5"}),
    (agent("cat"), {"tg:2:t3"}),
    (agent("nobody"), set()),
    (lead("lea"), {"tg:1:t1", "tg:1:t2", "tg:1:t5"}),  # sales (lead) and billing (manager)
    (lead("max"), {"tg:1:t1", "tg:1:t2", "tg:1:t5"}),  # sales (manager)
    (lead("tom"), {"tg:2:t3"}),
    (Viewer.team_lead("cat", POLICY), {"tg:2:t3"}),  # leads nothing: only their own tickets
    (Viewer.team_lead("lea", None), set()),  # no policy: no team
], ids=["admin", "agent-ann", "agent-bob", "agent-cat", "agent-unknown", "lead-lea",
        "manager-max", "lead-tom", "lead-of-nothing", "lead-without-policy"])
def test_each_role_sees_exactly_its_tickets(conn: Connection, viewer: Viewer,
                                            expected: set[str]) -> None:
    assert visible(conn, viewer) == expected


def test_queues_led_by_reads_team_lead_and_manager() -> None:
    assert queues_led_by(POLICY, "lea") == {"sales", "billing"}
    assert queues_led_by(POLICY, "max") == {"sales"}
    assert queues_led_by(POLICY, "ann") == frozenset()
    assert queues_led_by(None, "lea") == frozenset()


def test_a_visible_ticket_shows_all_its_rows_whoever_acted(conn: Connection) -> None:
    entries = ticket_history(conn, "tg:1:t1", agent("ann"))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert {e.actor_kind for e in entries} == {"customer", "system", "agent"}
    assert entries[3].action == "assigned to ann by the desk"
    assert entries[3].before == {"agent_id": None} and entries[3].after == {"agent_id": "ann"}
    assert entries[2].reason == "no rule matched"
    assert entries[0].occurred_at == T0 and entries[0].occurred_at.tzinfo is not None


def test_forbidden_is_the_same_as_unknown(conn: Connection) -> None:
    with pytest.raises(TicketNotFound) as forbidden:
        ticket_history(conn, "tg:1:t2", agent("ann"))
    with pytest.raises(TicketNotFound) as unknown:
        ticket_history(conn, "tg:0:none", agent("ann"))
    assert type(forbidden.value) is type(unknown.value)
    with pytest.raises(TicketNotFound):  # reassigned away: no longer ann's to see
        ticket_history(conn, "tg:1:t5", agent("ann"))
    with pytest.raises(TicketNotFound):
        ticket_history(conn, "tg:0:none", Viewer.admin())


def test_a_visible_ticket_without_audit_rows_yet_is_empty_not_missing(
        conn: Connection) -> None:
    from sqlalchemy import insert

    from projections.tables import cases
    # a lagging audit projector: the ticket is in cases, none of its audit rows are in yet
    row = dict(case_rows()[0], ticket_id="tg:3:p:99", thread_key="3:p:99")
    conn.execute(insert(cases).values(**row))
    assert ticket_history(conn, "tg:3:p:99", Viewer.admin()) == []


def test_rows_come_in_occurred_at_then_seq_order(conn: Connection) -> None:
    entries = ticket_history(conn, "tg:9:t9", Viewer.admin())
    assert [(e.occurred_at, e.seq) for e in entries] == [
        (T0 + timedelta(minutes=70), 1), (T0 + timedelta(minutes=71), 2),
        (T0 + timedelta(minutes=71), 3)]
    activity = agent_activity(conn, "ann", T0, None, Viewer.admin())
    keys = [(e.occurred_at, e.seq) for e in activity]
    assert keys == sorted(keys) and len(keys) == 5


def test_personal_data_is_shown_by_default_and_withheld_per_key(conn: Connection) -> None:
    shown = ticket_history(conn, "tg:1:t1", Viewer.admin())
    assert shown[1].body == SECRET_BODY and shown[0].actor_name == CUSTOMER
    assert not any(e.redacted for e in shown)
    for viewer in (Viewer.admin(pii=False), lead("lea", pii=False), agent("ann", pii=False)):
        hidden = ticket_history(conn, "tg:1:t1", viewer)
        assert [e.body for e in hidden] == [None] * 6
        assert [e.redacted for e in hidden] == [True, True, False, False, True, True]
        assert hidden[0].actor_name is None  # a customer's name
        assert hidden[4].actor_name == "Ann"  # an agent's is not personal data
        assert hidden[5].before == {"customer": {"first_name": None, "username": None}}
        assert hidden[5].after == {"customer": {"first_name": None, "username": None},
                                   "customer_name": None}
        assert hidden[0].after == {"status": "open", "subject": None}  # customers write it
        assert hidden[0].action == "ticket opened"  # an older row quoted it here
        assert SECRET_BODY not in repr([e.as_json() for e in hidden])
    assert ticket_history(conn, "tg:1:t1", agent("ann"))[1].body == SECRET_BODY
    assert ticket_history(conn, "tg:2:t3", lead("tom"))[1].body == SECRET_BODY


def test_agent_activity_is_their_tickets_at_the_time_and_their_own_acts(
        conn: Connection) -> None:
    admin = agent_activity(conn, "ann", T0, None, Viewer.admin())
    assert [(e.ticket_id, e.seq) for e in admin] == [
        ("tg:1:t1", 4), ("tg:1:t1", 5), ("tg:1:t1", 6), ("tg:1:t5", 3), ("tg:1:t5", 4)]
    # ann herself no longer sees t5 (bob's now); lea (sales) sees it all.
    assert {e.ticket_id for e in agent_activity(conn, "ann", T0, None, agent("ann"))} == {
        "tg:1:t1"}
    assert [(e.ticket_id, e.seq) for e in agent_activity(conn, "ann", T0, None,
                                                         lead("lea"))] == [
        (e.ticket_id, e.seq) for e in admin]
    assert agent_activity(conn, "ann", T0, None, lead("tom")) == []
    with pytest.raises(AccessDenied):
        agent_activity(conn, "bob", T0, None, agent("ann"))


def test_since_is_included_and_until_excluded(conn: Connection) -> None:
    def seqs(since: datetime, until: datetime | None) -> list[tuple[str, int]]:
        return [(e.ticket_id, e.seq)
                for e in agent_activity(conn, "ann", since, until, Viewer.admin())]

    assert seqs(T0 + timedelta(minutes=10), T0 + timedelta(minutes=53)) == [
        ("tg:1:t1", 5), ("tg:1:t1", 6), ("tg:1:t5", 3)]
    assert seqs(T0 + timedelta(minutes=53), None) == [("tg:1:t5", 4)]
    assert seqs(T0 + timedelta(minutes=54), None) == []
    # Another zone, the same instant; a naive one is UTC.
    plus2 = (T0 + timedelta(minutes=53)).astimezone(timezone(timedelta(hours=2)))
    assert seqs(plus2, None) == [("tg:1:t5", 4)]
    assert seqs((T0 + timedelta(minutes=53)).replace(tzinfo=None), None) == [("tg:1:t5", 4)]
    assert len(agent_activity(conn, "ann", T0, None, Viewer.admin(), limit=2)) == 2


def test_parse_instant() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_instant("2d", now) == now - timedelta(days=2)
    assert parse_instant("12h", now) == now - timedelta(hours=12)
    assert parse_instant("30m", now) == now - timedelta(minutes=30)
    assert parse_instant("2026-11-20T08:00:00", now) == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert parse_instant("2026-11-20T10:00:00+02:00", now) == datetime(2026, 11, 20, 8,
                                                                      tzinfo=UTC)
    for bad in ("yesterday", "2x", "", "-2d"):
        with pytest.raises(ValueError, match="neither an ISO 8601"):
            parse_instant(bad, now)


def test_viewers_need_an_agent_id() -> None:
    with pytest.raises(ValueError):
        Viewer("agent")
    with pytest.raises(ValueError):
        Viewer("team_lead", "")
    with pytest.raises(ValueError):
        Viewer("root", "x")  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def projected(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    """Rows the projectors wrote (migrated schema) for a ticket whose customer put personal
    data in the topic's subject, then renamed it; the ticket is ann's."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'projections.sqlite'}"
        yield from _projected(url)
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        yield from _projected(url)


OPENED_AS, RENAMED_TO = "Refund for Jane Roe, card 4111", "Jane Roe: still no refund"


def _projected(url: str) -> Iterator[Connection]:
    story = Story()
    story.opened(OPENED_AS)
    story.later(minutes=1)._add(TopicRenamed, Actor(kind="customer", id="501"), message_id=7,
                                name=RENAMED_TO)
    story.later(minutes=1).routed("sales")
    story.assigned("ann")
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as connection:
        apply_all(connection, positioned(story.events), T0)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_a_topic_subject_is_personal_data(projected: Connection) -> None:
    ticket = Story().ticket_id
    for viewer in (Viewer.admin(pii=False), agent("ann", pii=False), lead("lea", pii=False)):
        for entries in (ticket_history(projected, ticket, viewer),
                        agent_activity(projected, "ann", STORY_T0, None, viewer)):
            seen = json.dumps([e.as_json() for e in entries])
            assert entries and "Jane Roe" not in seen
        opened, renamed, *_ = ticket_history(projected, ticket, viewer)
        assert (opened.action, opened.redacted) == ("ticket opened (forum topic)", True)
        assert opened.after == {"status": "open", "subject": None, "thread_id": 7}
        assert (renamed.action, renamed.redacted) == ("topic renamed", True)
        assert (renamed.before, renamed.after) == ({"subject": None}, {"subject": None})
    for viewer in (Viewer.admin(), agent("ann"), lead("lea", pii=True)):
        opened, renamed, *_ = ticket_history(projected, ticket, viewer)
        assert opened.after == {"status": "open", "subject": OPENED_AS, "thread_id": 7}
        assert (renamed.before, renamed.after) == ({"subject": OPENED_AS},
                                                   {"subject": RENAMED_TO})
        assert (opened.action, renamed.action) == ("ticket opened (forum topic)",
                                                   "topic renamed")
        assert not opened.redacted and not renamed.redacted


def test_an_older_rows_action_loses_its_subject_without_personal_data(
        conn: Connection) -> None:
    hidden = ticket_history(conn, "tg:1:t2", Viewer.admin(pii=False))[0]
    assert (hidden.action, hidden.redacted) == ("ticket opened", True)
    assert SUBJECT not in json.dumps(hidden.as_json())
    shown = ticket_history(conn, "tg:1:t2", Viewer.admin())[0]
    assert shown.action == f'ticket opened: "{SUBJECT}"'
