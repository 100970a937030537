"""When an open ticket's SLA targets fall due: the worker's SLA clock, re-run over its audit rows.

A ``cases`` row says where a ticket's SLA stands (tier, state, breach instants) but not when its
targets fall due, and no event says it either: a deadline is in business time on the team's
calendar, and the resolution clock stops while the ticket waits on the customer, so it moves
with every message. The dashboard's board needs it, so :func:`deadlines` re-runs the same pure
clock the worker runs (``streams.sla.clock``: :func:`~streams.sla.clock.start`, then
:func:`~streams.sla.clock.observe` for each fact, in ``seq`` order) over the ticket's
``audit_trail`` rows (one per ticket event) under the policy in force, and reads when each
running stopwatch reaches its target. Nothing is fired and nothing is written.

Decisions, written down:

- **Starting.** As in ``streams.core.service_level``: the clocks run from the opening instant
  and start at the ticket's first event that is not the opening nor the SLA's or the desk's own
  (the run of such events just before ``sla.started``); the tier is the one the policy chooses
  for the subject and first message the worker saw. When the policy now chooses another tier
  than the log recorded (it changed since), the recorded tier's terms are used, worked by the
  tier's own team; a tier the policy no longer has (or that no rule chooses any more) gives
  no deadlines.
- **Facts** are read from the rows as ``streams.sla.replay.sla_facts`` reads events (a Case
  status change: its ``after`` state says the status and whether it closed the ticket).
- **Salesforce's targets**: an ``sla.target_adopted`` row (its ``after``: the clock, the
  milestone's target, whether it was violated) is adopted as the worker adopted it
  (:func:`~streams.sla.clock.adopt`).
- **No deadline** for a clock that is stopped: the first response was given, the resolution is
  paused (waiting on the customer, a pause status) or the ticket is closed. A clock's deadline
  that has passed is still given (the board shows it overdue until ``sla.breached`` lands).

:class:`DeadlineBook` remembers each ticket's answer by its last ``seq``, so a board polled
every few seconds re-runs only the clocks of tickets that had events since.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from projections.tables import audit_trail
from streams.sla import clock
from streams.sla.clock import (
    AgentReplied,
    Closed,
    CustomerWrote,
    Reopened,
    SalesforceTarget,
    StatusChanged,
)
from streams.sla.policy import SlaPolicy, TicketFacts


@dataclass(frozen=True)
class Deadlines:
    """When a ticket's targets fall due (``None``: that clock is stopped, or no SLA)."""

    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    resolution_paused: bool = False
    """The resolution clock is held (waiting on the customer, or a pause status)."""


NO_DEADLINES = Deadlines()

_NO_CLOCK = frozenset({"ticket.opened", "sla.started", "sla.warning", "sla.breached", "sla.met",
                       "sla.escalated", "sla.target_adopted", "ticket.routed",
                       "ticket.assigned"})
"""Event types that neither start nor move the clocks (``service_level._NO_CLOCK_EVENTS``)."""

ROW_COLUMNS = ("ticket_id", "seq", "event_type", "occurred_at", "after", "body", "state")
"""The audit columns :func:`deadlines` reads."""


def facts_of(row: Mapping[Any, Any]) -> list[clock.Fact] | None:
    """What the clock observes of an audit row's event (``None``: the opening, and the SLA's
    and the desk's own events; ``[]``: an event that starts the clocks and moves nothing)."""
    kind = row["event_type"]
    if kind in _NO_CLOCK:
        return None
    if kind == "customer.message_received":
        return [CustomerWrote()]
    if kind == "agent.replied":
        return [AgentReplied()]
    if kind == "case.status_changed":
        after = row["after"] or {}
        closed = after.get("status") == "closed"
        return [StatusChanged(str(after.get("salesforce_status") or "")),
                Closed() if closed else Reopened()]
    if kind in ("topic.closed", "ticket.closed"):
        return [Closed()]
    if kind == "topic.reopened":
        return [Reopened()]
    return []


def deadlines(rows: Sequence[Mapping[Any, Any]], policy: SlaPolicy, *, channel: str,
              chat_id: int) -> Deadlines:
    """A ticket's deadlines from its audit rows (all of them, in ``seq`` order)."""
    started = next((i for i, r in enumerate(rows) if r["event_type"] == "sla.started"), None)
    if started is None or rows[0]["event_type"] != "ticket.opened":
        return NO_DEADLINES
    tier = (rows[started]["after"] or {}).get("sla_tier")
    first = started  # the run of clock events of the command that started the clocks
    while first > 1 and facts_of(rows[first - 1]) is not None:
        first -= 1
    trigger = rows[first] if first < started else None
    message = ""  # the first message, which keyword rules read
    if trigger is not None and trigger["event_type"] == "customer.message_received":
        message = str(trigger["body"] or "")
    subject = str((rows[started - 1]["state"] or {}).get("subject") or "")
    facts = TicketFacts(ticket_id=str(rows[0]["ticket_id"]), channel=channel,  # type: ignore[arg-type]
                        chat_id=chat_id, subject=subject, first_message=message)
    state = clock.start(facts, policy, _utc(rows[0]["occurred_at"]))
    if state.terms.tier != tier:
        try:
            terms = policy.terms(str(tier))
        except KeyError:  # a tier the policy no longer has, or can no longer choose
            return NO_DEADLINES
        # Nothing is observed yet, so the stopwatches are the same for any terms; next_at is
        # only ``fire``'s shortcut, and observe recomputes it from scratch when it is unset.
        state = state._replace(terms=terms, next_at=None)
    for row in rows[first:]:
        if row["event_type"] == "sla.target_adopted":  # Salesforce's target (audit ``after``)
            state = _adopt(state, row)
        for fact in facts_of(row) or ():
            state = clock.observe(state, fact, _utc(row["occurred_at"]))
    terms = state.terms
    return Deadlines(state.first_response.when(terms.calendar, terms.first_response),
                     state.resolution.when(terms.calendar, terms.resolution),
                     state.paused and not state.closed)


@dataclass(frozen=True)
class OpenTicket:
    """What :class:`DeadlineBook` needs of a ``cases`` row."""

    ticket_id: str
    last_seq: int
    channel: str
    chat_id: int
    has_sla: bool


class DeadlineBook:
    """Deadlines of the board's tickets, each worked out again only when its ``seq`` moved.
    ``policy=None`` (no SLA policy): no deadlines at all. A ticket no board asked about in the
    last :attr:`FORGET_AFTER` lookups (closed, or nobody's to see any more) is forgotten; one
    viewer's board holding fewer tickets than another's does not evict the other's."""

    FORGET_AFTER = 100

    def __init__(self, policy: SlaPolicy | None) -> None:
        self.policy = policy
        self._known: dict[str, tuple[int, Deadlines]] = {}
        self._asked: dict[str, int] = {}
        """Ticket -> the number of the lookup that last asked about it."""
        self._lookups = 0
        self._lock = threading.Lock()

    def lookup(self, conn: Connection, tickets: Iterable[OpenTicket]) -> dict[str, Deadlines]:
        tickets = list(tickets)
        policy = self.policy
        if policy is None:
            return {}
        found: dict[str, Deadlines] = {}
        stale: dict[str, OpenTicket] = {}
        with self._lock:  # boards are read in worker threads, several at once
            for ticket in tickets:
                if not ticket.has_sla:
                    found[ticket.ticket_id] = NO_DEADLINES
                    continue
                hit = self._known.get(ticket.ticket_id)
                if hit is not None and hit[0] == ticket.last_seq:
                    found[ticket.ticket_id] = hit[1]
                else:
                    stale[ticket.ticket_id] = ticket
        worked: dict[str, tuple[int, Deadlines]] = {}
        for ticket_id, rows in _audit_rows(conn, stale).items():
            ticket = stale[ticket_id]
            answer = deadlines(rows, policy, channel=ticket.channel, chat_id=ticket.chat_id)
            found[ticket_id] = answer
            if rows[-1]["seq"] == ticket.last_seq:  # the audit projection has caught up
                worked[ticket_id] = (ticket.last_seq, answer)
        for ticket_id in stale.keys() - found.keys():
            found[ticket_id] = NO_DEADLINES  # no audit rows yet
        with self._lock:
            self._known.update(worked)
            self._lookups += 1
            self._asked.update((t.ticket_id, self._lookups) for t in tickets)
            if self._lookups % self.FORGET_AFTER == 0:
                horizon = self._lookups - self.FORGET_AFTER
                self._asked = {t: n for t, n in self._asked.items() if n > horizon}
                self._known = {t: v for t, v in self._known.items() if t in self._asked}
        return found


def _audit_rows(conn: Connection, tickets: Mapping[str, OpenTicket],
                ) -> dict[str, list[Mapping[Any, Any]]]:
    """Each ticket's audit rows up to its ``last_seq`` (what the ``cases`` row has folded)."""
    out: dict[str, list[Mapping[Any, Any]]] = {}
    ids = sorted(tickets)
    columns = [audit_trail.c[name] for name in ROW_COLUMNS]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        query = (select(*columns).where(audit_trail.c.ticket_id.in_(chunk))
                 .order_by(audit_trail.c.ticket_id, audit_trail.c.seq))
        for row in conn.execute(query).mappings():
            if row["seq"] <= tickets[row["ticket_id"]].last_seq:
                out.setdefault(row["ticket_id"], []).append(row)
    return out


def _adopt(state: clock.SlaState, row: Mapping[Any, Any]) -> clock.SlaState:
    after = row["after"] or {}
    target = SalesforceTarget(str(after.get("sla_clock")),
                              datetime.fromisoformat(str(after.get("target_at"))),
                              bool(after.get("violated")))
    return clock.adopt(state, target, _utc(row["occurred_at"]))


def _utc(instant: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return instant.replace(tzinfo=UTC) if instant.utcoffset() is None else instant
