"""Audit queries: a ticket's history and an agent's activity, as a viewer may see them.

Pure SQLAlchemy over ``audit_trail`` and ``cases`` (SQLite or PostgreSQL); the CLI and the HTTP
API are thin shells around :func:`ticket_history` and :func:`agent_activity`.

Who sees what (a :class:`Viewer`):

- ``admin``: every ticket.
- ``agent``: the tickets currently assigned to them (``cases.agent_id``), with all of those
  tickets' audit rows, whoever acted.
- ``team_lead``: the tickets whose current queue (``cases.queue``) is one they lead or manage in
  the assignment policy (:func:`queues_led_by`), plus, like an agent, the tickets currently
  assigned to them.

A ticket the viewer may not see is reported exactly like an unknown one (:class:`TicketNotFound`),
so nobody learns that it exists. A ticket with no ``cases`` row yet (its projector lags) is seen
by admins only.

Personal data is the message text (``body``), a customer's name as an actor (``actor_name`` of a
``customer`` row), and inside ``before``/``after`` (:data:`PERSONAL_KEYS`, at any depth) customer
names, usernames and phone numbers and a topic's ``subject`` (customers write it, and may put
anything in it). A viewer sees it when its ``pii`` setting allows (default: yes for every role; an
agent only ever on tickets assigned to them); otherwise those values are replaced by ``None`` and
the entry is flagged ``redacted``. The ``action`` sentence names no subject; rows written before
it stopped doing so (``ticket opened: "<subject>" (...)``, ``topic renamed to "<subject>"``) are
shown without it too (:func:`_action`), until a ``telecase replay --projection audit`` rewrites
them.

Errors::

    AuditQueryError
    ├── TicketNotFound   unknown, or not visible to this viewer
    └── AccessDenied     an agent asked for another agent's activity
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping, Select, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from projections.db import ProjectionError
from projections.tables import audit_trail, cases
from streams.assignment.policy import AssignmentPolicy

Role = Literal["agent", "team_lead", "admin"]
ROLES: tuple[Role, ...] = ("agent", "team_lead", "admin")

PERSONAL_KEYS = frozenset({
    "body", "text", "caption", "customer_name", "customer_username", "customer_phone",
    "username", "first_name", "last_name", "phone", "display_name", "subject",
})
"""Keys of ``before``/``after`` whose values are personal data, wherever they are nested."""


class AuditQueryError(ProjectionError):
    """Root of the errors of the audit queries."""


class TicketNotFound(AuditQueryError):
    """No such ticket, or not one this viewer may see (deliberately the same thing)."""


class AccessDenied(AuditQueryError):
    """The viewer may not ask this question at all."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking. ``agent_id`` is the policy's agent id (agents and team leads);
    ``queues`` are the queues a team lead leads or manages; ``pii`` overrides the role's
    default for personal data (``None``: the default, which is yes)."""

    role: Role
    agent_id: str | None = None
    queues: frozenset[str] = field(default_factory=frozenset)
    pii: bool | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if self.role != "admin" and not self.agent_id:
            raise ValueError(f"a {self.role} viewer needs an agent_id")

    @classmethod
    def admin(cls, *, pii: bool | None = None) -> Viewer:
        return cls("admin", pii=pii)

    @classmethod
    def team_lead(cls, agent_id: str, policy: AssignmentPolicy | None, *,
                  pii: bool | None = None) -> Viewer:
        return cls("team_lead", agent_id, queues_led_by(policy, agent_id), pii)

    @property
    def allows_personal_data(self) -> bool:
        return True if self.pii is None else self.pii


def queues_led_by(policy: AssignmentPolicy | None, agent_id: str) -> frozenset[str]:
    """The queues where ``agent_id`` is ``team_lead`` or ``manager`` (none without a policy)."""
    if policy is None:
        return frozenset()
    return frozenset(qid for qid, queue in policy.queues.items()
                     if agent_id in (queue.team_lead, queue.manager))


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as a viewer sees it (``redacted``: some personal data was withheld)."""

    ticket_id: str
    seq: int
    event_id: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    action: str
    reason: str | None
    before: Any
    after: Any
    agent_id: str | None
    queue: str | None
    body: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    redacted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id, "seq": self.seq, "event_id": self.event_id,
            "event_type": self.event_type, "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(), "actor_kind": self.actor_kind,
            "actor_id": self.actor_id, "actor_name": self.actor_name, "action": self.action,
            "reason": self.reason, "before": self.before, "after": self.after,
            "agent_id": self.agent_id, "queue": self.queue, "body": self.body,
            "source": {"topic": self.source_topic, "partition": self.source_partition,
                       "offset": self.source_offset},
            "redacted": self.redacted,
        }


def ticket_history(conn: Connection, ticket_id: str, viewer: Viewer) -> list[AuditEntry]:
    """Every audit row of a ticket in ``(occurred_at, seq)`` order. Raises
    :class:`TicketNotFound` when the ticket is unknown or not visible to ``viewer``; a visible
    ticket whose audit rows are not projected yet gives an empty list."""
    query = _visible(_select(viewer), viewer).where(audit_trail.c.ticket_id == ticket_id)
    rows = conn.execute(query.order_by(*_ORDER)).mappings().all()
    if not rows and not _ticket_visible(conn, ticket_id, viewer):
        raise TicketNotFound(ticket_id)
    return [_entry(row, viewer) for row in rows]


def agent_activity(conn: Connection, agent_id: str, since: datetime, until: datetime | None,
                   viewer: Viewer, *, limit: int | None = None) -> list[AuditEntry]:
    """The audit rows of an agent's work in ``[since, until)``: rows of events that happened
    while a ticket was assigned to them (``audit_trail.agent_id``) or that they did themselves
    (an ``agent`` actor with that id), in ``(occurred_at, seq)`` order, limited to the tickets
    ``viewer`` may see. At most ``limit`` rows (the earliest). An agent may ask only about
    themselves (:class:`AccessDenied`)."""
    if viewer.role == "agent" and viewer.agent_id != agent_id:
        raise AccessDenied("an agent may see only their own activity")
    mine = or_(audit_trail.c.agent_id == agent_id,
               and_(audit_trail.c.actor_kind == "agent", audit_trail.c.actor_id == agent_id))
    query = _visible(_select(viewer), viewer).where(mine, audit_trail.c.occurred_at >= _utc(since))
    if until is not None:
        query = query.where(audit_trail.c.occurred_at < _utc(until))
    query = query.order_by(*_ORDER)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row, viewer) for row in conn.execute(query).mappings()]


_COLUMNS = tuple(audit_trail.c[name] for name in (
    "id", "event_id", "ticket_id", "seq", "event_type", "actor_kind", "actor_id", "actor_name",
    "action", "reason", "before", "after", "agent_id", "queue", "body", "occurred_at",
    "recorded_at", "source_topic", "source_partition", "source_offset"))
"""What an entry shows (not the projector's own bookkeeping columns)."""

_ORDER = (audit_trail.c.occurred_at, audit_trail.c.seq, audit_trail.c.ticket_id,
          audit_trail.c.id)


def _select(viewer: Viewer) -> Select[Any]:
    if viewer.role == "admin":
        return select(*_COLUMNS)
    return (select(*_COLUMNS, cases.c.agent_id.label("current_agent_id"))
            .join(cases, cases.c.ticket_id == audit_trail.c.ticket_id))


def _visible(query: Select[Any], viewer: Viewer) -> Select[Any]:
    condition = may_see_ticket(viewer)
    return query if condition is None else query.where(condition)


def may_see_ticket(viewer: Viewer) -> ColumnElement[bool] | None:
    """Over ``cases``: the tickets the viewer may see (``None``: all of them)."""
    if viewer.role == "admin":
        return None
    conditions: list[ColumnElement[bool]] = [cases.c.agent_id == viewer.agent_id]
    if viewer.role == "team_lead" and viewer.queues:
        conditions.append(cases.c.queue.in_(sorted(viewer.queues)))
    return or_(*conditions)


def _ticket_visible(conn: Connection, ticket_id: str, viewer: Viewer) -> bool:
    if viewer.role == "admin":
        for table in (cases, audit_trail):
            if conn.execute(select(table.c.ticket_id).where(table.c.ticket_id == ticket_id)
                            .limit(1)).first() is not None:
                return True
        return False
    condition = may_see_ticket(viewer)
    assert condition is not None
    return conn.execute(select(cases.c.ticket_id)
                        .where(cases.c.ticket_id == ticket_id, condition)).first() is not None


def _entry(row: RowMapping, viewer: Viewer) -> AuditEntry:
    personal = viewer.allows_personal_data
    if viewer.role == "agent":
        personal = personal and row["current_agent_id"] == viewer.agent_id
    body, actor_name, action = row["body"], row["actor_name"], row["action"]
    before, after = row["before"], row["after"]
    redacted = False
    if not personal:
        before, hidden_before = _without_personal(before)
        after, hidden_after = _without_personal(after)
        action, hidden_subject = _action(row["event_type"], action)
        customer_name = row["actor_kind"] == "customer" and actor_name is not None
        redacted = (body is not None or customer_name or hidden_before or hidden_after
                    or hidden_subject)
        body = None
        actor_name = None if customer_name else actor_name
    return AuditEntry(
        ticket_id=row["ticket_id"], seq=row["seq"], event_id=row["event_id"],
        event_type=row["event_type"], occurred_at=_utc(row["occurred_at"]),
        recorded_at=_utc(row["recorded_at"]), actor_kind=row["actor_kind"],
        actor_id=row["actor_id"], actor_name=actor_name, action=action,
        reason=row["reason"], before=before, after=after, agent_id=row["agent_id"],
        queue=row["queue"], body=body, source_topic=row["source_topic"],
        source_partition=row["source_partition"], source_offset=row["source_offset"],
        redacted=redacted)


_SUBJECT_IN_ACTION = {
    "ticket.opened": (re.compile(r'ticket opened: ".*"( \([a-z ]+\))?', re.DOTALL),
                      r"ticket opened\1"),
    "topic.renamed": (re.compile(r'topic renamed to ".*"', re.DOTALL), "topic renamed"),
}
"""How the projector wrote a subject into ``action`` before it stopped (event type -> the old
sentence, and the sentence it writes now)."""


def _action(event_type: str, action: str) -> tuple[str, bool]:
    """``action`` without a subject an older projector quoted in it, and whether it had one."""
    rule = _SUBJECT_IN_ACTION.get(event_type)
    found = rule[0].fullmatch(action) if rule else None
    if rule is None or found is None:
        return action, False
    return found.expand(rule[1]), True


def _without_personal(value: Any) -> tuple[Any, bool]:
    """``value`` with every :data:`PERSONAL_KEYS` value set to ``None``, and whether any
    non-null one was."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        hidden = False
        for key, item in value.items():
            if key in PERSONAL_KEYS:
                out[key] = None
                hidden = hidden or item is not None
            else:
                out[key], inner = _without_personal(item)
                hidden = hidden or inner
        return out, hidden
    if isinstance(value, list):
        items = [_without_personal(item) for item in value]
        return [item for item, _ in items], any(inner for _, inner in items)
    return value, False


def _utc(instant: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); everything leaves here in UTC."""
    if instant.utcoffset() is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_instant(text: str, now: datetime) -> datetime:
    """An ISO 8601 instant (no zone means UTC), or a time ago: ``90s``, ``30m``, ``12h``,
    ``2d``, ``1w`` (before ``now``). Raises ``ValueError`` with a readable message."""
    spoken = text.strip()
    relative = _RELATIVE.fullmatch(spoken)
    if relative:
        amount, unit = relative.groups()
        return _utc(now) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        instant = datetime.fromisoformat(spoken)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 instant nor a time ago like "
                         "2d or 12h") from None
    return _utc(instant)

