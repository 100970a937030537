"""The ``audit`` projection: one immutable row per ticket event in ``audit_trail``.

Who or what did it (``actor_*``), what (``action``: a short sentence), why (``reason``, where
the event gives one: the SLA's, the desk's or the closing's words), what it changed
(``before``/``after``: only the fields the event type concerns), the ticket's agent and queue
as of that event (access control reads them), the message text for customer messages and agent
replies (``body``: personal data), and the log position it came from.

Rows are only ever inserted, at most once per ``event_id``: an event whose ``seq`` the ticket's
last row already has is a redelivery and inserts nothing (and the unique ``event_id`` turns a
race into a no-op). ``before`` comes from the ``state`` column of the ticket's previous row, so
the projection needs no other table and is right whatever order the projectors run in. The
database itself refuses UPDATE and DELETE on the table (triggers: see
``projections.tables.append_only_ddl``).

:func:`fold` writes rows only; the registry adds checkpoints (``projections.registry``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite

from projections.cases import Offset
from projections.tables import audit_trail
from streams.schema.events import (
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    CustomerMessageEdited,
    CustomerMessageReceived,
    SalesforceCaseLinked,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TicketRouted,
    TopicClosed,
    TopicRecreated,
    TopicRenamed,
    TopicReopened,
)

PROJECTOR = "audit"

STATE_FIELDS = ("status", "subject", "salesforce_status", "salesforce_case_id", "owner_id",
                "owner_name", "agent_id", "queue", "thread_id", "sla_tier", "sla_state",
                "escalation_level")
"""What the audit trail remembers of a ticket (its ``state`` column)."""

EMPTY_STATE: dict[str, Any] = {field: None for field in STATE_FIELDS}

_SLA = ("sla_state",)
CHANGES: dict[type, tuple[str, ...]] = {
    TicketOpened: ("status", "subject", "thread_id"),
    TopicRenamed: ("subject",),
    TopicClosed: ("status",),
    TopicReopened: ("status",),
    TicketClosed: ("status",),
    CaseStatusChanged: ("status", "salesforce_status"),
    CaseOwnerChanged: ("owner_id", "owner_name"),
    SalesforceCaseLinked: ("salesforce_case_id",),
    TopicRecreated: ("thread_id",),
    TicketRouted: ("queue",),
    TicketAssigned: ("agent_id", "queue", "owner_id"),
    SlaStarted: ("sla_tier", "sla_state"),
    SlaWarning: _SLA,
    SlaBreached: _SLA,
    SlaMet: _SLA,
    SlaEscalated: ("sla_state", "escalation_level"),
}
"""Event type -> the state fields it is about (``before``/``after`` show these)."""

_ASSIGNED_BY = {"policy": "by the desk", "next_agent": "by the desk (next available agent)",
                "claim": "by their own claim", "reassign": "by a reassignment",
                "salesforce": "by the Case owner in Salesforce"}


def evolve(state: dict[str, Any], event: TicketEvent) -> dict[str, Any]:
    """The ticket's audited state after ``event`` (the same rules as the ``cases`` row)."""
    new = dict(state)
    match event:
        case TicketOpened():
            new.update(status="open", subject=event.subject, thread_id=event.thread_id)
        case TopicRenamed():
            new["subject"] = event.name
        case TopicClosed() | TicketClosed():
            new["status"] = "closed"
        case TopicReopened():
            new["status"] = "open"
        case CaseStatusChanged():
            new.update(status="closed" if event.is_closed else "open",
                       salesforce_status=event.status)
        case CaseOwnerChanged():
            new.update(owner_id=event.owner_id, owner_name=event.owner_name)
        case SalesforceCaseLinked():
            new["salesforce_case_id"] = event.case_id
        case TopicRecreated():
            new["thread_id"] = event.new_thread_id
        case TicketRouted():
            new["queue"] = event.queue
        case TicketAssigned():
            new.update(agent_id=event.agent_id, queue=event.queue or new["queue"])
            if event.salesforce_user_id is not None:
                new["owner_id"] = event.salesforce_user_id
        case SlaStarted():
            new.update(sla_tier=event.tier, sla_state="running")
        case SlaWarning():
            if new["sla_state"] in (None, "running", "met"):
                new["sla_state"] = "warned"
        case SlaBreached():
            new["sla_state"] = "breached"
        case SlaMet():
            if new["sla_state"] != "breached" and (event.clock == "resolution"
                                                   or event.on_time):
                new["sla_state"] = "met" if event.on_time else "breached"
        case SlaEscalated():
            new["escalation_level"] = max(new["escalation_level"] or 0, event.level)
    return new


def describe(event: TicketEvent) -> str:
    """The ``action`` sentence for an event."""
    match event:
        case TicketOpened():
            return f'ticket opened: "{event.subject}" ({event.channel.replace("_", " ")})'
        case CustomerMessageReceived():
            kind = "" if event.content_kind == "text" else f" ({event.content_kind})"
            return f"customer wrote a message{kind}"
        case CustomerMessageEdited():
            return "customer edited a message"
        case TopicRenamed():
            return f'topic renamed to "{event.name}"'
        case TopicClosed():
            return "topic closed"
        case TopicReopened():
            return "topic reopened"
        case AgentReplied():
            who = (event.agent.display_name or event.agent.salesforce_user_id
                   or event.agent.telegram_user_id or "an agent")
            return f"{who} replied in {event.via.capitalize()}"
        case SalesforceCaseLinked():
            return f"linked to Salesforce Case {event.case_number or event.case_id}"
        case CaseStatusChanged():
            return f'Case status set to "{event.status}" in Salesforce'
        case CaseOwnerChanged():
            return f"Case owner changed to {event.owner_name or event.owner_id} in Salesforce"
        case TopicRecreated():
            return f"topic recreated as thread {event.new_thread_id}"
        case TicketClosed():
            return "ticket closed"
        case SlaStarted():
            return f"SLA started: tier {event.tier}, team {event.team}"
        case SlaWarning():
            return (f"SLA {event.clock} warning: {event.threshold:.0%} of "
                    f"{_duration(event.target)} elapsed")
        case SlaBreached():
            return f"SLA {event.clock} breached (target {_duration(event.target)})"
        case SlaMet():
            return f"SLA {event.clock} met {'on time' if event.on_time else 'late'}"
        case SlaEscalated():
            return f"escalated to level {event.level} ({event.escalate_to})"
        case TicketRouted():
            return f"routed to queue {event.queue}"
        case TicketAssigned():
            how = _ASSIGNED_BY.get(event.assigned_by, f"by {event.assigned_by}")
            if event.agent_id is not None:
                return f"assigned to {event.agent_id} {how}"
            if event.previous_agent_id is not None:
                return f"unassigned from {event.previous_agent_id} {how}"
            return f"left unassigned {how}"
    return event.type  # pragma: no cover - every type is matched above


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


def _reason(event: TicketEvent) -> str | None:
    if isinstance(event, TicketClosed | SlaStarted | SlaWarning | SlaBreached | SlaMet
                  | SlaEscalated | TicketRouted | TicketAssigned):
        return event.reason
    return None


def _body(event: TicketEvent) -> str | None:
    if isinstance(event, CustomerMessageReceived | CustomerMessageEdited | AgentReplied):
        return event.text
    return None


def row_for(pos: Offset, event: TicketEvent, before: dict[str, Any]) -> dict[str, Any]:
    """The audit row of ``event`` given the ticket's audited state before it. Only the event
    and its position go in (no clock), so a rebuild writes the same rows as the live run."""
    after = evolve(before, event)
    fields = CHANGES.get(type(event), ())
    if isinstance(event, TicketAssigned) and event.salesforce_user_id is None:
        fields = ("agent_id", "queue")
    return {
        "event_id": event.event_id, "ticket_id": event.ticket_id, "seq": event.seq,
        "event_type": event.type, "actor_kind": event.actor.kind, "actor_id": event.actor.id,
        "actor_name": event.actor.display_name, "action": describe(event),
        "reason": _reason(event),
        "before": ({f: before[f] for f in fields}
                   if fields and not isinstance(event, TicketOpened) else None),
        "after": {f: after[f] for f in fields} if fields else None,
        "agent_id": after["agent_id"], "queue": after["queue"], "body": _body(event),
        "occurred_at": event.occurred_at, "recorded_at": event.recorded_at,
        "source_topic": pos.topic,
        "source_partition": pos.partition, "source_offset": pos.offset, "state": after,
    }


def _last_states(conn: Connection, ticket_ids: list[str]) -> dict[str, tuple[int, dict[str, Any]]]:
    """``ticket_id -> (seq, state)`` of each ticket's latest audit row."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for chunk in _chunks(ticket_ids, 500):
        latest = (select(audit_trail.c.ticket_id, func.max(audit_trail.c.seq).label("seq"))
                  .where(audit_trail.c.ticket_id.in_(chunk))
                  .group_by(audit_trail.c.ticket_id).subquery())
        q = select(audit_trail.c.ticket_id, audit_trail.c.seq, audit_trail.c.state).join(
            latest, and_(audit_trail.c.ticket_id == latest.c.ticket_id,
                         audit_trail.c.seq == latest.c.seq))
        for ticket_id, seq, state in conn.execute(q):
            found[ticket_id] = (int(seq), {**EMPTY_STATE, **state})
    return found


def fold(conn: Connection, batch: Sequence[tuple[Offset, TicketEvent | None]],
         now: datetime) -> int:
    """Insert the audit rows of ``batch`` (in the caller's transaction); returns how many."""
    ids = sorted({e.ticket_id for _, e in batch if e is not None})
    known = _last_states(conn, ids)
    rows: list[dict[str, Any]] = []
    for pos, event in batch:
        if event is None:
            continue
        seq, state = known.get(event.ticket_id, (0, EMPTY_STATE))
        if event.seq <= seq:
            continue  # redelivered: its row is there
        row = row_for(pos, event, state)
        known[event.ticket_id] = (event.seq, row["state"])
        rows.append(row)
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(audit_trail).on_conflict_do_nothing(
            index_elements=["event_id"]), rows)
    return len(rows)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
