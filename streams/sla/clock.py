"""A ticket's SLA clock as pure functions: ``start``, ``observe``, ``due`` and ``fire``.

Time is always an argument. A worker calls :func:`start` when a ticket opens, :func:`observe`
for each fact about it (mapped from ticket events), asks :func:`due` when to wake up next, and
calls :func:`fire` with the current time (its clock, or a test's) to get the signals that came
due, each exactly once. Downtime is harmless: ``fire`` with a ``now`` far past several deadlines
returns every due signal once, in deadline order, each stamped with the instant it became true.

Three clocks run in business time on the ticket's team calendar:

- **first response**: runs while the ticket is open and no agent has replied (it never pauses
  for the customer: nobody has answered them yet). Warnings at each threshold, a breach at the
  target, escalation level 1 at ``target x (1 + first_response_over)``; ``FirstResponseMet``
  when the first agent reply comes, on time or late.
- **resolution**: runs while the ticket is open and not paused. Paused while waiting on the
  customer (an agent spoke last, until the customer writes) when the policy says so, and while
  the Case status is one of the pause statuses. Warnings, breach, escalation level 2 at
  ``target x (1 + resolution_over)``; ``ResolutionMet`` at each close.
- **idle**: escalation level 3 when nothing happened (customer message, agent reply, status
  change, reopening) for ``idle_for`` while open (and, unless configured otherwise, not waiting
  on the customer).

Each warning, breach and escalation fires at most once per ticket (a reopened ticket's clocks
continue where they stopped; they do not start over); ``ResolutionMet`` fires once per closing.

Deadlines are computed when the state changes and kept in the state (``timers``), so ``due``
and ``fire`` do no calendar arithmetic. A deadline that has passed is history: a later fact
(a pause, a reply) does not move or cancel it, so a breach that happened while nobody called
``fire`` is still reported. Facts must be observed in time order; a fact stamped before
something the state already knows (an earlier fact, or a signal already fired) is taken as
happening at that later instant, so nothing fired is ever contradicted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from streams.sla.calendar import ZERO, BusinessCalendar
from streams.sla.durations import format_duration, format_fraction
from streams.sla.errors import CalendarError
from streams.sla.policy import (
    Action,
    NotifyTelegram,
    PostCaseComment,
    ReassignCase,
    SetCaseField,
    SlaPolicy,
    SlaTerms,
    TicketFacts,
)
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

__all__ = ["AgentReplied", "Closed", "CustomerWrote", "Fact", "Reopened", "SlaState",
           "StatusChanged", "Stopwatch", "TicketFacts", "Timer", "due", "fire", "observe",
           "start"]


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class CustomerWrote:
    """The customer wrote in the ticket's thread."""


@dataclass(frozen=True)
class AgentReplied:
    """An agent replied to the customer (in Salesforce or in the Telegram group)."""


@dataclass(frozen=True)
class StatusChanged:
    """The Salesforce Case's status changed (``status`` is its label)."""

    status: str


@dataclass(frozen=True)
class Closed:
    """The ticket was closed (resolved)."""


@dataclass(frozen=True)
class Reopened:
    """A closed ticket was reopened."""


Fact = CustomerWrote | AgentReplied | StatusChanged | Closed | Reopened


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class Stopwatch:
    """Business time accumulated on a clock: ``used`` so far plus, while running, the time
    since ``since``."""

    used: timedelta = ZERO
    since: datetime | None = None

    def reading(self, calendar: BusinessCalendar, at: datetime) -> timedelta:
        if self.since is None:
            return self.used
        return self.used + calendar.elapsed(self.since, at)

    def switched(self, calendar: BusinessCalendar, run: bool, at: datetime) -> Stopwatch:
        if run and self.since is None:
            return Stopwatch(self.used, at)
        if not run and self.since is not None:
            return Stopwatch(self.reading(calendar, at), None)
        return self

    def when(self, calendar: BusinessCalendar, budget: timedelta) -> datetime | None:
        """The instant the reading reaches ``budget`` if it keeps running; ``None`` if stopped."""
        if self.since is None:
            return None
        return calendar.add(self.since, max(budget - self.used, ZERO))


@dataclass(frozen=True, slots=True)
class Timer:
    """A signal to fire at ``at``. ``rank`` orders timers due at the same instant."""

    at: datetime
    rank: int
    key: str
    elapsed: timedelta | None = None
    """For ``*_met`` timers: the clock's reading when the target was met."""
    since: datetime | None = None
    """For the idle escalation: the last activity it counts from."""


@dataclass(frozen=True, slots=True)
class SlaState:
    ticket_id: str
    terms: SlaTerms
    tier_reason: str
    rule: str | None
    started_at: datetime
    as_of: datetime
    """The latest instant the state knows about (facts observed, signals fired)."""
    last_activity_at: datetime
    first_response: Stopwatch
    resolution: Stopwatch
    first_response_at: datetime | None = None
    waiting_on_customer: bool = False
    status: str | None = None
    closed: bool = False
    closures: int = 0
    timers: tuple[Timer, ...] = ()
    """Pending signals, in firing order."""
    fired: frozenset[str] = frozenset()
    """Keys of the signals already fired."""

    @property
    def paused(self) -> bool:
        """Whether the resolution clock is held (waiting on the customer, or a pause status)."""
        return _paused(self.terms, self.waiting_on_customer, self.status)


def _paused(terms: SlaTerms, waiting_on_customer: bool, status: str | None) -> bool:
    return ((terms.pause_when_waiting_on_customer and waiting_on_customer)
            or (status is not None and status.casefold() in terms.pause_statuses))


# Ranks: the order of signals due at the same instant.
_FR_WARN, _FR_BREACH, _ESC1, _FR_MET, _RES_WARN, _RES_BREACH, _ESC2, _ESC3, _RES_MET = range(9)


# ----------------------------------------------------------------------------- the functions


def start(facts: TicketFacts, policy: SlaPolicy, at: datetime) -> SlaState:
    """A new ticket's SLA state: its tier chosen by the policy, its clocks running from ``at``."""
    at = _utc(at)
    choice = policy.select(facts)
    state = SlaState(ticket_id=facts.ticket_id, terms=choice.terms, tier_reason=choice.reason,
                     rule=choice.rule, started_at=at, as_of=at, last_activity_at=at,
                     first_response=Stopwatch(ZERO, at), resolution=Stopwatch(ZERO, at))
    return replace(state, timers=_schedule(state, ()))


def observe(state: SlaState, fact: Fact, at: datetime) -> SlaState:
    """The state after ``fact`` happened at ``at``."""
    at = max(_utc(at), state.as_of)
    waiting, status, closed = state.waiting_on_customer, state.status, state.closed
    first_response_at, closures = state.first_response_at, state.closures
    last_activity_at = at
    match fact:
        case CustomerWrote():
            waiting = False
        case AgentReplied():
            waiting = True
            if not closed and first_response_at is None:
                first_response_at = at
        case StatusChanged(status=new_status):
            status = new_status
        case Closed():
            last_activity_at = state.last_activity_at
            if not closed:
                closed, closures = True, closures + 1
        case Reopened():
            if closed:
                closed, waiting = False, False
            else:
                last_activity_at = state.last_activity_at
    calendar = state.terms.calendar
    new = replace(
        state, as_of=at, waiting_on_customer=waiting, status=status, closed=closed,
        first_response_at=first_response_at, closures=closures, last_activity_at=last_activity_at,
        first_response=state.first_response.switched(
            calendar, not closed and first_response_at is None, at),
        resolution=state.resolution.switched(
            calendar, not closed and not _paused(state.terms, waiting, status), at))
    met: list[Timer] = []
    if new.first_response_at is not None and state.first_response_at is None:
        met.append(Timer(at, _FR_MET, "first_response_met", elapsed=new.first_response.used))
    if new.closures > state.closures:
        met.append(Timer(at, _RES_MET, f"resolution_met:{new.closures}",
                         elapsed=new.resolution.used))
    if not met and _schedule_inputs(new) == _schedule_inputs(state):
        return new
    # Deadlines already passed happened; they stay as they were. The rest follow the new state.
    history = tuple(t for t in state.timers if t.at < at or t.elapsed is not None)
    return replace(new, timers=_schedule(new, (*history, *met)))


def due(state: SlaState) -> datetime | None:
    """The next instant at which :func:`fire` has something to say; ``None`` if nothing is
    pending (the ticket is closed, or every signal has fired)."""
    return state.timers[0].at if state.timers else None


def fire(state: SlaState, now: datetime) -> tuple[SlaState, list[SlaSignal]]:
    """Every signal due at or before ``now`` that has not fired yet, in deadline order, and the
    state that remembers them. Firing again at the same or a later ``now`` repeats nothing."""
    now = _utc(now)
    due_now = [t for t in state.timers if t.at <= now]
    if not due_now:
        return state, []
    signals = [_signal(state, t) for t in due_now]
    rest = state.timers[len(due_now):]
    return replace(state, timers=rest, fired=state.fired | {t.key for t in due_now},
                   as_of=max(state.as_of, due_now[-1].at)), signals


# ----------------------------------------------------------------------------- scheduling


def _utc(at: datetime) -> datetime:
    """Instants are kept in UTC (datetimes sharing a ``tzinfo`` compare by wall clock)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise CalendarError(f"SLA instants must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(UTC)


def _idle_counts(state: SlaState) -> bool:
    level3 = state.terms.level3
    return (level3 is not None and not state.closed
            and (level3.while_waiting_on_customer or not state.paused))


def _schedule_inputs(state: SlaState) -> tuple[object, ...]:
    return (state.first_response, state.resolution,
            state.last_activity_at if _idle_counts(state) else None)


def _schedule(state: SlaState, kept: tuple[Timer, ...]) -> tuple[Timer, ...]:
    """The pending timers of ``state``: ``kept`` plus the deadlines its running clocks imply,
    leaving out what already fired or is kept."""
    terms, calendar = state.terms, state.terms.calendar
    wanted: list[tuple[datetime | None, int, str, datetime | None]] = []
    fr, res = state.first_response, state.resolution
    for threshold in terms.warn_at:
        wanted.append((fr.when(calendar, terms.first_response * threshold), _FR_WARN,
                       f"first_response_warning:{threshold:g}", None))
        wanted.append((res.when(calendar, terms.resolution * threshold), _RES_WARN,
                       f"resolution_warning:{threshold:g}", None))
    wanted.append((fr.when(calendar, terms.first_response), _FR_BREACH,
                   "first_response_breached", None))
    wanted.append((res.when(calendar, terms.resolution), _RES_BREACH, "resolution_breached",
                   None))
    if terms.level1 is not None:
        budget = terms.first_response * (1 + terms.level1.first_response_over)
        wanted.append((fr.when(calendar, budget), _ESC1, "escalation:1", None))
    if terms.level2 is not None:
        budget = terms.resolution * (1 + terms.level2.resolution_over)
        wanted.append((res.when(calendar, budget), _ESC2, "escalation:2", None))
    if terms.level3 is not None and _idle_counts(state):
        wanted.append((calendar.add(state.last_activity_at, terms.level3.idle_for), _ESC3,
                       "escalation:3", state.last_activity_at))
    taken = state.fired | {t.key for t in kept}
    timers = list(kept)
    timers += [Timer(at, rank, key, since=since) for at, rank, key, since in wanted
               if at is not None and key not in taken]
    return tuple(sorted(timers, key=lambda t: (t.at, t.rank, t.key)))


# ----------------------------------------------------------------------------- explaining


class _Common(TypedDict):
    ticket_id: str
    key: str
    at: datetime
    tier: str
    team: str


def _signal(state: SlaState, timer: Timer) -> SlaSignal:
    terms = state.terms
    common: _Common = {"ticket_id": state.ticket_id, "key": timer.key, "at": timer.at,
              "tier": terms.tier, "team": terms.team}
    why = f" [{state.tier_reason}]"
    fr, res = terms.first_response, terms.resolution
    fr_text, res_text = format_duration(fr), format_duration(res)
    business = f"business time, team {terms.team!r} hours"
    kind = timer.key.split(":")[0]
    if kind == "first_response_warning":
        threshold = float(timer.key.split(":")[1])
        return FirstResponseWarning(
            **common, threshold=threshold, target=fr,
            reason=f"no agent reply yet: {format_fraction(threshold)} of the {fr_text} "
                   f"first-response target ({format_duration(fr * threshold)} of {business}) "
                   f"has elapsed{why}")
    if kind == "first_response_breached":
        return FirstResponseBreached(
            **common, target=fr,
            reason=f"no agent reply within the {fr_text} first-response target ({business})"
                   f"{why}")
    if kind == "first_response_met":
        elapsed = timer.elapsed or ZERO
        on_time = elapsed <= fr and "first_response_breached" not in state.fired
        return FirstResponseMet(
            **common, target=fr, elapsed=elapsed, on_time=on_time,
            reason=f"first agent reply after {format_duration(elapsed)} of {business}: "
                   f"{_verdict(elapsed, fr)} the {fr_text} first-response target{why}")
    if kind == "resolution_warning":
        threshold = float(timer.key.split(":")[1])
        return ResolutionWarning(
            **common, threshold=threshold, target=res,
            reason=f"unresolved: {format_fraction(threshold)} of the {res_text} resolution "
                   f"target ({format_duration(res * threshold)} of {business}, pauses "
                   f"excluded) has elapsed{why}")
    if kind == "resolution_breached":
        return ResolutionBreached(
            **common, target=res,
            reason=f"not resolved within the {res_text} resolution target ({business}, "
                   f"pauses excluded){why}")
    if kind == "resolution_met":
        elapsed = timer.elapsed or ZERO
        on_time = elapsed <= res and "resolution_breached" not in state.fired
        return ResolutionMet(
            **common, target=res, elapsed=elapsed, on_time=on_time,
            reason=f"closed after {format_duration(elapsed)} on the resolution clock "
                   f"({business}, pauses excluded): {_verdict(elapsed, res)} the {res_text} "
                   f"resolution target{why}")
    return _escalation(state, timer, common, why, business)


def _verdict(elapsed: timedelta, target: timedelta) -> str:
    if elapsed <= target:
        return f"{format_duration(target - elapsed)} inside"
    return f"{format_duration(elapsed - target)} late against"


def _escalation(state: SlaState, timer: Timer, common: _Common, why: str,
                business: str) -> Escalation:
    terms = state.terms
    level = int(timer.key.split(":")[1])
    if level == 1 and terms.level1 is not None:
        over = terms.level1.first_response_over
        target = terms.first_response
        what = (f"still no agent reply {format_duration(target * over)} "
                f"({format_fraction(over)}) past the {format_duration(target)} first-response "
                f"target ({business})")
        escalate_to, actions = terms.level1.escalate_to, terms.level1.actions
    elif level == 2 and terms.level2 is not None:
        over = terms.level2.resolution_over
        target = terms.resolution
        what = (f"still unresolved {format_duration(target * over)} ({format_fraction(over)}) "
                f"past the {format_duration(target)} resolution target ({business}, pauses "
                f"excluded)")
        escalate_to, actions = terms.level2.escalate_to, terms.level2.actions
    elif level == 3 and terms.level3 is not None:
        since = timer.since or state.last_activity_at
        what = (f"no activity for {format_duration(terms.level3.idle_for)} of {business} "
                f"since {since.isoformat()}")
        escalate_to, actions = terms.level3.escalate_to, terms.level3.actions
    else:  # the policy changed under a pending timer; should not happen with shared terms
        raise AssertionError(f"escalation level {level} is not configured")
    plan = "; ".join(_describe(a) for a in actions) or "no actions configured"
    reason = f"level {level} to {escalate_to}: {what}; {plan}{why}"
    values = {"level": level, "reason": reason, "ticket_id": state.ticket_id,
              "tier": terms.tier, "team": terms.team, "escalate_to": escalate_to}
    rendered = tuple(_render(a, values) for a in actions)
    return Escalation(**common, level=level, escalate_to=escalate_to, actions=rendered,
                      reason=reason)


def _describe(action: Action) -> str:
    match action:
        case NotifyTelegram(chat_id=chat_id):
            return f"notify Telegram chat {chat_id}"
        case SetCaseField(field=name, value=value):
            return f"set Case {name}={value!r}"
        case ReassignCase(to=to):
            return f"reassign to {to}"
        case PostCaseComment():
            return "post a CaseComment"


def _render(action: Action, values: dict[str, object]) -> Action:
    if isinstance(action, NotifyTelegram | PostCaseComment):
        return action.model_copy(update={"text": action.text.format_map(values)})
    return action
