"""The ``cases`` projection: one row per ticket, folded from ticket events.

:func:`apply_batch` is the whole projector: it loads the rows a batch touches, folds the events
into them in memory (skipping any event whose ``seq`` the row already has), and writes rows and
the new checkpoint in the caller's transaction. The runtimes (Kafka consumer, replay) only feed
it batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Select, select, tuple_

from projections import bulk
from projections.tables import cases, checkpoints
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
    TopicRecreated,
    TopicRenamed,
    TopicReopened,
)

PROJECTOR = "cases"
EVENTS_APPLIED = Counter("telecase_projection_events_total", "Ticket events seen by projector",
                         ["projector", "outcome"])


@dataclass(frozen=True)
class Offset:
    topic: str
    partition: int
    offset: int


def apply_event(row: dict[str, Any] | None, event: TicketEvent) -> dict[str, Any] | None:
    """Fold one event into a case row (``None``: no row yet). Returns the new row, or ``None``
    when the event is already applied or belongs to no known case."""
    if isinstance(event, TicketOpened):
        if row is not None:
            return None
        customer = event.customer
        return {
            "ticket_id": event.ticket_id, "channel": event.channel, "chat_id": event.chat_id,
            "thread_id": event.thread_id, "thread_key": event.thread_key, "status": "open",
            "subject": event.subject,
            "customer_telegram_id": customer.telegram_user_id if customer else None,
            "customer_username": customer.username if customer else None,
            "customer_name": _name(customer),
            "customer_message_id": event.customer_message_id,
            "opened_at": event.occurred_at, "last_message_at": None, "closed_at": None,
            "message_count": 0, "agent_reply_count": 0, "first_response_at": None,
            "last_agent_reply_at": None, "salesforce_case_id": None,
            "salesforce_case_number": None, "salesforce_contact_id": None,
            "salesforce_lead_id": None, "salesforce_status": None, "owner_id": None,
            "owner_name": None, "queue": None, "agent_id": None, "sla_tier": None,
            "sla_state": None, "sla_next_due_at": None, "first_response_breached_at": None,
            "resolution_breached_at": None, "escalation_level": 0, "last_seq": event.seq,
            "last_event_recorded_at": event.recorded_at,
        }
    if row is None or event.seq <= row["last_seq"]:
        return None
    row = dict(row, last_seq=event.seq, last_event_recorded_at=event.recorded_at,
               opened_at=min(row["opened_at"], event.occurred_at))
    if isinstance(event, CustomerMessageReceived | CustomerMessageEdited):
        if isinstance(event, CustomerMessageReceived):
            row["message_count"] += 1
        last = row["last_message_at"]
        row["last_message_at"] = event.occurred_at if last is None else max(last,
                                                                             event.occurred_at)
        _identify(row, event.sender, event.message_id)
    elif isinstance(event, TicketRequested):
        if event.customer_name and not row["customer_name"]:
            row["customer_name"] = event.customer_name  # a manual ticket's caller
    elif isinstance(event, TicketCustomerLinked):  # the caller is this Telegram customer
        row.update(customer_telegram_id=event.customer.telegram_user_id,
                   customer_username=event.customer.username)
    elif isinstance(event, AgentReplied) and event.via == "outreach":
        row["agent_reply_count"] += 1  # telecase spoke first: no response to anyone yet
        last = row["last_agent_reply_at"]
        row["last_agent_reply_at"] = event.occurred_at if last is None else max(
            last, event.occurred_at)
    elif isinstance(event, AgentReplied):
        row["agent_reply_count"] += 1
        first, last = row["first_response_at"], row["last_agent_reply_at"]
        row["first_response_at"] = event.occurred_at if first is None else min(
            first, event.occurred_at)
        row["last_agent_reply_at"] = event.occurred_at if last is None else max(
            last, event.occurred_at)
    elif isinstance(event, TopicRenamed):
        row["subject"] = event.name
        if event.message_id == row["thread_id"]:
            _identify(row, event.sender, event.message_id)
    elif isinstance(event, TopicClosed | TicketClosed):
        row["status"], row["closed_at"] = "closed", event.occurred_at
    elif isinstance(event, TopicReopened):
        row["status"], row["closed_at"] = "open", None
    elif isinstance(event, SalesforceCaseLinked):
        row.update(salesforce_case_id=event.case_id, salesforce_case_number=event.case_number,
                   salesforce_contact_id=event.contact_id, salesforce_lead_id=event.lead_id)
    elif isinstance(event, CaseStatusChanged):
        row["salesforce_status"] = event.status
        if event.is_closed:
            row["status"], row["closed_at"] = "closed", row["closed_at"] or event.occurred_at
        else:
            row["status"], row["closed_at"] = "open", None
    elif isinstance(event, CaseOwnerChanged):
        row["owner_id"], row["owner_name"] = event.owner_id, event.owner_name
    elif isinstance(event, TopicRecreated):
        row["thread_id"] = event.new_thread_id
    elif isinstance(event, TicketRouted):
        row["queue"] = event.queue
    elif isinstance(event, TicketAssigned):
        row["agent_id"], row["queue"] = event.agent_id, event.queue or row["queue"]
        if event.salesforce_user_id is not None:
            row["owner_id"] = event.salesforce_user_id
    elif isinstance(event, SlaStarted):
        row.update(sla_tier=event.tier, sla_state="running", sla_next_due_at=event.next_due_at)
    elif isinstance(event, SlaTargetAdopted):  # Salesforce's milestone moved the deadlines
        row["sla_next_due_at"] = event.next_due_at
    elif isinstance(event, SlaWarning):
        if row["sla_state"] in (None, "running", "met"):
            row["sla_state"] = "warned"
    elif isinstance(event, SlaBreached):
        row["sla_state"] = "breached"
        column = f"{event.clock}_breached_at"
        row[column] = row[column] or event.occurred_at
    elif isinstance(event, SlaMet):
        if row["sla_state"] != "breached" and (event.clock == "resolution" or event.on_time):
            row["sla_state"] = "met" if event.on_time else "breached"
    elif isinstance(event, SlaEscalated):
        row["escalation_level"] = max(row["escalation_level"], event.level)
    return row


def _identify(row: dict[str, Any], sender: Any, message_id: int) -> None:
    """Same rule as the core: the lowest message id's author is the customer."""
    if sender is None:
        return
    if row["customer_telegram_id"] is None or message_id < row["customer_message_id"]:
        row.update(customer_telegram_id=sender.telegram_user_id,
                   customer_username=sender.username, customer_name=_name(sender),
                   customer_message_id=message_id)


def _name(customer: Any) -> str | None:
    if customer is None:
        return None
    return " ".join(p for p in (customer.first_name, customer.last_name) if p) or None


def _upsert(conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str],
            newer: str) -> None:
    """Insert or update ``rows``, but never replace a row with an older one: the existing row
    wins when its ``newer`` column is at least as far along.

    Two projector instances can briefly work the same partition during a rebalance (one has
    not noticed it lost it). Each row they compute is the whole state as of its ``last_seq``,
    not a delta, so keeping the furthest one is correct whichever commits last; checkpoints
    likewise only move forward."""
    if not rows:
        return
    names = list(rows[0])
    newest_wins = bulk.OnConflict(tuple(keys), tuple(c for c in names if c not in keys), newer)
    bulk.insert(conn, table, names, [[row[c] for c in names] for row in rows], newest_wins)


def apply_batch(conn: Connection, events: Sequence[tuple[Offset, TicketEvent | None]],
                now: datetime, projector: str = PROJECTOR) -> int:
    """Apply a batch (``None`` marks a record that went to the dead-letter topic) and advance
    the checkpoint, in the caller's transaction. Returns how many events changed a row."""
    applied = fold(conn, events, now, projector)
    advance_checkpoints(conn, projector, events)
    return applied


def fold(conn: Connection, events: Sequence[tuple[Offset, TicketEvent | None]],
         now: datetime, projector: str = PROJECTOR) -> int:
    """:func:`apply_batch`'s rows, without the checkpoint."""
    ids = sorted({e.ticket_id for _, e in events if e is not None})
    rows: dict[str, dict[str, Any]] = {}
    for r in conn.execute(_rows_of(conn.dialect.name), bulk.ids_value(conn, ids)
                          ).mappings().all():
        rows[r["ticket_id"]] = _utc(dict(r))
    changed: set[str] = set()
    applied = seen = 0
    for _, event in events:
        if event is None:
            continue
        seen += 1
        new = apply_event(rows.get(event.ticket_id), event)
        if new is None:
            continue
        new["projected_at"] = now
        rows[event.ticket_id] = new
        changed.add(event.ticket_id)
        applied += 1
    EVENTS_APPLIED.labels(projector, "applied").inc(applied)
    EVENTS_APPLIED.labels(projector, "duplicate").inc(seen - applied)
    _upsert(conn, cases, [rows[t] for t in sorted(changed)], ["ticket_id"], "last_seq")
    return applied


@cache
def _rows_of(dialect: str) -> Select[Any]:
    """The rows of the tickets :data:`bulk.IDS` (built once per dialect)."""
    return select(cases).where(bulk.among_ids(dialect, cases.c.ticket_id))


def advance_checkpoints(conn: Connection, projector: str | Sequence[str],
                        batch: Sequence[tuple[Offset, object]]) -> None:
    """Move the checkpoints of ``projector`` (or of each of several, in one statement) past
    the batch; a checkpoint never moves back (a stale instance committing after a newer one
    during a rebalance changes nothing)."""
    names = [projector] if isinstance(projector, str) else sorted(projector)
    span = sorted(offset_span(batch).items())
    _upsert(conn, checkpoints, [
        {"projector": name, "topic": t, "partition": p, "next_offset": high + 1}
        for name in names for (t, p), (_, high) in span],
        ["projector", "topic", "partition"], "next_offset")


_last_span: tuple[object, int, dict[tuple[str, int], tuple[int, int]]] = (None, 0, {})


def offset_span(batch: Sequence[tuple[Offset, object]]) -> dict[tuple[str, int], tuple[int, int]]:
    """``(topic, partition) -> (lowest, highest)`` offset of a batch. Every projector asks it
    of the same batch (to skip what it has, and for its checkpoint), so the last batch's
    answer is kept (the batch held and compared by identity and length)."""
    global _last_span
    last = _last_span
    if last[0] is batch and last[1] == len(batch):
        return last[2]
    span: dict[tuple[str, int], tuple[int, int]] = {}
    for pos, _ in batch:
        key = (pos.topic, pos.partition)
        offset = pos.offset
        found = span.get(key)
        if found is None:
            span[key] = (offset, offset)
        elif offset < found[0] or offset > found[1]:
            span[key] = (min(found[0], offset), max(found[1], offset))
    _last_span = (batch, len(batch), span)
    return span


def load_checkpoints(conn: Connection, projector: str, topic: str) -> dict[int, int]:
    """``partition -> next offset`` for a projector."""
    q = select(checkpoints.c.partition, checkpoints.c.next_offset).where(
        tuple_(checkpoints.c.projector, checkpoints.c.topic) == (projector, topic))
    return {int(p): int(o) for p, o in conn.execute(q)}


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite hands back naive datetimes; the projection stores UTC, so say so."""
    for k, v in row.items():
        if isinstance(v, datetime) and v.tzinfo is None:
            row[k] = v.replace(tzinfo=UTC)
    return row
