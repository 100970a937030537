"""The cases projection shows each ticket's SLA and assignment as the log tells them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from projections.cases import Offset, apply_batch
from projections.db import create_schema, make_engine
from projections.tables import cases
from streams.schema.commands import Assignment
from tests.unit.core.test_service_level import START, Worker, agent_comment, private_message


def test_tier_state_breaches_escalation_and_agent_are_projected(tmp_path: Path) -> None:
    w = Worker()
    w.feed(private_message("Is there an outage?"))
    tid = w.log[0].ticket_id
    w.feed(Assignment(decision_id="d1", ticket_id=tid, chat_id=501, action="assigned",
                      queue="support", agent_id="bo", salesforce_user_id="005000000000009AAA",
                      reason="round robin", at=START).to_bytes(), "ticket.commands")
    w.tick(START + timedelta(minutes=4))  # urgent tier: warning 1m, breach 2m, level 1 at 3m
    w.feed(agent_comment(tid, START + timedelta(minutes=5)), "salesforce.changes")
    row = _case_row(w, tmp_path)
    assert (row["sla_tier"], row["sla_state"], row["escalation_level"]) == (
        "urgent", "breached", 1)
    assert row["first_response_breached_at"].replace(tzinfo=None) == (
        START + timedelta(minutes=2)).replace(tzinfo=None)
    assert row["resolution_breached_at"] is None
    assert (row["queue"], row["agent_id"], row["owner_id"]) == (
        "support", "bo", "005000000000009AAA")
    assert row["last_seq"] == len(w.log)


def test_a_target_adopted_from_salesforce_moves_the_next_due_and_is_audited(
        tmp_path: Path) -> None:
    from projections.audit import describe
    from tests.unit.core.test_milestone_targets import milestone

    w = Worker()
    w.feed(private_message())
    w.feed(milestone(START + timedelta(minutes=4), START + timedelta(minutes=1)),
           "salesforce.changes")
    adopted = w.log[-1]
    assert describe(adopted) == (f"SLA first_response target set by Salesforce's milestone: "
                                 f"due {(START + timedelta(minutes=4)).isoformat()}")
    row = _case_row(w, tmp_path)
    assert row["sla_next_due_at"].replace(tzinfo=None) == (  # 50% of the 4-minute target
        START + timedelta(minutes=2)).replace(tzinfo=None)


def _case_row(w: Worker, tmp_path: Path) -> Any:
    """The ``cases`` row the worker's log projects to (one ticket)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    try:
        create_schema(engine)
        with engine.begin() as conn:
            apply_batch(conn, [(Offset("ticket.events", 0, i), e)
                               for i, e in enumerate(w.log)], START)
        with engine.connect() as conn:
            return conn.execute(sa.select(cases)).mappings().one()
    finally:
        engine.dispose()
