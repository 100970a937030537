"""Dashboard queries: the live SLA board, daily trends and agent workloads, as a viewer may
see them.

Pure SQLAlchemy over ``cases``, ``daily_metrics`` and ``agent_workloads`` (SQLite or
PostgreSQL), with the audit API's :class:`~projections.audit_queries.Viewer` and its rule for
tickets (``audit_queries``: an agent sees the tickets assigned to them, a team lead those of the
queues they lead or manage and their own, an admin all). The same rule for the other tables:

- **trends** (``daily_metrics``, by UTC day): an agent's rows are those under their own agent
  id, a team lead's those of their queues or their own, an admin's all of them. ``volume`` is
  tickets opened for an admin (every ticket, routed or not) and tickets routed for the others
  (a ticket is opened before it has a queue).
- **workloads**: an agent sees their own line, a team lead the agents of their queues (as the
  assignment policy lists them) and their own, an admin every agent of the policy and every
  agent the log assigned tickets to. Open tickets come from ``agent_workloads``; capacity from
  the policy; availability from the desk's live state when there is one, else the policy's.

The board lists open tickets: breached ones first (longest breached first), then by the
nearest deadline (``projections.sla_deadlines``), then those with no running deadline (paused,
no SLA), oldest first. A ticket the team opened and the customer has not written in yet
(outreach, a topic an agent or the bot opened) is ``outreach``: waiting for the customer (no
customer message, and no customer yet or an agent spoke first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from projections.audit_queries import Viewer, may_see_ticket  # the audit API's rule
from projections.sla_deadlines import NO_DEADLINES, DeadlineBook, Deadlines, OpenTicket
from projections.tables import agent_workloads, cases, daily_metrics
from streams.assignment.desk import DeskState
from streams.assignment.policy import AssignmentPolicy

BOARD_LIMIT = 500
"""At most this many tickets on a board (the most urgent); ``BoardAnswer.total`` says how
many are open."""

@dataclass(frozen=True)
class BoardTicket:
    ticket_id: str
    case_number: str | None
    subject: str
    channel: str
    tier: str | None
    sla_state: str | None
    queue: str | None
    agent_id: str | None
    opened_at: datetime
    first_response_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_breached_at: datetime | None
    escalation_level: int
    deadlines: Deadlines
    outreach: bool = False
    """Opened by the team; the customer has not written yet (:func:`waiting_for_customer`)."""

    @property
    def breached_at(self) -> datetime | None:
        """The first target missed (``None``: none yet)."""
        found = [t for t in (self.first_response_breached_at, self.resolution_breached_at)
                 if t is not None]
        return min(found) if found else None

    @property
    def breached(self) -> bool:
        return self.breached_at is not None or self.sla_state == "breached"

    @property
    def due_at(self) -> datetime | None:
        """The next deadline of a target not missed yet (``None``: no clock running)."""
        due = []
        if self.first_response_breached_at is None:
            due.append(self.deadlines.first_response_due_at)
        if self.resolution_breached_at is None:
            due.append(self.deadlines.resolution_due_at)
        found = [t for t in due if t is not None]
        return min(found) if found else None

    def sort_key(self) -> tuple[int, datetime, datetime, str]:
        if self.breached:
            return 0, self.breached_at or self.opened_at, self.opened_at, self.ticket_id
        due = self.due_at
        return (1, due, self.opened_at, self.ticket_id) if due is not None else (
            2, self.opened_at, self.opened_at, self.ticket_id)

    def as_json(self) -> dict[str, Any]:
        d = self.deadlines
        return {
            "ticket_id": self.ticket_id, "case_number": self.case_number,
            "subject": self.subject, "channel": self.channel, "tier": self.tier,
            "sla_state": self.sla_state, "queue": self.queue, "agent_id": self.agent_id,
            "opened_at": _iso(self.opened_at), "first_response_at": _iso(self.first_response_at),
            "first_response_due_at": _iso(d.first_response_due_at),
            "resolution_due_at": _iso(d.resolution_due_at),
            "resolution_paused": d.resolution_paused,
            "first_response_breached_at": _iso(self.first_response_breached_at),
            "resolution_breached_at": _iso(self.resolution_breached_at),
            "breached": self.breached, "breached_at": _iso(self.breached_at),
            "due_at": _iso(self.due_at), "escalation_level": self.escalation_level,
            "outreach": self.outreach,
        }


@dataclass(frozen=True)
class BoardAnswer:
    tickets: list[BoardTicket]
    total: int
    """Open tickets the viewer may see (``tickets`` holds the first :data:`BOARD_LIMIT`)."""


def board(conn: Connection, viewer: Viewer, book: DeadlineBook | None, *,
          limit: int = BOARD_LIMIT) -> BoardAnswer:
    """The open tickets ``viewer`` may see, most urgent first."""
    query = select(cases.c.ticket_id, cases.c.salesforce_case_number, cases.c.subject,
                   cases.c.channel, cases.c.chat_id, cases.c.sla_tier, cases.c.sla_state,
                   cases.c.queue, cases.c.agent_id, cases.c.opened_at,
                   cases.c.first_response_at, cases.c.first_response_breached_at,
                   cases.c.resolution_breached_at, cases.c.escalation_level,
                   cases.c.last_seq, cases.c.message_count, cases.c.agent_reply_count,
                   cases.c.customer_telegram_id).where(cases.c.status == "open")
    condition = may_see_ticket(viewer)
    if condition is not None:
        query = query.where(condition)
    rows = conn.execute(query).mappings().all()
    found = {} if book is None else book.lookup(conn, [
        OpenTicket(r["ticket_id"], r["last_seq"], r["channel"], r["chat_id"],
                   r["sla_tier"] is not None) for r in rows])
    tickets = sorted((_ticket(r, found.get(r["ticket_id"], NO_DEADLINES)) for r in rows),
                     key=BoardTicket.sort_key)
    return BoardAnswer(tickets[:limit], len(tickets))


def _ticket(row: Mapping[Any, Any], deadlines: Deadlines) -> BoardTicket:
    return BoardTicket(
        ticket_id=row["ticket_id"], case_number=row["salesforce_case_number"],
        subject=row["subject"], channel=row["channel"], tier=row["sla_tier"],
        sla_state=row["sla_state"], queue=row["queue"], agent_id=row["agent_id"],
        opened_at=_in_utc(row["opened_at"]),
        first_response_at=_utc(row["first_response_at"]),
        first_response_breached_at=_utc(row["first_response_breached_at"]),
        resolution_breached_at=_utc(row["resolution_breached_at"]),
        escalation_level=row["escalation_level"] or 0, deadlines=deadlines,
        outreach=waiting_for_customer(row))


def waiting_for_customer(row: Mapping[Any, Any]) -> bool:
    """An outreach ticket the customer has not answered: no customer message yet, and either
    no customer (a topic an agent, an anonymous admin or the bot opened) or the team spoke
    first (``telecase ticket open``). Manual tickets never wait for a Telegram customer."""
    if row["channel"] == "manual" or row["message_count"]:
        return False
    return row["customer_telegram_id"] is None or bool(row["agent_reply_count"])


# ----------------------------------------------------------------------------- trends


@dataclass(frozen=True)
class DayTrend:
    day: date
    volume: int
    first_responses: int
    first_response_seconds_total: float
    first_response_seconds_max: float
    resolutions: int
    resolution_seconds_total: float
    breaches: int
    escalations: int

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(), "volume": self.volume,
            "first_responses": self.first_responses,
            "first_response_avg_seconds": _average(self.first_response_seconds_total,
                                                   self.first_responses),
            "first_response_max_seconds": (round(self.first_response_seconds_max, 1)
                                           if self.first_responses else None),
            "resolutions": self.resolutions,
            "resolution_avg_seconds": _average(self.resolution_seconds_total,
                                               self.resolutions),
            "breaches": self.breaches, "escalations": self.escalations,
        }


def trends(conn: Connection, viewer: Viewer, first_day: date, last_day: date) -> list[DayTrend]:
    """One line per UTC day from ``first_day`` to ``last_day`` (days with nothing: zeros)."""
    m = daily_metrics.c
    volume = m.tickets_opened if viewer.role == "admin" else m.tickets_routed
    query = (select(m.day, func.sum(volume), func.sum(m.first_responses),
                    func.sum(m.first_response_seconds_total),
                    func.max(m.first_response_seconds_max), func.sum(m.resolutions),
                    func.sum(m.resolution_seconds_total), func.sum(m.sla_breaches),
                    func.sum(m.escalations))
             .where(m.day >= first_day, m.day <= last_day).group_by(m.day))
    condition = _may_see_metrics(viewer)
    if condition is not None:
        query = query.where(condition)
    by_day = {_day(row[0]): row[1:] for row in conn.execute(query)}
    out: list[DayTrend] = []
    day = first_day
    while day <= last_day:
        v, fr, fr_total, fr_max, res, res_total, breaches, escalations = by_day.get(
            day, (0,) * 8)
        out.append(DayTrend(day, int(v or 0), int(fr or 0), float(fr_total or 0),
                            float(fr_max or 0), int(res or 0), float(res_total or 0),
                            int(breaches or 0), int(escalations or 0)))
        day += timedelta(days=1)
    return out


def _may_see_metrics(viewer: Viewer) -> ColumnElement[bool] | None:
    if viewer.role == "admin":
        return None
    mine = daily_metrics.c.agent_id == viewer.agent_id
    if viewer.role == "team_lead" and viewer.queues:
        return or_(mine, daily_metrics.c.queue.in_(sorted(viewer.queues)))
    return mine


# ----------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class AgentLoad:
    agent_id: str
    name: str | None
    open_tickets: int
    capacity: int | None
    """``None``: not an agent of the policy (the log assigned them tickets once)."""
    availability: str | None
    queues: tuple[str, ...]
    assigned_total: int
    closed_total: int

    def as_json(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "name": self.name, "open_tickets": self.open_tickets,
                "capacity": self.capacity, "availability": self.availability,
                "queues": list(self.queues), "assigned_total": self.assigned_total,
                "closed_total": self.closed_total}


def workloads(conn: Connection, viewer: Viewer, policy: AssignmentPolicy | None,
              desk: DeskState | None) -> list[AgentLoad]:
    """Each agent ``viewer`` may see: the policy's agents in its order, then the others."""
    projected = {r["agent_id"]: r for r in conn.execute(select(
        agent_workloads.c.agent_id, agent_workloads.c.open_tickets,
        agent_workloads.c.assigned_total, agent_workloads.c.closed_total)).mappings()}
    configured = dict(policy.agents) if policy is not None else {}
    ids = [*configured, *sorted(a for a in projected if a not in configured)]
    out: list[AgentLoad] = []
    for agent_id in ids:
        config = configured.get(agent_id)
        queues = tuple(config.queues) if config is not None else ()
        if not _may_see_agent(viewer, agent_id, queues):
            continue
        row = projected.get(agent_id)
        seat = desk.agents.get(agent_id) if desk is not None else None
        availability = seat.availability if seat is not None else None
        if availability is None and config is not None:
            availability = config.availability
        out.append(AgentLoad(
            agent_id=agent_id, name=config.name if config is not None else None,
            open_tickets=int(row["open_tickets"]) if row is not None else 0,
            capacity=config.capacity if config is not None else None,
            availability=availability, queues=queues,
            assigned_total=int(row["assigned_total"]) if row is not None else 0,
            closed_total=int(row["closed_total"]) if row is not None else 0))
    return out


def _may_see_agent(viewer: Viewer, agent_id: str, queues: tuple[str, ...]) -> bool:
    if viewer.role == "admin" or agent_id == viewer.agent_id:
        return True
    return viewer.role == "team_lead" and bool(viewer.queues & set(queues))


# ----------------------------------------------------------------------------- helpers


def _average(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _day(value: Any) -> date:
    """SQLite may hand a ``Date`` back as text in an aggregate query."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _utc(instant: datetime | None) -> datetime | None:
    return None if instant is None else _in_utc(instant)


def _in_utc(instant: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return instant.replace(tzinfo=UTC) if instant.utcoffset() is None else instant.astimezone(UTC)
