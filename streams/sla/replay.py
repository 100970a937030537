"""The what-if: ticket events replayed through the SLA clock and the assignment desk (pure).

Two parts:

- **The mapping** from ticket events to what the SLA clock and the desk are told, in functions
  of their own so the live worker can use the same ones: :func:`sla_ticket_facts` and
  :func:`route_ticket` for an opening, :func:`sla_facts` and :func:`desk_commands` for every
  later event, :func:`escalation_commands` for what an escalation asks of the desk.
- **The replay**, :func:`simulate`: every ticket's clock with a driven clock (each deadline fires
  in time order, interleaved with the events, then everything due by ``until``), the desk
  deciding every opening, closing and escalation, and a :class:`SimulationReport` counting
  breaches, warnings, escalations and assignments, with each ticket's outcome.
  :func:`compare` lines up two reports (the current policy and a new one) ticket by ticket.

Decisions, written down:

- **The first message.** A ticket's first customer message is a separate event after
  ``TicketOpened`` (in the same update for a private chat or the General topic; a later update
  for a forum topic, whose opening is the topic's creation). Tier and routing keyword rules
  look at the first message, so a ticket is *started* at its next event: when that is a
  ``CustomerMessageReceived`` its text is the first message, otherwise the first message is
  empty (a ticket with no later event starts at the end of the replay). The clock always starts
  at the ``TicketOpened`` instant (or its arrival, when it reached telecase late:
  :func:`clock_start`), and signals are stamped with the instant they became true,
  so the deferral changes no count; only the desk learns of the ticket at its next event.
- **Time.** Each ticket's events are taken in ``seq`` order (duplicates, same ``event_id``,
  once) at their ``occurred_at``, raised to the latest instant earlier events of the same
  ticket had (the clock never goes back); tickets are interleaved by that instant, ties by
  ticket id and ``seq``. A deadline at the very instant of an event fires after it, so a reply
  at the deadline is on time. Events after ``until`` are left out.
- **Assigned differently.** The desk runs the new policy *without* the owner changes made in
  Salesforce: those are what actually happened, the thing it is compared with. A ticket's
  simulated owner is the desk's last agent for it (the policy's choice, moved by escalations
  that ``reassign``), as a Salesforce User id; its actual owner is the last
  ``CaseOwnerChanged``. Tickets with no actual owner are counted, not compared. The desk has no
  reopening: a reopened ticket keeps the owner it had when it closed.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streams.assignment import commands as desk_cmd
from streams.assignment.decisions import (
    ReassignmentBlocked,
    TicketAssigned,
    TicketOwnedExternally,
    TicketReturned,
    TicketRouted,
    TicketUnassigned,
)
from streams.assignment.desk import DeskState, decide, fold, initial_state
from streams.assignment.policy import AssignmentPolicy, salesforce_key
from streams.assignment.policy import TicketFacts as RoutingFacts
from streams.schema import events as ev
from streams.sla.clock import (
    AgentReplied,
    Closed,
    CustomerWrote,
    Fact,
    Reopened,
    SlaState,
    StatusChanged,
    due,
    fire,
    observe,
    start,
)
from streams.sla.policy import ReassignCase, SlaPolicy, TicketFacts
from streams.sla.signals import (
    Escalation,
    FirstResponseBreached,
    FirstResponseMet,
    FirstResponseWarning,
    ResolutionBreached,
    ResolutionMet,
    ResolutionWarning,
    SlaSignal,
)

__all__ = ["ARRIVAL_SKEW", "AssignmentSummary", "Comparison", "SimulationReport",
           "TicketOutcome", "clock_start", "compare", "desk_commands", "escalation_commands",
           "route_ticket", "simulate", "sla_facts", "sla_ticket_facts"]


# ----------------------------------------------------------------------------- the mapping


ARRIVAL_SKEW = timedelta(seconds=30)
"""How much later than its date a message may reach telecase and still start the clocks at its
date (:func:`clock_start`)."""


def clock_start(date: datetime, received_at: datetime | None) -> datetime:
    """When a ticket's clocks start, given the date of what started them and when telecase
    received it: the date, unless it arrived more than :data:`ARRIVAL_SKEW` later (a late
    redelivery, an outage of the webhook), then its arrival: a helpdesk measures from when
    the request reached it (``streams.core.service_level``)."""
    if received_at is not None and received_at - date > ARRIVAL_SKEW:
        return received_at
    return date


def sla_ticket_facts(opened: ev.TicketOpened, first_message: str = "") -> TicketFacts:
    """What SLA tier selection sees of a new ticket: deal size, region and product come from
    the bot's intake form (``TicketOpened.intake``; the segment is not in the log yet)."""
    intake = opened.intake
    return TicketFacts(ticket_id=opened.ticket_id, channel=opened.channel,
                       chat_id=opened.chat_id, subject=opened.subject,
                       first_message=first_message,
                       deal_size=float(intake.deal_size) if intake is not None else None,
                       region=intake.region if intake is not None else None,
                       product=intake.product if intake is not None else None)


def route_ticket(opened: ev.TicketOpened, first_message: str, deadline: datetime | None,
                 at: datetime) -> desk_cmd.RouteTicket:
    """The desk's command for a new ticket; ``deadline`` is its nearest SLA deadline."""
    language = opened.customer.language_code if opened.customer is not None else None
    intake = opened.intake  # the bot intake form's answers, when it opened the ticket
    facts = RoutingFacts(channel=opened.channel, subject=opened.subject,
                         first_message=first_message, language=language,
                         chat_id=opened.chat_id,
                         region=intake.region if intake is not None else None,
                         product=intake.product if intake is not None else None,
                         deal_size=intake.deal_size if intake is not None else None)
    return desk_cmd.RouteTicket(opened.ticket_id, facts, deadline, at)


def sla_facts(event: ev.TicketEvent) -> list[Fact]:
    """What the SLA clock observes of an event after the opening (empty: nothing)."""
    match event:
        case ev.CustomerMessageReceived():
            return [CustomerWrote()]
        case ev.AgentReplied():
            return [AgentReplied()]
        case ev.CaseStatusChanged(status=status, is_closed=is_closed):
            # A status that is not closed reopens a closed ticket (as the ticket core does).
            return [StatusChanged(status), Closed() if is_closed else Reopened()]
        case ev.TopicClosed() | ev.TicketClosed():
            return [Closed()]
        case ev.TopicReopened():
            return [Reopened()]
    return []


def desk_commands(event: ev.TicketEvent, at: datetime) -> list[desk_cmd.Command]:
    """What the desk is told of an event after the opening (see :func:`route_ticket`)."""
    match event:
        case ev.TopicClosed() | ev.TicketClosed() | ev.CaseStatusChanged(is_closed=True):
            return [desk_cmd.TicketClosed(event.ticket_id, at)]
        case ev.TopicReopened() | ev.CaseStatusChanged(is_closed=False):
            return [desk_cmd.TicketReopened(event.ticket_id, at)]
        case ev.CaseOwnerChanged(owner_id=owner_id):
            return [desk_cmd.OwnerChangedInSalesforce(event.ticket_id, owner_id, at)]
    return []


def escalation_commands(signal: Escalation,
                        policy: AssignmentPolicy) -> list[desk_cmd.Command]:
    """The desk's part of an escalation: each ``reassign`` action. ``next_available_agent``
    lets the queue's strategy pick another agent; an agent's id or Salesforce User id names
    them; any other id (a Salesforce queue, a user who is no agent) becomes the owner."""
    out: list[desk_cmd.Command] = []
    for action in signal.actions:
        if not isinstance(action, ReassignCase):
            continue
        reason = f"SLA escalation level {signal.level}"
        if action.to == "next_available_agent":
            out.append(desk_cmd.Reassign(signal.ticket_id, None, reason, signal.at))
        elif action.to in policy.agents:
            out.append(desk_cmd.Reassign(signal.ticket_id, action.to, reason, signal.at))
        else:
            agent = policy.agent_for_salesforce_user(action.to)
            if agent is not None:
                out.append(desk_cmd.Reassign(signal.ticket_id, agent, reason, signal.at))
            else:
                out.append(desk_cmd.OwnerChangedInSalesforce(signal.ticket_id, action.to,
                                                             signal.at))
    return out


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class TicketOutcome:
    """One ticket under a policy."""

    ticket_id: str
    tier: str
    team: str
    tier_reason: str
    opened_at: datetime
    closed: bool
    first_response_at: datetime | None
    first_response_warned: bool
    first_response_breached: bool
    resolution_warned: bool
    resolution_breached: bool
    escalations: tuple[int, ...]
    signals: tuple[tuple[str, datetime], ...]
    """Every signal's key and instant, in firing order."""
    queue: str | None = None
    agent: str | None = None
    """The desk's last agent for the ticket (``None``: waiting, owned elsewhere, or no desk)."""
    simulated_owner: str | None = None
    """``agent``'s Salesforce User id, or the id an escalation gave the Case to."""
    actual_owner: str | None = None
    """The last Salesforce owner in the log."""
    assigned_differently: bool | None = None
    """``None``: not compared (no actual owner, or no assignment policy)."""


@dataclass(frozen=True)
class AssignmentSummary:
    routed: Mapping[str, int]
    """Tickets per queue."""
    owners: Mapping[str, int]
    """Tickets per agent (their simulated final owner)."""
    waiting: int
    """Open tickets still waiting for capacity at the end."""
    owned_elsewhere: int
    reassigned_by_escalation: int
    reassignments_blocked: int
    compared: int
    assigned_differently: int
    no_actual_owner: int
    actual_owner_not_an_agent: int


@dataclass(frozen=True)
class SimulationReport:
    until: datetime
    events: int
    """Events replayed."""
    skipped_events: int
    """Events of tickets whose opening is not in the input (left out)."""
    after_until: int
    tickets: int
    first_response_warnings: int
    first_response_breaches: int
    first_responses_on_time: int
    first_responses_late: int
    resolution_warnings: int
    resolution_breaches: int
    resolved: int
    escalations: Mapping[int, int]
    """Tickets per escalation level (each level fires at most once per ticket)."""
    tiers: Mapping[str, int]
    assignment: AssignmentSummary | None
    details: tuple[TicketOutcome, ...] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The counts as plain data (JSON-ready), without per-ticket details."""
        out: dict[str, Any] = {
            "until": self.until.isoformat(), "events": self.events,
            "skipped_events": self.skipped_events, "after_until": self.after_until,
            "tickets": self.tickets,
            "first_response": {"warned": self.first_response_warnings,
                               "breached": self.first_response_breaches,
                               "met_on_time": self.first_responses_on_time,
                               "met_late": self.first_responses_late},
            "resolution": {"warned": self.resolution_warnings,
                           "breached": self.resolution_breaches, "resolved": self.resolved},
            "escalations": {str(level): n for level, n in sorted(self.escalations.items())},
            "tiers": dict(sorted(self.tiers.items())),
            "assignment": None,
        }
        a = self.assignment
        if a is not None:
            out["assignment"] = {
                "routed": dict(sorted(a.routed.items())), "owners": dict(sorted(a.owners.items())),
                "waiting": a.waiting, "owned_elsewhere": a.owned_elsewhere,
                "reassigned_by_escalation": a.reassigned_by_escalation,
                "reassignments_blocked": a.reassignments_blocked, "compared": a.compared,
                "assigned_differently": a.assigned_differently,
                "no_actual_owner": a.no_actual_owner,
                "actual_owner_not_an_agent": a.actual_owner_not_an_agent}
        return out


# ----------------------------------------------------------------------------- the replay


def _timeline(events: Iterable[ev.TicketEvent],
              until: datetime) -> tuple[list[tuple[datetime, ev.TicketEvent]], int]:
    """Events in replay order with the instant each is replayed at; and how many came after
    ``until``."""
    by_ticket: dict[str, dict[int, ev.TicketEvent]] = {}
    for event in events:
        by_ticket.setdefault(event.ticket_id, {}).setdefault(event.seq, event)
    timeline: list[tuple[datetime, str, int, ev.TicketEvent]] = []
    after = 0
    for ticket_id, history in by_ticket.items():
        latest: datetime | None = None
        for seq in sorted(history):
            event = history[seq]
            latest = event.occurred_at if latest is None else max(latest, event.occurred_at)
            if latest > until:
                after += 1
            else:
                timeline.append((latest, ticket_id, seq, event))
    timeline.sort(key=lambda item: item[:3])
    return [(at, event) for at, _, _, event in timeline], after


class _Replay:
    """One run: the clocks, the desk and what they said."""

    def __init__(self, sla_policy: SlaPolicy, desk_policy: AssignmentPolicy | None) -> None:
        self.sla_policy, self.desk_policy = sla_policy, desk_policy
        self.clocks: dict[str, SlaState] = {}
        self.pending: dict[str, ev.TicketOpened] = {}
        self.heap: list[tuple[datetime, str]] = []
        self.signals: dict[str, list[SlaSignal]] = {}
        self.desk: DeskState = initial_state()
        self.queue: dict[str, str] = {}
        self.owner: dict[str, str | None] = {}
        self.external: dict[str, str] = {}
        self.reassigned: set[str] = set()
        self.blocked = 0
        self.actual: dict[str, str] = {}
        self.events = self.skipped = 0

    def schedule(self, ticket_id: str) -> None:
        when = due(self.clocks[ticket_id])
        if when is not None:
            heapq.heappush(self.heap, (when, ticket_id))

    def fire_before(self, limit: datetime, inclusive: bool = False) -> None:
        """Fire every deadline before ``limit`` (or at it, when ``inclusive``), in time order."""
        while self.heap and (self.heap[0][0] < limit or (inclusive and self.heap[0][0] == limit)):
            at, ticket_id = heapq.heappop(self.heap)
            if due(self.clocks[ticket_id]) != at:
                continue  # a stale entry: the ticket's deadlines moved
            self.clocks[ticket_id], fired = fire(self.clocks[ticket_id], at)
            self.signals[ticket_id] += fired
            for signal in fired:
                if isinstance(signal, Escalation) and self.desk_policy is not None:
                    for command in escalation_commands(signal, self.desk_policy):
                        self.tell_desk(command)
            self.schedule(ticket_id)

    def begin(self, opened: ev.TicketOpened, first_message: str, at: datetime) -> None:
        state = start(sla_ticket_facts(opened, first_message), self.sla_policy,
                      clock_start(opened.occurred_at, opened.recorded_at))
        self.clocks[opened.ticket_id] = state
        self.signals[opened.ticket_id] = []
        self.schedule(opened.ticket_id)
        if self.desk_policy is not None:
            terms = state.terms
            deadline = terms.calendar.add(state.started_at, terms.first_response)
            self.tell_desk(route_ticket(opened, first_message, deadline, at))
        self.fire_before(at)  # a late start: what came due before now fires first

    def tell_desk(self, command: desk_cmd.Command) -> None:
        assert self.desk_policy is not None
        decisions = decide(self.desk, command, self.desk_policy)
        self.desk = fold(self.desk, decisions)
        for d in decisions:
            match d:
                case TicketRouted():
                    self.queue[d.ticket_id] = d.queue
                case TicketAssigned():
                    self.owner[d.ticket_id] = d.agent_id
                    self.external.pop(d.ticket_id, None)
                    if d.source == "next_agent":
                        self.reassigned.add(d.ticket_id)
                case TicketUnassigned():
                    self.owner[d.ticket_id] = None
                case TicketOwnedExternally():
                    self.owner[d.ticket_id] = None
                    self.external[d.ticket_id] = d.salesforce_user_id
                case TicketReturned():
                    self.owner[d.ticket_id] = d.agent_id
                    if d.external_owner is not None:
                        self.external[d.ticket_id] = d.external_owner
                case ReassignmentBlocked():
                    self.blocked += 1

    def replay(self, at: datetime, event: ev.TicketEvent) -> None:
        self.fire_before(at)
        tid = event.ticket_id
        if isinstance(event, ev.CaseOwnerChanged):
            self.actual[tid] = event.owner_id
        if isinstance(event, ev.TicketOpened):
            if tid not in self.clocks and tid not in self.pending:
                self.pending[tid] = event
                self.events += 1
            return
        opened = self.pending.pop(tid, None)
        if opened is not None:
            first = event.text if isinstance(event, ev.CustomerMessageReceived) else ""
            self.begin(opened, first, at)
        state = self.clocks.get(tid)
        if state is None:
            self.skipped += 1
            return
        self.events += 1
        for fact in sla_facts(event):
            state = observe(state, fact, at)
        self.clocks[tid] = state
        self.schedule(tid)
        if self.desk_policy is not None:
            for command in desk_commands(event, at):
                if not isinstance(command, desk_cmd.OwnerChangedInSalesforce):
                    self.tell_desk(command)  # actual owners are compared with, not followed

    def finish(self, until: datetime) -> None:
        for opened in sorted(self.pending.values(), key=lambda o: (o.occurred_at, o.ticket_id)):
            self.begin(opened, "", max(opened.occurred_at, until))
        self.pending.clear()
        self.fire_before(until, inclusive=True)


def simulate(events: Iterable[ev.TicketEvent], sla_policy: SlaPolicy,
             assignment_policy: AssignmentPolicy | None, until: datetime) -> SimulationReport:
    """Replay ``events`` (any order; duplicates are dropped) under the policies, as of
    ``until`` (timezone-aware): what would have fired, and who would have had each ticket."""
    if until.utcoffset() is None:
        raise ValueError(f"until must be timezone-aware, got {until.isoformat()}")
    timeline, after = _timeline(events, until)
    run = _Replay(sla_policy, assignment_policy)
    for at, event in timeline:
        run.replay(at, event)
    run.finish(until)
    return _report(run, until, after)


def _report(run: _Replay, until: datetime, after: int) -> SimulationReport:
    details = tuple(_outcome(run, tid) for tid in sorted(run.clocks))
    escalations: Counter[int] = Counter(level for t in details for level in t.escalations)
    met = [s for signals in run.signals.values() for s in signals
           if isinstance(s, FirstResponseMet)]
    assignment = None
    if run.desk_policy is not None:
        compared = [t for t in details if t.assigned_differently is not None]
        agents = run.desk_policy
        assignment = AssignmentSummary(
            routed=dict(Counter(t.queue for t in details if t.queue is not None)),
            owners=dict(Counter(t.agent for t in details if t.agent is not None)),
            waiting=len(run.desk.waiting()),
            owned_elsewhere=sum(t.ticket_id in run.external for t in details),
            reassigned_by_escalation=len(run.reassigned),
            reassignments_blocked=run.blocked,
            compared=len(compared),
            assigned_differently=sum(bool(t.assigned_differently) for t in compared),
            no_actual_owner=sum(t.actual_owner is None for t in details),
            actual_owner_not_an_agent=sum(
                t.actual_owner is not None
                and agents.agent_for_salesforce_user(t.actual_owner) is None for t in details))
    return SimulationReport(
        until=until, events=run.events, skipped_events=run.skipped, after_until=after,
        tickets=len(details),
        first_response_warnings=sum(t.first_response_warned for t in details),
        first_response_breaches=sum(t.first_response_breached for t in details),
        first_responses_on_time=sum(s.on_time for s in met),
        first_responses_late=sum(not s.on_time for s in met),
        resolution_warnings=sum(t.resolution_warned for t in details),
        resolution_breaches=sum(t.resolution_breached for t in details),
        resolved=len({s.ticket_id for signals in run.signals.values() for s in signals
                      if isinstance(s, ResolutionMet)}),
        escalations=dict(escalations), tiers=dict(Counter(t.tier for t in details)),
        assignment=assignment, details=details)


def _outcome(run: _Replay, ticket_id: str) -> TicketOutcome:
    state, signals = run.clocks[ticket_id], run.signals[ticket_id]
    kinds = {type(s) for s in signals}
    agent = run.owner.get(ticket_id)
    owner: str | None = run.external.get(ticket_id)
    actual = run.actual.get(ticket_id)
    differs: bool | None = None
    if run.desk_policy is not None:
        if agent is not None:
            owner = run.desk_policy.agents[agent].salesforce_user_id
        if actual is not None:
            differs = owner is None or salesforce_key(owner) != salesforce_key(actual)
    return TicketOutcome(
        ticket_id=ticket_id, tier=state.terms.tier, team=state.terms.team,
        tier_reason=state.tier_reason, opened_at=state.started_at, closed=state.closed,
        first_response_at=state.first_response_at,
        first_response_warned=FirstResponseWarning in kinds,
        first_response_breached=FirstResponseBreached in kinds,
        resolution_warned=ResolutionWarning in kinds,
        resolution_breached=ResolutionBreached in kinds,
        escalations=tuple(sorted(s.level for s in signals if isinstance(s, Escalation))),
        signals=tuple((s.key, s.at) for s in signals),
        queue=run.queue.get(ticket_id), agent=agent, simulated_owner=owner,
        actual_owner=actual, assigned_differently=differs)


# ----------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Comparison:
    """A new policy against a baseline, ticket by ticket (ids, sorted)."""

    baseline: SimulationReport
    candidate: SimulationReport
    first_response_breached: tuple[str, ...]
    """Breached under the candidate, not under the baseline."""
    first_response_no_longer_breached: tuple[str, ...]
    resolution_breached: tuple[str, ...]
    resolution_no_longer_breached: tuple[str, ...]
    escalated: tuple[str, ...]
    """Escalated (any level) under the candidate, not under the baseline."""
    no_longer_escalated: tuple[str, ...]
    tier_changed: tuple[str, ...]
    owner_changed: tuple[str, ...]
    """A different simulated owner (only when both ran a desk)."""

    def summary(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in (
            "first_response_breached", "first_response_no_longer_breached",
            "resolution_breached", "resolution_no_longer_breached", "escalated",
            "no_longer_escalated", "tier_changed", "owner_changed")}


def compare(baseline: SimulationReport, candidate: SimulationReport) -> Comparison:
    old = {t.ticket_id: t for t in baseline.details}
    new = {t.ticket_id: t for t in candidate.details}
    both = sorted(old.keys() & new.keys())

    def gained(flag: str) -> tuple[str, ...]:
        return tuple(t for t in both if getattr(new[t], flag) and not getattr(old[t], flag))

    def lost(flag: str) -> tuple[str, ...]:
        return tuple(t for t in both if getattr(old[t], flag) and not getattr(new[t], flag))

    desks = baseline.assignment is not None and candidate.assignment is not None
    return Comparison(
        baseline=baseline, candidate=candidate,
        first_response_breached=gained("first_response_breached"),
        first_response_no_longer_breached=lost("first_response_breached"),
        resolution_breached=gained("resolution_breached"),
        resolution_no_longer_breached=lost("resolution_breached"),
        escalated=gained("escalations"), no_longer_escalated=lost("escalations"),
        tier_changed=tuple(t for t in both if old[t].tier != new[t].tier),
        owner_changed=tuple(t for t in both if desks
                            and old[t].simulated_owner != new[t].simulated_owner))
