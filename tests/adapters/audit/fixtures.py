"""A small audit trail written by hand: five tickets, three queues' worth of people.

``sales`` is led by lea and managed by max, ``support`` led by tom. Tickets now:

- ``tg:1:t1``: ann's, sales; a customer (``@alice``) opened it and wrote, ann replied;
- ``tg:1:t2``: bob's, sales;
- ``tg:2:t3``: cat's, support;
- ``tg:3:p:1``: nobody's, no queue yet;
- ``tg:1:t5``: was ann's, reassigned to bob (its early rows carry ``agent_id = ann``);
- ``tg:9:t9``: audit rows only, no ``cases`` row yet (a lagging projector).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from projections.tables import audit_trail, cases, metadata
from streams.assignment.policy import AssignmentPolicy

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

POLICY = AssignmentPolicy.parse({
    "routing": {"default_queue": "sales"},
    "queues": {"sales": {"team_lead": "lea", "manager": "max"},
               "support": {"team_lead": "tom"},
               "billing": {"manager": "lea"}},
    "agents": {name: {"name": name.title(), "salesforce_user_id": f"005{i:012d}",
                      "queues": list(queues), "capacity": 5}
               for i, (name, queues) in enumerate({
                   "ann": ["sales"], "bob": ["sales"], "cat": ["support"],
                   "lea": ["sales", "billing"], "max": ["sales"], "tom": ["support"]}.items())},
})

CURRENT = {  # ticket -> (agent, queue) in the cases table
    "tg:1:t1": ("ann", "sales"),
    "tg:1:t2": ("bob", "sales"),
    "tg:2:t3": ("cat", "support"),
    "tg:3:p:1": (None, None),
    "tg:1:t5": ("bob", "sales"),
}
ALL_TICKETS = (*CURRENT, "tg:9:t9")

SECRET_BODY = "my phone is +1 555 0100"
CUSTOMER = "@alice"
SUBJECT = "Pricing"
"""The topics' subject, which customers write: personal data."""


def _row(ticket: str, seq: int, minutes: float, event_type: str, action: str, *,
         actor: tuple[str, str | None, str | None] = ("system", None, "telecase desk"),
         agent: str | None = None, queue: str | None = None, body: str | None = None,
         before: Any = None, after: Any = None, reason: str | None = None) -> dict[str, Any]:
    kind, actor_id, actor_name = actor
    row: dict[str, Any] = {
        "event_id": f"{ticket}#{seq}", "ticket_id": ticket, "seq": seq,
        "event_type": event_type, "actor_kind": kind, "actor_id": actor_id,
        "actor_name": actor_name, "action": action, "reason": reason, "before": before,
        "after": after, "agent_id": agent, "queue": queue, "body": body,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "recorded_at": T0 + timedelta(minutes=minutes, seconds=1),
        "source_topic": "ticket.events", "source_partition": 0, "source_offset": 0,
    }
    if "state" in audit_trail.c:  # the projector's own bookkeeping, when the table has it
        row["state"] = {}
    return row


def _opened(ticket: str, minutes: float) -> list[dict[str, Any]]:
    alice = ("customer", "501", CUSTOMER)
    return [
        # as written before the projector left subjects out of the action
        _row(ticket, 1, minutes, "ticket.opened", f'ticket opened: "{SUBJECT}"', actor=alice,
             after={"status": "open", "subject": SUBJECT}),
        _row(ticket, 2, minutes + 1, "customer.message_received", "customer wrote a message",
             actor=alice, body=SECRET_BODY),
    ]


def audit_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows += _opened("tg:1:t1", 0)
    rows += [
        _row("tg:1:t1", 3, 2, "ticket.routed", "routed to queue sales", queue="sales",
             before={"queue": None}, after={"queue": "sales"}, reason="no rule matched"),
        _row("tg:1:t1", 4, 2, "ticket.assigned", "assigned to ann by the desk", agent="ann",
             queue="sales", before={"agent_id": None}, after={"agent_id": "ann"}),
        _row("tg:1:t1", 5, 10, "agent.replied", "Ann replied in Salesforce",
             actor=("agent", "ann", "Ann"), agent="ann", queue="sales", body="hello alice"),
        _row("tg:1:t1", 6, 11, "customer.updated", "customer changed their name",
             actor=("customer", "501", CUSTOMER), agent="ann", queue="sales",
             before={"customer": {"first_name": "Alice", "username": "alice"}},
             after={"customer": {"first_name": "Alicia", "username": "alice"},
                    "customer_name": "Alicia Smith"}),
    ]
    rows += _opened("tg:1:t2", 20)
    rows.append(_row("tg:1:t2", 3, 22, "ticket.assigned", "assigned to bob by the desk",
                     agent="bob", queue="sales", after={"agent_id": "bob"}))
    rows += _opened("tg:2:t3", 30)
    rows.append(_row("tg:2:t3", 3, 32, "ticket.assigned", "assigned to cat by the desk",
                     agent="cat", queue="support", after={"agent_id": "cat"}))
    rows += _opened("tg:3:p:1", 40)
    rows += _opened("tg:1:t5", 50)
    rows += [
        _row("tg:1:t5", 3, 52, "ticket.assigned", "assigned to ann by the desk", agent="ann",
             queue="sales", after={"agent_id": "ann"}),
        _row("tg:1:t5", 4, 53, "agent.replied", "Ann replied in Salesforce",
             actor=("agent", "ann", "Ann"), agent="ann", queue="sales", body="on it"),
        _row("tg:1:t5", 5, 60, "ticket.assigned", "assigned to bob by a reassignment",
             agent="bob", queue="sales", before={"agent_id": "ann"},
             after={"agent_id": "bob"}, reason="ann is away"),
    ]
    rows += _opened("tg:9:t9", 70)
    # Same instant, two events: seq breaks the tie.
    rows.append(_row("tg:9:t9", 3, 71, "ticket.closed", "ticket closed"))
    return rows


def case_rows() -> list[dict[str, Any]]:
    return [{
        "ticket_id": ticket, "channel": "forum_topic", "chat_id": 1, "thread_id": 1,
        "thread_key": ticket, "status": "open", "subject": "Pricing",
        "customer_message_id": 1, "opened_at": T0, "message_count": 1,
        "queue": queue, "agent_id": agent, "last_seq": 1, "last_event_recorded_at": T0,
        "projected_at": T0,
    } for ticket, (agent, queue) in CURRENT.items()]


def fill(engine: Engine) -> None:
    """Create the tables and write the rows, audit rows in a shuffled order (the queries must
    order them, not the insertion)."""
    metadata.create_all(engine)
    rows = audit_rows()
    random.Random(7).shuffle(rows)
    with engine.begin() as conn:
        conn.execute(insert(cases), case_rows())
        conn.execute(insert(audit_trail), rows)
