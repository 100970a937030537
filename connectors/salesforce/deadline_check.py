"""Salesforce's clock against telecase's (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``): the
Case Milestones' ``TargetDate``, ``IsViolated`` and ``CompletionDate`` read back and compared
with the deadlines telecase's log says, for ``telecase reconcile``'s report
(:mod:`connectors.salesforce.reconcile`).

Salesforce's side (:func:`read_milestones`): ``SELECT ... FROM CaseMilestone`` and the
MilestoneType names (Object Reference, "CaseMilestone": ``TargetDate`` "the date and time the
milestone must be completed", ``IsViolated``, ``CompletionDate``, ``IsCompleted``), joined to
the tickets through the Cases reconciliation already read; ``First Response`` and
``Resolution`` (:class:`~connectors.salesforce.milestones.MilestoneNames`) are telecase's
``first_response`` and ``resolution`` clocks.

telecase's side (:func:`log_deadlines`), per ticket and clock: breached (an ``sla.breached``),
met (``sla.met``, its instant), and the deadline instant: the breach's ``occurred_at`` (the
instant it came due) when breached, else, with the SLA policy, the instant the clock reaches
its target if it keeps running, the ticket's events replayed through the SLA clock
(:mod:`streams.sla.clock`: business hours and pauses included); a clock stopped (met,
paused) or a tier the policy no longer chooses has none.

:func:`disagreements` reports, beyond ``tolerance``:

- ``milestone_breach``: breached in one clock and not in the other, once the target is more
  than ``tolerance`` past (a deadline passing right now is not a disagreement yet);
- ``milestone_target``: both have a deadline instant and they differ;
- ``milestone_completion``: telecase met the target but the milestone is open, or completed
  at another instant.

Reported, not corrected. The clocks themselves follow Salesforce's targets through the log:
the milestone reader (:mod:`connectors.salesforce.milestone_reader`) writes each new target to
``salesforce.changes`` and the worker records it (``sla.target_adopted``), so the deadlines
replayed here include the targets adopted; what is left to report is what the reader has not
seen yet (a target changed since its last round), completions, and breaches the two count
differently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from connectors.salesforce.change_poller import id15, parse_datetime
from connectors.salesforce.milestones import MilestoneNames
from streams.schema.events import (
    CustomerMessageReceived,
    SlaBreached,
    SlaClock,
    SlaMet,
    SlaStarted,
    SlaTargetAdopted,
    TicketEvent,
    TicketOpened,
)
from streams.sla import clock
from streams.sla.clock import SalesforceTarget
from streams.sla.policy import SlaPolicy
from streams.sla.replay import sla_facts, sla_ticket_facts

MILESTONE_QUERY = ("SELECT Id, CaseId, MilestoneTypeId, TargetDate, IsViolated, IsCompleted, "
                   "CompletionDate FROM CaseMilestone")
TYPE_QUERY = "SELECT Id, Name FROM MilestoneType"
TOLERANCE = timedelta(minutes=1)
"""Salesforce counts milestone targets in whole minutes."""
Kind = Literal["milestone_breach", "milestone_target", "milestone_completion"]


class MilestoneReader(Protocol):
    def query_all(self, soql: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class MilestoneFact:
    """One CaseMilestone as Salesforce has it."""

    ticket_id: str
    clock: SlaClock
    target_at: datetime | None
    violated: bool
    completed_at: datetime | None


@dataclass
class LogDeadline:
    """One SLA clock of a ticket as telecase's log has it."""

    due_at: datetime | None = None
    breached: bool = False
    met_at: datetime | None = None


@dataclass(frozen=True)
class Disagreement:
    ticket_id: str
    kind: Kind
    log_value: str | None
    remote_value: str | None
    detail: str


def read_milestones(api: MilestoneReader, cases: list[dict[str, Any]],
                    names: MilestoneNames | None = None) -> list[MilestoneFact]:
    """The milestones of telecase's Cases (``cases``: rows with ``Id`` and
    ``Telecase_Ticket_Id__c``) for telecase's two clocks."""
    names = names or MilestoneNames()
    tickets = {str(id15(c["Id"])): str(c["Telecase_Ticket_Id__c"]) for c in cases}
    wanted: dict[str, SlaClock] = {names.first_response: "first_response",
                                   names.resolution: "resolution"}
    types = {str(id15(r["Id"])): wanted[r["Name"]] for r in api.query_all(TYPE_QUERY)
             if r.get("Name") in wanted}
    facts = []
    for row in api.query_all(MILESTONE_QUERY):
        ticket = tickets.get(str(id15(row.get("CaseId"))))
        kind = types.get(str(id15(row.get("MilestoneTypeId"))))
        if ticket is None or kind is None:
            continue
        facts.append(MilestoneFact(ticket, kind, parse_datetime(row.get("TargetDate")),
                                   bool(row.get("IsViolated")),
                                   parse_datetime(row.get("CompletionDate"))))
    return facts


def log_deadlines(events: Iterable[TicketEvent], policy: SlaPolicy | None
                  ) -> dict[tuple[str, SlaClock], LogDeadline]:
    """Each ticket's clocks as its events say (see the module)."""
    by_ticket: dict[str, list[TicketEvent]] = {}
    for e in events:
        by_ticket.setdefault(e.ticket_id, []).append(e)
    out: dict[tuple[str, SlaClock], LogDeadline] = {}
    for ticket_id, mine in by_ticket.items():
        mine.sort(key=lambda e: e.seq)
        started = next((e for e in reversed(mine) if isinstance(e, SlaStarted)), None)
        if started is None:
            continue
        clocks: dict[SlaClock, LogDeadline] = {"first_response": LogDeadline(),
                                               "resolution": LogDeadline()}
        for e in mine:
            if isinstance(e, SlaBreached):
                clocks[e.clock].breached = True
                clocks[e.clock].due_at = e.occurred_at
            elif isinstance(e, SlaMet):
                clocks[e.clock].met_at = e.occurred_at
        if policy is not None:
            _running_deadlines(mine, started, policy, clocks)
        for name, deadline in clocks.items():
            out[(ticket_id, name)] = deadline
    return out


def _running_deadlines(events: list[TicketEvent], started: SlaStarted, policy: SlaPolicy,
                       clocks: dict[SlaClock, LogDeadline]) -> None:
    """The instant each running, unbreached clock reaches its target (the SLA clock)."""
    opened = next((e for e in events if isinstance(e, TicketOpened)), None)
    if opened is None:
        return
    first = next((e.text for e in events if isinstance(e, CustomerMessageReceived)), "")
    state = clock.start(sla_ticket_facts(opened, first), policy, started.occurred_at)
    if state.terms.tier != started.tier:
        return  # the policy chooses another tier now: its deadlines are not the log's
    for e in events:
        if e.seq <= opened.seq or e.occurred_at < started.occurred_at:
            continue
        if isinstance(e, SlaTargetAdopted):  # Salesforce's target, as the worker adopted it
            state = clock.adopt(state, SalesforceTarget(e.clock, e.target_at, e.violated),
                                e.occurred_at)
        for fact in sla_facts(e):
            state = clock.observe(state, fact, e.occurred_at)
    calendar, terms = state.terms.calendar, state.terms
    running: list[tuple[LogDeadline, clock.Stopwatch, timedelta]] = [
        (clocks["first_response"], state.first_response, terms.first_response),
        (clocks["resolution"], state.resolution, terms.resolution)]
    for deadline, watch, target in running:
        if not deadline.breached and deadline.met_at is None:
            deadline.due_at = watch.when(calendar, target)


def disagreements(log: dict[tuple[str, SlaClock], LogDeadline],
                  milestones: list[MilestoneFact], now: datetime, *,
                  tolerance: timedelta = TOLERANCE) -> list[Disagreement]:
    """Where the log's clocks and Salesforce's milestones disagree (see the module)."""
    out: list[Disagreement] = []
    for m in milestones:
        mine = log.get((m.ticket_id, m.clock))
        if mine is None:
            continue
        name = m.clock.replace("_", " ")
        settled = m.completed_at is not None or (
            m.target_at is not None and now - m.target_at > tolerance)
        if settled and mine.breached != m.violated:
            out.append(Disagreement(
                m.ticket_id, "milestone_breach", _breach(mine.breached), _breach(m.violated),
                f"{name}: telecase says {_breach(mine.breached)}, the CaseMilestone "
                f"{'is' if m.violated else 'is not'} violated (target {_at(m.target_at)})"))
        if mine.due_at is not None and m.target_at is not None \
                and abs(mine.due_at - m.target_at) > tolerance:
            out.append(Disagreement(
                m.ticket_id, "milestone_target", _at(mine.due_at), _at(m.target_at),
                f"{name}: telecase's deadline and the CaseMilestone's TargetDate differ by "
                f"{abs(mine.due_at - m.target_at)}"))
        if mine.met_at is not None and (m.completed_at is None
                                        or abs(mine.met_at - m.completed_at) > tolerance):
            out.append(Disagreement(
                m.ticket_id, "milestone_completion", _at(mine.met_at),
                _at(m.completed_at) if m.completed_at else "open",
                f"{name}: met in telecase, the CaseMilestone is "
                + (f"completed at {_at(m.completed_at)}" if m.completed_at else "still open")))
    return out


def _breach(flag: bool) -> str:
    return "breached" if flag else "not breached"


def _at(when: datetime | None) -> str:
    return when.isoformat() if when is not None else "-"
