"""The ``metrics`` projection: daily counters by queue and agent (``daily_metrics``).

Each counter lands on the UTC day of the event that makes it, under the queue and agent the
ticket had as of that event (``''`` for none):

- ``tickets_opened`` at ``ticket.opened`` (before routing, so under queue ``''``);
  ``tickets_routed`` at ``ticket.routed`` (the volume per queue);
- ``first_responses`` with their total and maximum seconds: a ticket with SLA clocks counts at
  ``sla.met`` of ``first_response``, with the business time the clock measured (``elapsed``);
  one without counts at its first ``agent.replied``, with wall-clock time since opening;
- ``resolutions`` with their total seconds, once per closing: with SLA clocks at ``sla.met`` of
  ``resolution`` (business time, the clock continues across reopenings); without, at the
  closing, with wall-clock time since opening;
- ``sla_breaches`` (``sla.breached``, either clock) and ``escalations`` (``sla.escalated``).

The projector keeps what attributing and timing needs per ticket in ``metrics_tickets``, with
the last ``seq`` it applied: a redelivered event counts nothing, whatever order the projectors
run in. Counters are added in SQL (never rewritten from what was read), and the ticket rows a
batch touches are locked first, as in ``projections.workloads``.

:func:`fold` writes rows only; the registry adds checkpoints (``projections.registry``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, case
from sqlalchemy.sql.dml import Insert

from projections import bulk
from projections.cases import Offset
from projections.tables import daily_metrics, metrics_tickets
from projections.workloads import closes, fold_per_ticket
from streams.schema.events import (
    AgentReplied,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    TicketAssigned,
    TicketEvent,
    TicketOpened,
    TicketRouted,
)

PROJECTOR = "metrics"

Key = tuple[date, str, str]
"""``(day, queue, agent_id)``."""


@dataclass
class Counters:
    tickets_opened: int = 0
    tickets_routed: int = 0
    first_responses: int = 0
    first_response_seconds_total: float = 0.0
    first_response_seconds_max: float = 0.0
    resolutions: int = 0
    resolution_seconds_total: float = 0.0
    sla_breaches: int = 0
    escalations: int = 0

    def first_response(self, seconds: float) -> None:
        self.first_responses += 1
        self.first_response_seconds_total += seconds
        self.first_response_seconds_max = max(self.first_response_seconds_max, seconds)

    def resolution(self, seconds: float) -> None:
        self.resolutions += 1
        self.resolution_seconds_total += seconds


_BLANK = {"opened_at": None, "queue": "", "agent_id": "", "is_open": True, "has_sla": False,
          "first_response_counted": False}


def fold(conn: Connection, batch: Sequence[tuple[Offset, TicketEvent | None]],
         now: datetime) -> int:
    """Fold ``batch`` into the daily counters (in the caller's transaction); returns how many
    events were new to it."""
    counters: dict[Key, Counters] = {}
    applied = fold_per_ticket(conn, metrics_tickets, _BLANK, batch,
                              lambda ticket, event: _apply(ticket, event, counters))
    _add(conn, counters)
    return applied


def _apply(ticket: dict[str, Any], event: TicketEvent, counters: dict[Key, Counters]) -> None:
    """Update the ticket's memory with ``event``, then count what it makes (event classes
    compared by ``type``, as in :func:`projections.workloads.closes`)."""
    kind = type(event)
    if kind is TicketOpened:
        ticket["opened_at"] = event.occurred_at
    elif kind is TicketRouted:
        ticket["queue"] = event.queue  # type: ignore[union-attr]
    elif kind is TicketAssigned:
        ticket["agent_id"] = event.agent_id or ""  # type: ignore[union-attr]
        ticket["queue"] = event.queue or ticket["queue"]  # type: ignore[union-attr]
    elif kind is SlaStarted:
        ticket["has_sla"] = True
    key = (event.occurred_at.astimezone(UTC).date(), ticket["queue"], ticket["agent_id"])
    c = counters.get(key)
    if c is None:
        c = counters[key] = Counters()
    if kind is TicketOpened:
        c.tickets_opened += 1
    elif kind is TicketRouted:
        c.tickets_routed += 1
    elif kind is SlaBreached:
        c.sla_breaches += 1
    elif kind is SlaEscalated:
        c.escalations += 1
    elif isinstance(event, SlaMet):  # (narrows the type; rare enough)
        if event.clock == "resolution":
            c.resolution(_seconds(event.elapsed))
        elif not ticket["first_response_counted"]:
            ticket["first_response_counted"] = True
            c.first_response(_seconds(event.elapsed))
    elif kind is AgentReplied:
        since_opening = _since_opening(ticket, event)
        if not (ticket["has_sla"] or ticket["first_response_counted"]) and (
                since_opening is not None):
            ticket["first_response_counted"] = True
            c.first_response(since_opening)
    else:
        closing = closes(event)
        if closing is not None and closing == ticket["is_open"]:
            ticket["is_open"] = not closing
            since_opening = _since_opening(ticket, event)
            if closing and not ticket["has_sla"] and since_opening is not None:
                c.resolution(since_opening)


def _since_opening(ticket: dict[str, Any], event: TicketEvent) -> float | None:
    """Wall-clock seconds from the ticket's opening to ``event`` (``None``: not seen open)."""
    if ticket["opened_at"] is None:
        return None
    return max(0.0, float((event.occurred_at - ticket["opened_at"]).total_seconds()))


def _seconds(value: timedelta) -> float:
    return max(0.0, value.total_seconds())


def _add(conn: Connection, counters: dict[Key, Counters]) -> None:
    """Add the counters to their rows (creating them), in key order."""
    rows = [{"day": day, "queue": queue, "agent_id": agent, **vars(c)}
            for (day, queue, agent), c in sorted(counters.items()) if c != Counters()]
    if rows:
        conn.execute(_adding(conn.dialect.name), rows)


@cache
def _adding(dialect_name: str) -> Insert:
    """:func:`_add`'s statement (built once per dialect)."""
    t = daily_metrics
    stmt = bulk.dialect_insert(dialect_name, t)
    ex = stmt.excluded
    update: dict[str, Any] = {f.name: getattr(t.c, f.name) + getattr(ex, f.name)
                              for f in fields(Counters)}
    mine, theirs = t.c.first_response_seconds_max, ex.first_response_seconds_max
    update["first_response_seconds_max"] = case((theirs > mine, theirs), else_=mine)
    return stmt.on_conflict_do_update(index_elements=["day", "queue", "agent_id"], set_=update)
