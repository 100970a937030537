"""The board's deadlines are the worker's: the real ticket core and SLA clock make the log, the
projectors project it, the board works out each deadline from the audit rows, and the worker's
clock, ticked to exactly that instant, fires the breach then (and not a moment before)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from projections.audit import row_for
from projections.audit_queries import Viewer
from projections.cases import Offset
from projections.dashboard_queries import BoardTicket, board
from projections.registry import apply_all
from projections.sla_deadlines import _NO_CLOCK, DeadlineBook, facts_of
from streams.core import service_level
from streams.runtime.fold import UpdateFolder
from streams.sla.policy import SlaPolicy
from streams.sla.replay import sla_facts
from tests.adapters.projections.factory import Story, positioned, sqlite_engine
from tests.telegram_factory import Script, private
from tests.unit.core.test_service_level import ANN, POLICY, START, T0, Worker, agent_comment, raw

ADMIN = Viewer.admin()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with sqlite_engine(tmp_path) as e:
        yield e


class Desk:
    """A worker folding one customer's private chat, and the projections of its log."""

    def __init__(self, engine: Engine, policy: SlaPolicy = POLICY, at: int = T0) -> None:
        self.engine, self.worker = engine, Worker()
        self.worker.folder = UpdateFolder(sla_policy=policy)
        self.chat, self.at, self.projected = Script(private(501)), at, 0

    def customer_writes(self, text: str, after: timedelta = timedelta()) -> None:
        self.worker.feed(raw(self.chat.write(ANN, text, self.at + int(after.total_seconds()))))

    def agent_replies(self, after: timedelta) -> None:
        self.worker.feed(agent_comment(self.ticket_id, self.opened + after, f"c{after}"),
                         "salesforce.changes")

    def tick(self, at: datetime) -> list[str]:
        return [getattr(e, "signal", e.type) for e in self.worker.tick(at).events]

    @property
    def ticket_id(self) -> str:
        return self.worker.log[0].ticket_id

    @property
    def opened(self) -> datetime:
        return self.worker.log[0].occurred_at

    def board(self, book: DeadlineBook) -> BoardTicket:
        new = self.worker.log[self.projected:]
        with self.engine.begin() as conn:
            apply_all(conn, positioned(new, start=self.projected), START)
        self.projected = len(self.worker.log)
        with self.engine.connect() as conn:
            (ticket,) = board(conn, ADMIN, book).tickets
        return ticket


def test_first_response_and_resolution_deadlines_are_when_the_worker_breaches(
        engine: Engine) -> None:
    desk, book = Desk(engine), DeadlineBook(POLICY)
    desk.customer_writes("Our shop has an outage since noon")  # the urgent tier: 2m / 20m
    ticket = desk.board(book)
    assert (ticket.tier, ticket.sla_state) == ("urgent", "running")
    assert ticket.deadlines.first_response_due_at == START + timedelta(minutes=2)
    assert ticket.deadlines.resolution_due_at == START + timedelta(minutes=20)
    assert ticket.due_at == START + timedelta(minutes=2) and not ticket.breached
    due = ticket.due_at
    assert "first_response_breached" not in desk.tick(due - timedelta(microseconds=1))
    assert "first_response_breached" in desk.tick(due)
    ticket = desk.board(book)
    assert ticket.breached and ticket.breached_at == due
    assert ticket.due_at == START + timedelta(minutes=20)  # the resolution target is next


def test_waiting_on_the_customer_pauses_the_resolution_deadline_and_writing_moves_it(
        engine: Engine) -> None:
    desk, book = Desk(engine), DeadlineBook(POLICY)
    desk.customer_writes("A question about your plans")  # standard: 10m / 1h
    desk.agent_replies(timedelta(minutes=3))
    ticket = desk.board(book)
    assert ticket.first_response_at == START + timedelta(minutes=3)
    assert ticket.deadlines.first_response_due_at is None  # met: that clock stopped
    assert ticket.deadlines.resolution_due_at is None and ticket.deadlines.resolution_paused
    assert ticket.due_at is None
    desk.customer_writes("Thanks, and what about support?", timedelta(minutes=13))
    ticket = desk.board(book)
    # 3 minutes ran before the reply, 10 waited on the customer: due 1h of running from then
    due = START + timedelta(hours=1, minutes=10)
    assert ticket.deadlines.resolution_due_at == due and not ticket.deadlines.resolution_paused
    assert "resolution_breached" not in desk.tick(due - timedelta(seconds=1))
    assert "resolution_breached" in desk.tick(due)


_HOURS = """
[sla]
default_tier = "standard"
[sla.teams.desk]
timezone = "Europe/Berlin"
[sla.teams.desk.hours]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
[sla.tiers.standard]
team = "desk"
first_response = "10m"
resolution = "8h"
"""


def test_deadlines_run_in_business_time_across_a_weekend(engine: Engine) -> None:
    policy = SlaPolicy.from_toml(_HOURS)
    friday = datetime(2026, 5, 29, 14, 55, tzinfo=UTC)  # 16:55 in Berlin (CEST), a Friday
    desk, book = Desk(engine, policy, at=int(friday.timestamp())), DeadlineBook(policy)
    desk.customer_writes("Hello")
    ticket = desk.board(book)
    monday = datetime(2026, 6, 1, 7, 5, tzinfo=UTC)  # 5 business minutes on Friday, 5 Monday
    assert ticket.deadlines.first_response_due_at == monday
    assert ticket.deadlines.resolution_due_at == datetime(2026, 6, 1, 14, 55, tzinfo=UTC)
    assert "first_response_breached" in desk.tick(monday)


_NO_RULES = """
[sla]
default_tier = "standard"
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "10m"
resolution = "1h"
[sla.tiers.urgent]
team = "desk"
first_response = "2m"
resolution = "20m"
"""
_OTHER_RULE = _NO_RULES + """
[[sla.rules]]
name = "down"
keywords = ["down"]
tier = "urgent"
"""


def test_a_changed_policy_keeps_the_recorded_tier_and_a_removed_tier_gives_no_deadline(
        engine: Engine) -> None:
    desk = Desk(engine)
    desk.customer_writes("Our shop has an outage since noon")  # urgent, by the keyword rule
    changed = SlaPolicy.from_toml(_OTHER_RULE)  # "outage" is standard now; "down" urgent
    ticket = desk.board(DeadlineBook(changed))
    assert ticket.tier == "urgent"
    assert ticket.deadlines.first_response_due_at == START + timedelta(minutes=2)
    for policy in (_NO_RULES, _HOURS):  # urgent cannot be chosen / is gone
        with engine.connect() as conn:
            (gone,) = board(conn, ADMIN, DeadlineBook(SlaPolicy.from_toml(policy))).tickets
        assert gone.deadlines.first_response_due_at is None and gone.due_at is None


def test_the_book_reworks_a_ticket_only_when_it_had_events(engine: Engine,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           ) -> None:
    from projections import sla_deadlines
    calls: list[int] = []
    real = sla_deadlines.deadlines

    def counting(rows: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(rows))
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(sla_deadlines, "deadlines", counting)
    desk, book = Desk(engine), DeadlineBook(POLICY)
    desk.customer_writes("Hello")
    desk.board(book)
    desk.board(book)
    assert calls == [3]  # opened, message, sla.started: worked out once
    desk.agent_replies(timedelta(minutes=1))
    desk.board(book)
    assert len(calls) == 2


def test_another_viewer_s_smaller_board_does_not_evict_and_unasked_tickets_are_forgotten(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from projections import sla_deadlines
    calls: list[int] = []
    real = sla_deadlines.deadlines
    monkeypatch.setattr(sla_deadlines, "deadlines",
                        lambda rows, *a, **k: calls.append(1) or real(rows, *a, **k))
    desk, book = Desk(engine), DeadlineBook(POLICY)
    book.FORGET_AFTER = 2
    desk.customer_writes("Hello")
    desk.board(book)  # lookup 1: worked out
    nobody = Viewer("agent", "zed")
    with engine.connect() as conn:
        assert board(conn, nobody, book).tickets == []  # lookup 2: asks about nothing
    desk.board(book)  # lookup 3: still known
    assert len(calls) == 1
    with engine.connect() as conn:
        for _ in range(3):  # lookups 4-6: nobody asks about it for FORGET_AFTER lookups
            board(conn, nobody, book)
    desk.board(book)
    assert len(calls) == 2


def test_no_policy_means_no_deadlines(engine: Engine) -> None:
    desk = Desk(engine)
    desk.customer_writes("Hello")
    ticket = desk.board(DeadlineBook(None))
    assert ticket.tier == "standard" and ticket.due_at is None


# ----------------------------------------------------------------------------- the mapping


def test_the_event_types_that_do_not_move_the_clock_are_the_workers() -> None:
    worker = {cls.model_fields["type"].default
              for cls in service_level._NO_CLOCK_EVENTS}
    assert worker == _NO_CLOCK


def test_audit_rows_give_the_clock_the_facts_their_events_give_it() -> None:
    s = Story()
    events = [s.opened(), s.later(minutes=1).wrote(), s.later(minutes=1).replied(),
              s.status("Waiting on customer", is_closed=False), s.status("Closed", True),
              s.reopened(), s.closed()]
    state: dict[str, Any] = {f: None for f in ("status", "subject", "salesforce_status",
                                                "salesforce_case_id", "owner_id", "owner_name",
                                                "agent_id", "queue", "thread_id", "sla_tier",
                                                "sla_state", "escalation_level")}
    for i, event in enumerate(events):
        row = row_for(Offset("ticket.events", 0, i), event, state)
        state = row["state"]
        expected = None if event.type in _NO_CLOCK else sla_facts(event)
        assert facts_of(row) == expected, event.type


def test_a_target_adopted_from_salesforce_is_the_boards_deadline(engine: Engine) -> None:
    from tests.unit.core.test_milestone_targets import milestone

    desk, book = Desk(engine), DeadlineBook(POLICY)
    desk.customer_writes("A question about your plans")  # standard: 10m / 1h
    target = START + timedelta(minutes=4)
    desk.worker.feed(milestone(target, START + timedelta(minutes=1)), "salesforce.changes")
    ticket = desk.board(book)
    assert ticket.deadlines.first_response_due_at == target
    assert ticket.deadlines.resolution_due_at == START + timedelta(hours=1)
    assert "first_response_breached" not in desk.tick(target - timedelta(microseconds=1))
    assert "first_response_breached" in desk.tick(target)
