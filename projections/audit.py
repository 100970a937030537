"""The ``audit`` projection: one immutable row per ticket event in ``audit_trail``.

Who or what did it (``actor_*``), what (``action``: a short sentence), why (``reason``, where
the event gives one: the SLA's, the desk's or the closing's words), what it changed
(``before``/``after``: only the fields the event type concerns), the ticket's agent and queue
as of that event (access control reads them), the message text for customer messages and agent
replies (``body``: personal data), and the log position it came from. A topic's subject is
personal data too (customers write it): it is in ``before``/``after`` and ``state``, never in
``action``, and the audit queries withhold it like a body.

Rows are only ever inserted, at most once per ``event_id``: an event whose ``seq`` the ticket's
last row already has is a redelivery and inserts nothing (and the unique ``event_id`` turns a
race into a no-op). ``before`` comes from the ``state`` column of the ticket's previous row, so
the projection needs no other table and is right whatever order the projectors run in. The
database itself refuses UPDATE and DELETE on the table (triggers: see
``projections.tables.append_only_ddl``).

:func:`fold` writes rows only; the registry adds checkpoints (``projections.registry``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, Text, and_, func, select, true

from projections import bulk
from projections.cases import Offset
from projections.tables import audit_trail
from streams.schema.events import (
    AgentCommandRefused,
    AgentFileShared,
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    CustomerMessageEdited,
    CustomerMessageReceived,
    IntakeAbandoned,
    IntakeAnswered,
    IntakeCompleted,
    IntakeQuestionAsked,
    IntakeStarted,
    IntakeTopicOpened,
    IntakeWentBack,
    KnowledgeRequested,
    SalesforceCaseLinked,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaTargetAdopted,
    SlaWarning,
    TicketAssigned,
    TicketClosed,
    TicketCustomerLinked,
    TicketEvent,
    TicketOpened,
    TicketRequested,
    TicketRouted,
    TopicClosed,
    TopicReconciled,
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
    """The ``action`` sentence for an event. Every viewer sees it, so it quotes nothing a
    customer wrote: a topic's subject stays in ``before``/``after`` and a message in ``body``,
    which the audit queries withhold from viewers without personal data rights
    (``projections.audit_queries``)."""
    match event:
        case TicketOpened():
            return f'ticket opened ({event.channel.replace("_", " ")})'  # subject: after
        case CustomerMessageReceived():
            kind = "" if event.content_kind == "text" else f" ({event.content_kind})"
            return f"customer wrote a message{kind}"
        case CustomerMessageEdited():
            return "customer edited a message"
        case TopicRenamed():
            return "topic renamed"  # the customer's words are personal data: after
        case TopicClosed():
            return "topic closed"
        case TopicReopened():
            return "topic reopened"
        case AgentReplied():
            who = _agent_name(event)
            if event.template is not None:
                return (f"{who} replied in {event.via.capitalize()} with template "
                        f"{event.template.name} ({event.template.source.replace('_', ' ')})")
            if event.article is not None:
                return (f"{who} sent Knowledge article \"{event.article.title}\" "
                        f"({event.article.knowledge_article_id}) from {event.via.capitalize()}")
            return f"{who} replied in {event.via.capitalize()}"
        case AgentFileShared():
            return f"{_agent_name(event)} shared a File from Salesforce: {event.file_name}"
        case KnowledgeRequested():
            return (f'{_agent_name(event)} searched Knowledge for "{event.query}" from '
                    f"{event.via.capitalize()}")
        case AgentCommandRefused():
            what = "/t" if event.command == "template" else "/kb"
            return (f"{_agent_name(event)}'s {what} {event.argument} from "
                    f"{event.via.capitalize()} sent nothing ({event.reason.replace('_', ' ')})")
        case SalesforceCaseLinked():
            return f"linked to Salesforce Case {event.case_number or event.case_id}"
        case CaseStatusChanged():
            return f'Case status set to "{event.status}" in Salesforce'
        case CaseOwnerChanged():
            return f"Case owner changed to {event.owner_name or event.owner_id} in Salesforce"
        case TopicRecreated():
            return f"topic recreated as thread {event.new_thread_id}"
        case TopicReconciled():
            what = ("found closed while the ticket is open" if event.found == "closed"
                    else "found deleted")
            done = "; reopened it" if event.action == "reopened" else ""
            return f"reconciliation: topic {event.thread_id} {what}{done}"
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
        case SlaTargetAdopted():
            return (f"SLA {event.clock} target set by Salesforce's milestone: due "
                    f"{event.target_at.isoformat()}")
        case TicketRouted():
            return f"routed to queue {event.queue}"
        case TicketAssigned():
            how = _ASSIGNED_BY.get(event.assigned_by, f"by {event.assigned_by}")
            if event.agent_id is not None:
                return f"assigned to {event.agent_id} {how}"
            if event.previous_agent_id is not None:
                return f"unassigned from {event.previous_agent_id} {how}"
            return f"left unassigned {how}"
        case IntakeStarted():
            return f"intake form #{event.number} started"
        case IntakeQuestionAsked():
            again = f" again: {event.problem}" if event.problem else ""
            return f"bot asked for {_field(event.field)}{again}"
        case IntakeAnswered():
            return f"customer answered {_field(event.field)}"
        case IntakeWentBack():
            return (f"customer went back from {_field(event.from_field)} to "
                    f"{_field(event.to_field)}")
        case IntakeCompleted():
            return f"intake form completed: opened ticket {event.opened_ticket_id}"
        case IntakeAbandoned():
            if event.reason == "cancelled":
                return f"intake form cancelled by the customer at {_field(event.at_field)}"
            return (f"intake form abandoned: no answer in time, at "
                    f"{_field(event.at_field)}; nothing opened")
        case IntakeTopicOpened():
            return (f"intake topic opened in the team's group (chat {event.chat_id}, "
                    f"thread {event.thread_id})")
        case TicketRequested():
            what = ("manual ticket recorded" if event.origin == "manual"
                    else "outreach opened from Salesforce" if event.origin == "salesforce"
                    else "outreach opened")
            return f"{what} by {event.requested_by}"
        case TicketCustomerLinked():
            who = (f"@{event.customer.username}" if event.customer.username
                   else str(event.customer.telegram_user_id))
            where = f" in {event.from_ticket_id}" if event.from_ticket_id else " earlier"
            return f"linked to Telegram customer {who}: they shared the caller's phone{where}"
    return event.type  # pragma: no cover - every type is matched above


def _field(key: str) -> str:
    return key.replace("_", " ")


def _agent_name(event: AgentReplied | KnowledgeRequested | AgentCommandRefused
                | AgentFileShared) -> str:
    return str(event.agent.display_name or event.agent.salesforce_user_id
               or event.agent.telegram_user_id or "an agent")


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts) or "0s"


_REASONED = frozenset({TicketClosed, SlaStarted, SlaWarning, SlaBreached, SlaMet, SlaEscalated,
                       TicketRouted, TicketAssigned})
_WRITTEN = frozenset({CustomerMessageReceived, CustomerMessageEdited, AgentReplied})
# Event classes have no subclasses: ``type(event)`` is tested, cheaper than ``isinstance`` of
# a pydantic model (see ``projections.workloads.closes``).


def _reason(event: TicketEvent) -> str | None:
    return event.reason if type(event) in _REASONED else None  # type: ignore[union-attr]


def _body(event: TicketEvent) -> str | None:
    return event.text if type(event) in _WRITTEN else None  # type: ignore[union-attr]


COLUMNS = ("event_id", "ticket_id", "seq", "event_type", "actor_kind", "actor_id", "actor_name",
           "action", "reason", "before", "after", "agent_id", "queue", "body", "occurred_at",
           "recorded_at", "source_topic", "source_partition", "source_offset", "state")
"""The columns of an audit row (``id`` numbers the rows as they are inserted)."""

_BEFORE, _AFTER, _STATE = (COLUMNS.index(c) for c in ("before", "after", "state"))


def row_for(pos: Offset, event: TicketEvent, before: dict[str, Any]) -> dict[str, Any]:
    """The audit row of ``event`` given the ticket's audited state before it. Only the event
    and its position go in (no clock), so a rebuild writes the same rows as the live run."""
    return dict(zip(COLUMNS, _values(pos, event, before, evolve(before, event)), strict=True))


def _values(pos: Offset, event: TicketEvent, before: dict[str, Any],
            after: dict[str, Any]) -> list[Any]:
    """:func:`row_for` in :data:`COLUMNS` order (``after``: the state after the event)."""
    kind = type(event)
    fields = CHANGES.get(kind, ())
    if kind is TicketAssigned and event.salesforce_user_id is None:  # type: ignore[union-attr]
        fields = ("agent_id", "queue")
    actor = event.actor
    if kind is SlaTargetAdopted:  # the deadline it moved (the board replays it)
        return _adopted(pos, event, after)  # type: ignore[arg-type]
    return [
        event.event_id, event.ticket_id, event.seq, event.type, actor.kind, actor.id,
        actor.display_name, describe(event), _reason(event),
        ({f: before[f] for f in fields} if fields and kind is not TicketOpened else None),
        {f: after[f] for f in fields} if fields else None,
        after["agent_id"], after["queue"], _body(event), event.occurred_at, event.recorded_at,
        pos.topic, pos.partition, pos.offset, after,
    ]


def _adopted(pos: Offset, event: SlaTargetAdopted, after: dict[str, Any]) -> list[Any]:
    """An ``sla.target_adopted`` row: ``before`` telecase's deadline for the clock, ``after``
    Salesforce's target as the clock adopted it (``projections.sla_deadlines`` replays it)."""
    previous = event.previous_due_at
    actor = event.actor
    return [
        event.event_id, event.ticket_id, event.seq, event.type, actor.kind, actor.id,
        actor.display_name, describe(event), event.reason,
        {"sla_clock": event.clock, "due_at": previous.isoformat() if previous else None},
        {"sla_clock": event.clock, "target_at": event.target_at.isoformat(),
         "violated": event.violated},
        after["agent_id"], after["queue"], None, event.occurred_at, event.recorded_at,
        pos.topic, pos.partition, pos.offset, after,
    ]


def _last_states(conn: Connection, ticket_ids: list[str],
                 ) -> dict[str, tuple[int, dict[str, Any], str | None]]:
    """``ticket_id -> (seq, state, None)`` of each ticket's latest audit row (``None``: the
    state's JSON, encoded when a row first needs it).

    On PostgreSQL each ticket's row is found by its own backward scan of the ``(ticket_id,
    seq)`` index (a ``LATERAL`` subquery per id of the batch). The grouped join below, which
    SQLite runs, was planned there as two scans of the whole table (its statistics, on a
    table that grows by every event, rarely say otherwise): 10 ms a batch at 14,000 rows,
    growing with the table, where the index lookups take 0.3 ms (issue 19)."""
    q = _last_rows() if conn.dialect.name == "postgresql" else _last_rows_grouped(
        conn.dialect.name)
    return {ticket_id: (int(seq), {**EMPTY_STATE, **state}, None)
            for ticket_id, seq, state in conn.execute(q, bulk.ids_value(conn, ticket_ids))}


@cache
def _last_rows_grouped(dialect: str) -> Select[tuple[str, int, Any]]:
    """``(ticket_id, seq, state)`` of the latest row of each ticket :data:`bulk.IDS`: its
    highest ``seq``, joined (built once per dialect)."""
    latest = (select(audit_trail.c.ticket_id, func.max(audit_trail.c.seq).label("seq"))
              .where(bulk.among_ids(dialect, audit_trail.c.ticket_id))
              .group_by(audit_trail.c.ticket_id).subquery())
    return select(audit_trail.c.ticket_id, audit_trail.c.seq, audit_trail.c.state).join(
        latest, and_(audit_trail.c.ticket_id == latest.c.ticket_id,
                     audit_trail.c.seq == latest.c.seq))


@cache
def _last_rows() -> Select[tuple[str, int, Any]]:
    """PostgreSQL: :func:`_last_rows_grouped`'s rows, each by its own index scan."""
    ids = func.unnest(bulk.ids_array(Text())).table_valued("ticket_id").render_derived()
    last = (select(audit_trail.c.seq, audit_trail.c.state)
            .where(audit_trail.c.ticket_id == ids.c.ticket_id)
            .order_by(audit_trail.c.seq.desc()).limit(1).lateral())
    return select(ids.c.ticket_id, last.c.seq, last.c.state).select_from(ids.join(last, true()))


def fold(conn: Connection, batch: Sequence[tuple[Offset, TicketEvent | None]],
         now: datetime) -> int:
    """Insert the audit rows of ``batch`` (in the caller's transaction); returns how many."""
    ids = sorted({e.ticket_id for _, e in batch if e is not None})
    known = _last_states(conn, ids)
    return bulk.insert(conn, audit_trail, COLUMNS, _rows(batch, known),
                       bulk.OnConflict(("event_id",)),
                       new=True, size=len(batch))  # new: past every ticket's last row


def _rows(batch: Sequence[tuple[Offset, TicketEvent | None]],
          known: dict[str, tuple[int, dict[str, Any], str | None]]) -> Iterator[list[Any]]:
    """The rows of the events past their tickets' last rows, made one by one (they are sent
    as they are made), ``known`` following each ticket."""
    dumps = bulk.dumps
    for pos, event in batch:
        if event is None:
            continue
        seq, state, encoded = known.get(event.ticket_id, _UNSEEN)
        if event.seq <= seq:
            continue  # redelivered: its row is there
        after = evolve(state, event)
        row = _values(pos, event, state, after)
        if row[_AFTER] is None:  # JSON columns go in encoded (projections.bulk)
            row[_BEFORE] = row[_AFTER] = "null"
        else:
            row[_BEFORE], row[_AFTER] = dumps(row[_BEFORE]), dumps(row[_AFTER])
        if encoded is None or after != state:  # many events leave the state as it was
            encoded = dumps(after)
        row[_STATE] = encoded
        known[event.ticket_id] = (event.seq, after, encoded)
        yield row


_UNSEEN: tuple[int, dict[str, Any], str | None] = (0, EMPTY_STATE, None)
"""A ticket with no audit row yet."""

