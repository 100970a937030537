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

A state keeps only what it cannot derive: its stopwatches, the few signals whose instant is
fixed (met targets, deadlines a later fact made history), a bitmask of what fired, and the next
instant something is due (``due`` reads it, ``fire`` returns at once before it). Every other
pending deadline follows from the running clocks and the terms, so it is computed when it is
needed: a fact recomputes the clock it changed, ``fire`` computes the deadlines of a clock up to
the first one still ahead, and ``timers`` lists them all. The deadline budgets and the fixed parts
of the reasons are worked out once per tier and team and shared by its tickets. A deadline that
has passed is history: a later fact (a pause, a reply) does not move or cancel it, so a breach
that happened while nobody called ``fire`` is still reported.

With Salesforce as the clock of record, :func:`adopt` takes a CaseMilestone's target for one
clock: the clock's budget becomes its reading at the milestone's ``TargetDate`` (the state's
terms become :class:`AdoptedTerms`), so every deadline of that clock follows the target as it
follows the tier's; what the new target puts in the past and has not fired is due at once.

Facts must be observed in time order; a fact stamped before something the state already knows
(an earlier fact, or a signal already fired) is taken as happening at that later instant, so
nothing fired is ever contradicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

from streams.sla.calendar import ZERO, BusinessCalendar
from streams.sla.durations import format_duration, format_fraction
from streams.sla.errors import CalendarError
from streams.sla.policy import (
    Action,
    FirstResponseEscalation,
    IdleEscalation,
    NotifyTelegram,
    PostCaseComment,
    ReassignCase,
    ResolutionEscalation,
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

__all__ = ["AdoptedTerms", "AgentReplied", "Closed", "CustomerWrote", "Fact", "Reopened",
           "SalesforceTarget", "SlaState", "StatusChanged", "Stopwatch", "TicketFacts", "Timer",
           "adopt", "adopted_terms", "breach_at", "due", "fire", "mask_of", "observe",
           "policy_keys", "start", "stopwatch"]


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


_SET_USED = Stopwatch.__dict__["used"].__set__
_SET_SINCE = Stopwatch.__dict__["since"].__set__


def stopwatch(used: timedelta, since: datetime | None) -> Stopwatch:
    """``Stopwatch(used, since)`` without the frozen dataclass's ``__init__`` (an
    ``object.__setattr__`` call a field): its slots set directly. A stored ticket's two
    stopwatches are rebuilt at every tick that fires it (0.35 us each against 0.18, some 2% of
    a restart's work a ticket, issue 19); a test holds it equal to the class's own."""
    watch = object.__new__(Stopwatch)
    _SET_USED(watch, used)
    _SET_SINCE(watch, since)
    return watch


class Timer(NamedTuple):
    """A signal to fire at ``at``. ``rank`` orders timers due at the same instant (timers sort
    as tuples: by instant, rank, then key, which is unique among a ticket's pending timers)."""

    at: datetime
    rank: int
    key: str
    elapsed: timedelta | None = None
    """For ``*_met`` timers: the clock's reading when the target was met."""
    since: datetime | None = None
    """For the idle escalation: the last activity it counts from."""


class SlaState(NamedTuple):
    """A ticket's SLA clocks. Immutable; a named tuple rather than a frozen dataclass because a
    worker builds one per fact and per firing for every ticket it holds, and a tuple is built
    several times faster (fields by name, ``_replace`` for a copy with changes)."""

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
    held: tuple[Timer, ...] = ()
    """Pending signals whose instant is fixed: met targets, and deadlines that had passed when
    a fact changed their clock. The other pending signals follow from the running clocks."""
    fired_mask: int = 0
    """The policy deadlines already fired, one bit each (:attr:`fired` names them)."""
    next_at: datetime | None = None
    """The earliest pending instant: what :func:`due` answers."""

    @property
    def paused(self) -> bool:
        """Whether the resolution clock is held (waiting on the customer, or a pause status)."""
        return _paused(self.terms, self.waiting_on_customer, self.status)

    @property
    def timers(self) -> tuple[Timer, ...]:
        """Pending signals, in firing order (computed from the clocks on each access)."""
        plan = _plan(self.terms)
        taken = self.fired_mask | _held_mask(plan, self.held)
        calendar = self.terms.calendar
        timers = list(self.held)
        for watch, deadlines in ((self.first_response, plan.first_response),
                                 (self.resolution, plan.resolution)):
            for deadline in deadlines:
                at = watch.when(calendar, deadline.budget)
                if at is not None and not deadline.bit & taken:
                    timers.append(Timer(at, deadline.rank, deadline.key))
        idle, idle_from = plan.idle, _idle_from(self)
        if idle is not None and idle_from is not None and not idle.bit & taken:
            timers.append(Timer(calendar.add(idle_from, idle.budget), idle.rank, idle.key,
                                since=idle_from))
        return tuple(sorted(timers))

    @property
    def fired(self) -> frozenset[str]:
        """Keys of the signals already fired."""
        plan = _plan(self.terms)
        held = {t.key for t in self.held}
        keys = {key for key, bit in plan.bits.items() if bit & self.fired_mask}
        if self.first_response_at is not None and "first_response_met" not in held:
            keys.add("first_response_met")
        keys |= {f"resolution_met:{n}" for n in range(1, self.closures + 1)} - held
        return frozenset(keys)


def policy_keys(state: SlaState) -> tuple[str, ...]:
    """The policy deadlines ``state`` has fired, by key: what :func:`mask_of` turns back into a
    ``fired_mask`` for the same (or a changed) tier."""
    plan = _plan(state.terms)
    fired_mask = state.fired_mask
    keys = plan.keys.get(fired_mask)
    if keys is None:
        if len(plan.keys) >= _REASONS:
            plan.keys.clear()
        keys = plan.keys[fired_mask] = tuple(key for key, bit in plan.bits.items()
                                             if bit & fired_mask)
    return keys


def mask_of(terms: SlaTerms, keys: tuple[str, ...]) -> int:
    """The ``fired_mask`` of ``terms`` for the keys fired (keys it has no deadline for drop)."""
    plan = _plan(terms)
    mask = plan.masks.get(keys)
    if mask is None:
        bits = plan.bits
        mask = 0
        for key in keys:
            mask |= bits.get(key, 0)
        if len(plan.masks) >= _REASONS:
            plan.masks.clear()
        plan.masks[keys] = mask
    return mask


def _paused(terms: SlaTerms, waiting_on_customer: bool, status: str | None) -> bool:
    return ((terms.pause_when_waiting_on_customer and waiting_on_customer)
            or (status is not None and status.casefold() in terms.pause_statuses))


def _idle_counts(terms: SlaTerms, closed: bool, waiting_on_customer: bool,
                 status: str | None) -> bool:
    level3 = terms.level3
    return (level3 is not None and not closed
            and (level3.while_waiting_on_customer
                 or not _paused(terms, waiting_on_customer, status)))


def _idle_from(state: SlaState) -> datetime | None:
    """The last activity the idle escalation counts from, ``None`` while it does not count."""
    if _idle_counts(state.terms, state.closed, state.waiting_on_customer, state.status):
        return state.last_activity_at
    return None


# Ranks: the order of signals due at the same instant.
_FR_WARN, _FR_BREACH, _ESC1, _FR_MET, _RES_WARN, _RES_BREACH, _ESC2, _ESC3, _RES_MET = range(9)


# ----------------------------------------------------------------------------- plans


@dataclass(frozen=True, slots=True)
class _Deadline:
    """A deadline the terms set on a clock: when its reading reaches ``budget``."""

    budget: timedelta
    rank: int
    key: str
    bit: int


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a tier and team's terms imply for every one of its tickets, worked out once: the
    deadlines of each clock in budget order, and the fixed parts of the reasons."""

    first_response: tuple[_Deadline, ...]
    resolution: tuple[_Deadline, ...]
    idle: _Deadline | None
    bits: dict[str, int]
    always_open: bool
    """Business time is real time: a deadline is ``since + remaining``."""
    warnings: dict[str, tuple[float, str]]
    """Warning key -> (threshold, reason without the tier's)."""
    texts: dict[str, str]
    """Fixed reason parts: ``business``, ``fr``/``res`` (targets), ``fr_breached``,
    ``res_breached``, ``escalation:1``/``escalation:2`` (whole reasons without the tier's),
    ``plan:<level>`` (the actions described)."""
    reasons: dict[tuple[str, str], str]
    """(key, tier reason) -> the whole reason of a signal whose text is fixed: built on first
    use, then shared by every ticket of the tier (bounded, see ``_REASONS``)."""
    keys: dict[int, tuple[str, ...]]
    """``fired_mask`` -> :func:`policy_keys` of it, memoised (a snapshot is frozen at every
    firing and every fact; bounded, see ``_REASONS``)."""
    masks: dict[tuple[str, ...], int]
    """Fired keys -> :func:`mask_of` them, memoised (a stored snapshot is thawed at every
    tick and fact that reaches it; bounded, see ``_REASONS``)."""


_PLANS: WeakKeyDictionary[SlaTerms, _Plan] = WeakKeyDictionary()
_LAST_PLAN: list[tuple[SlaTerms, _Plan]] = []
"""The terms last planned and their plan (held strongly: one terms object outlives its
policy a while): a worker's tickets mostly share one tier's terms, and looking them up in
``_PLANS`` makes a weak reference each time (its ``get`` was some 2% of a restart's
firing)."""


def _plan(terms: SlaTerms) -> _Plan:
    if _LAST_PLAN and _LAST_PLAN[0][0] is terms:
        return _LAST_PLAN[0][1]
    plan = _PLANS.get(terms)
    if plan is None:
        plan = _PLANS[terms] = _make_plan(terms)
    _LAST_PLAN[:] = [(terms, plan)]
    return plan


def _make_plan(terms: SlaTerms) -> _Plan:
    fr, res = terms.first_response, terms.resolution
    first: list[tuple[timedelta, int, str]] = []
    second: list[tuple[timedelta, int, str]] = []
    for threshold in terms.warn_at:
        first.append((fr * threshold, _FR_WARN, f"first_response_warning:{threshold:g}"))
        second.append((res * threshold, _RES_WARN, f"resolution_warning:{threshold:g}"))
    first.append((fr, _FR_BREACH, "first_response_breached"))
    second.append((res, _RES_BREACH, "resolution_breached"))
    if terms.level1 is not None:
        first.append((fr * (1 + terms.level1.first_response_over), _ESC1, "escalation:1"))
    if terms.level2 is not None:
        second.append((res * (1 + terms.level2.resolution_over), _ESC2, "escalation:2"))
    bits: dict[str, int] = {}
    for _, _, key in (*first, *second, (ZERO, _ESC3, "escalation:3")):
        bits.setdefault(key, 1 << len(bits))

    def deadlines(wanted: list[tuple[timedelta, int, str]]) -> tuple[_Deadline, ...]:
        return tuple(_Deadline(budget, rank, key, bits[key])
                     for budget, rank, key in sorted(wanted, key=lambda w: w[0]))

    idle = (None if terms.level3 is None
            else _Deadline(terms.level3.idle_for, _ESC3, "escalation:3", bits["escalation:3"]))
    warnings, texts = _texts(terms)
    if isinstance(terms, AdoptedTerms):
        _name_salesforce(terms, warnings, texts)
    return _Plan(deadlines(first), deadlines(second), idle, bits,
                 terms.calendar.is_always_open, warnings, texts, {}, {}, {})


def _texts(terms: SlaTerms) -> tuple[dict[str, tuple[float, str]], dict[str, str]]:
    fr, res = terms.first_response, terms.resolution
    fr_text, res_text = format_duration(fr), format_duration(res)
    business = f"business time, team {terms.team!r} hours"
    warnings: dict[str, tuple[float, str]] = {}
    for raw in terms.warn_at:
        key = f"first_response_warning:{raw:g}"
        threshold = float(key.split(":")[1])
        warnings[key] = (threshold, (
            f"no agent reply yet: {format_fraction(threshold)} of the {fr_text} first-response "
            f"target ({format_duration(fr * threshold)} of {business}) has elapsed"))
        key = f"resolution_warning:{raw:g}"
        threshold = float(key.split(":")[1])
        warnings[key] = (threshold, (
            f"unresolved: {format_fraction(threshold)} of the {res_text} resolution target "
            f"({format_duration(res * threshold)} of {business}, pauses excluded) has elapsed"))
    texts = {
        "business": business, "fr": fr_text, "res": res_text,
        "fr_breached": f"no agent reply within the {fr_text} first-response target ({business})",
        "res_breached": f"not resolved within the {res_text} resolution target ({business}, "
                        f"pauses excluded)"}
    levels: tuple[tuple[int, FirstResponseEscalation | ResolutionEscalation | IdleEscalation
                        | None], ...] = ((1, terms.level1), (2, terms.level2), (3, terms.level3))
    for level, config in levels:
        if config is not None:
            texts[f"plan:{level}"] = ("; ".join(_describe(a) for a in config.actions)
                                      or "no actions configured")
    if terms.level1 is not None:
        over = terms.level1.first_response_over
        what = (f"still no agent reply {format_duration(fr * over)} ({format_fraction(over)}) "
                f"past the {format_duration(fr)} first-response target ({business})")
        texts["escalation:1"] = (f"level 1 to {terms.level1.escalate_to}: {what}; "
                                 f"{texts['plan:1']}")
    if terms.level2 is not None:
        over = terms.level2.resolution_over
        what = (f"still unresolved {format_duration(res * over)} ({format_fraction(over)}) "
                f"past the {format_duration(res)} resolution target ({business}, pauses "
                f"excluded)")
        texts["escalation:2"] = (f"level 2 to {terms.level2.escalate_to}: {what}; "
                                 f"{texts['plan:2']}")
    return warnings, texts


def _held_mask(plan: _Plan, held: tuple[Timer, ...]) -> int:
    mask = 0
    for timer in held:
        mask |= plan.bits.get(timer.key, 0)
    return mask


# ----------------------------------------------------------------------------- Salesforce's targets


class SalesforceTarget(NamedTuple):
    """A CaseMilestone's target adopted for one clock (Salesforce the clock of record)."""

    clock: str
    """``first_response`` or ``resolution``."""
    target_at: datetime
    """The milestone's ``TargetDate``."""
    violated: bool
    """Its ``IsViolated`` when read."""


@dataclass(frozen=True, eq=False)
class AdoptedTerms(SlaTerms):
    """A tier's terms with the targets Salesforce gave one ticket: the adopted clocks'
    budgets (``first_response``, ``resolution``) are the business time from the clock's start
    to the milestone's ``TargetDate``, so every deadline of the clock (warnings at their
    fractions, the breach, the escalation past it) follows from that target as it follows
    from the tier's own; ``base`` is the tier's terms, ``targets`` what Salesforce said."""

    base: SlaTerms
    targets: tuple[SalesforceTarget, ...]


_ADOPTED: WeakKeyDictionary[SlaTerms, dict[tuple[Any, ...], AdoptedTerms]] = WeakKeyDictionary()
_ADOPTED_MAX = 4096
"""Adopted terms remembered per tier's terms (a stored state thawed again finds its terms and
their plan), before the memo is cleared."""


def adopted_terms(base: SlaTerms, first_response: timedelta | None,
                  resolution: timedelta | None,
                  targets: tuple[SalesforceTarget, ...]) -> SlaTerms:
    """``base`` with the budgets Salesforce's targets set (``None``: the tier's own)."""
    if first_response is None and resolution is None:
        return base
    memo = _ADOPTED.setdefault(base, {})
    key = (first_response, resolution, targets)
    terms = memo.get(key)
    if terms is None:
        if len(memo) >= _ADOPTED_MAX:
            memo.clear()
        fields = {f: getattr(base, f) for f in SlaTerms.__dataclass_fields__}
        fields["first_response"] = (base.first_response if first_response is None
                                    else first_response)
        fields["resolution"] = base.resolution if resolution is None else resolution
        terms = memo[key] = AdoptedTerms(**fields, base=base, targets=targets)
    return terms


def _name_salesforce(terms: AdoptedTerms, warnings: dict[str, tuple[float, str]],
                     texts: dict[str, str]) -> None:
    """The reasons of an adopted clock's signals say whose target it is."""
    for target in terms.targets:
        name = ("first-response target" if target.clock == "first_response"
                else "resolution target")
        said = f"{name} (Salesforce's milestone, due {target.target_at.isoformat()})"
        prefix = "first_response" if target.clock == "first_response" else "resolution"
        for key, (threshold, text) in warnings.items():
            if key.startswith(prefix):
                warnings[key] = (threshold, text.replace(name, said))
        for key in (("fr_breached", "escalation:1") if prefix == "first_response"
                    else ("res_breached", "escalation:2")):
            if key in texts:
                texts[key] = texts[key].replace(name, said)


def breach_at(state: SlaState, clock_name: str) -> datetime | None:
    """When ``clock_name``'s breach falls due as the state stands (``None``: the clock is
    stopped, or its breach fired)."""
    plan = _plan(state.terms)
    key = f"{clock_name}_breached"
    if plan.bits[key] & state.fired_mask:
        return None
    held = next((t.at for t in state.held if t.key == key), None)
    if held is not None:
        return held
    watch = state.first_response if clock_name == "first_response" else state.resolution
    budget = (state.terms.first_response if clock_name == "first_response"
              else state.terms.resolution)
    return watch.when(state.terms.calendar, budget)


def adopt(state: SlaState, target: SalesforceTarget, at: datetime) -> SlaState:
    """The state after Salesforce's milestone said ``target`` (read at ``at``): the clock's
    budget becomes its reading at ``target_at`` (its reading now when the target has passed,
    or the milestone is violated), so while it runs its breach falls due at ``target_at``.
    Deadlines of the clock that the new budget puts at or before ``at`` and that have not
    fired are due at ``at`` (a breach Salesforce already counts fires now, once); fired
    signals stay fired (a later target never fires one again)."""
    at = _utc(at)
    if at < state.as_of:
        at = state.as_of
    target = target._replace(target_at=_utc(target.target_at))
    terms = state.terms
    calendar = terms.calendar
    first = target.clock == "first_response"
    watch = state.first_response if first else state.resolution
    reading = watch.reading(calendar, at)
    due_at = target.target_at if not target.violated else min(target.target_at, at)
    budget = reading + calendar.elapsed(at, due_at) if due_at > at else reading
    base = terms.base if isinstance(terms, AdoptedTerms) else terms
    kept = tuple(t for t in terms.targets if t.clock != target.clock) \
        if isinstance(terms, AdoptedTerms) else ()
    targets = tuple(sorted((*kept, target)))
    budgets = {t.clock: (terms.first_response if t.clock == "first_response"
                         else terms.resolution) for t in kept}
    budgets[target.clock] = budget
    new_terms = adopted_terms(base, budgets.get("first_response"), budgets.get("resolution"),
                              targets)
    plan = _plan(new_terms)
    taken = state.fired_mask | _held_mask(plan, state.held)
    passed = tuple(Timer(at, d.rank, d.key)
                   for d in (plan.first_response if first else plan.resolution)
                   if not d.bit & taken and d.budget <= reading)
    held = (*state.held, *passed)
    _, next_at = _scan(plan, calendar, state.first_response, state.resolution,
                       None if plan.idle is None else _idle_from(state), held,
                       state.fired_mask, None)
    return state._replace(terms=new_terms, as_of=at, held=held, next_at=next_at)


# ----------------------------------------------------------------------------- the functions


def start(facts: TicketFacts, policy: SlaPolicy, at: datetime) -> SlaState:
    """A new ticket's SLA state: its tier chosen by the policy, its clocks running from ``at``."""
    at = _utc(at)
    choice = policy.select(facts)
    terms = choice.terms
    running = Stopwatch(ZERO, at)
    idle_from = at if _idle_counts(terms, False, False, None) else None
    _, next_at = _scan(_plan(terms), terms.calendar, running, running, idle_from, (), 0, None)
    return SlaState(facts.ticket_id, terms, choice.reason, choice.rule, at, at, at, running,
                    running, None, False, None, False, 0, (), 0, next_at)


def observe(state: SlaState, fact: Fact, at: datetime) -> SlaState:
    """The state after ``fact`` happened at ``at``."""
    at = _utc(at)
    if at < state.as_of:
        at = state.as_of
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
    terms = state.terms
    calendar = terms.calendar
    first_response = state.first_response.switched(
        calendar, not closed and first_response_at is None, at)
    resolution = state.resolution.switched(
        calendar, not closed and not _paused(terms, waiting, status), at)
    old_idle = _idle_from(state)
    new_idle = last_activity_at if _idle_counts(terms, closed, waiting, status) else None
    changed = (first_response != state.first_response, resolution != state.resolution,
               new_idle != old_idle)
    held, next_at = state.held, state.next_at
    met: list[Timer] = []
    if first_response_at is not None and state.first_response_at is None:
        met.append(Timer(at, _FR_MET, "first_response_met", elapsed=first_response.used))
    if closures > state.closures:
        met.append(Timer(at, _RES_MET, f"resolution_met:{closures}", elapsed=resolution.used))
    if met or any(changed):
        plan = _plan(terms)
        taken = state.fired_mask | _held_mask(plan, held)
        if next_at is not None and next_at < at:
            # Deadlines of the changed clocks that passed before the fact happened; they stay.
            passed, _ = _scan(plan, calendar, state.first_response if changed[0] else None,
                              state.resolution if changed[1] else None,
                              old_idle if changed[2] else None, (), taken, at, strict=True)
            held += (*passed, *met)
            _, next_at = _scan(plan, calendar, first_response, resolution, new_idle, held,
                               state.fired_mask, None)
        elif next_at is None or all(
                low is None or low > next_at for low in _old_bounds(plan, state, old_idle,
                                                                    changed, taken)):
            # The earliest pending instant did not come from a changed clock, so it still
            # stands: only the changed clocks (and met targets) can now come sooner.
            held += tuple(met)
            _, next_at = _scan(plan, calendar, first_response if changed[0] else None,
                               resolution if changed[1] else None,
                               new_idle if changed[2] else None, tuple(met), taken, None,
                               earliest=next_at)
        else:
            held += tuple(met)
            _, next_at = _scan(plan, calendar, first_response, resolution, new_idle, held,
                               state.fired_mask, None)
    return SlaState(state.ticket_id, terms, state.tier_reason, state.rule, state.started_at, at,
                    last_activity_at, first_response, resolution, first_response_at, waiting,
                    status, closed, closures, held, state.fired_mask, next_at)


def due(state: SlaState) -> datetime | None:
    """The next instant at which :func:`fire` has something to say; ``None`` if nothing is
    pending (the ticket is closed, or every signal has fired)."""
    return state.next_at


def fire(state: SlaState, now: datetime) -> tuple[SlaState, list[SlaSignal]]:
    """Every signal due at or before ``now`` that has not fired yet, in deadline order, and the
    state that remembers them. Firing again at the same or a later ``now`` repeats nothing."""
    now = _utc(now)
    (ticket_id, terms, tier_reason, rule, started_at, as_of, last_activity_at, first_response,
     resolution, first_response_at, waiting, status, closed, closures, held, fired_mask,
     next_at) = state
    if next_at is None or next_at > now:
        return state, []
    plan = _plan(terms)
    due_now, next_at = _scan(plan, terms.calendar, first_response, resolution,
                             None if plan.idle is None else _idle_from(state), held, fired_mask,
                             now)
    if not due_now:  # a stale next_at (the policy changed under a stored state): correct it
        return state._replace(next_at=next_at), []
    due_now.sort()
    signals = [_signal(state, plan, t) for t in due_now]
    bits = plan.bits
    for timer in due_now:
        fired_mask |= bits.get(timer.key, 0)
    if held:
        held = tuple(t for t in held if t.at > now)
    last = due_now[-1].at
    return _tuple(SlaState, (ticket_id, terms, tier_reason, rule, started_at,
                             last if last > as_of else as_of, last_activity_at, first_response,
                             resolution, first_response_at, waiting, status, closed, closures,
                             held, fired_mask, next_at)), signals


_tuple = tuple.__new__
"""Builds a named tuple from a tuple of its fields without its ``__new__``'s Python-level call
(``SlaState`` and ``Timer`` are built once per fact, firing and deadline)."""


# ----------------------------------------------------------------------------- scheduling


def _utc(at: datetime) -> datetime:
    """Instants are kept in UTC (datetimes sharing a ``tzinfo`` compare by wall clock)."""
    if at.tzinfo is UTC:
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise CalendarError(f"SLA instants must be timezone-aware, got {at.isoformat()}")
    return at.astimezone(UTC)


def _scan(plan: _Plan, calendar: BusinessCalendar, first_response: Stopwatch | None,
          resolution: Stopwatch | None, idle_from: datetime | None, held: tuple[Timer, ...],
          fired_mask: int, bound: datetime | None, strict: bool = False,
          earliest: datetime | None = None) -> tuple[list[Timer], datetime | None]:
    """The pending timers at or before ``bound`` (before it when ``strict``; none when it is
    ``None``), unordered, and the earliest pending instant after it. Pending: ``held``, and the
    deadlines of the running clocks given (``None`` leaves a clock out) that are neither fired
    nor held. ``earliest`` is a pending instant known from elsewhere (the result is no later).

    Calendar arithmetic is spent only where it can change the answer. A clock's deadlines are
    taken in budget order up to the first one after ``bound`` (the later ones cannot come
    sooner), and business time never runs faster than real time, so ``since + remaining`` is a
    lower bound on a deadline: a deadline whose bound is past ``bound`` is not due, and one
    whose bound is past the earliest instant found so far is not computed at all."""
    taken = fired_mask | _held_mask(plan, held) if held else fired_mask
    always_open = plan.always_open
    found: list[Timer] = []
    later = earliest
    ahead: list[tuple[datetime, datetime, timedelta]] = []
    """(lower bound, since, remaining business time) of each clock's next deadline after
    ``bound``, computed only if it could be the earliest."""
    for timer in held:
        if bound is not None and (timer.at < bound if strict else timer.at <= bound):
            found.append(timer)
        elif later is None or timer.at < later:
            later = timer.at
    for watch, deadlines in ((first_response, plan.first_response),
                             (resolution, plan.resolution)):
        if watch is None or watch.since is None:
            continue
        since, used = watch.since, watch.used
        for deadline in deadlines:
            if deadline.bit & taken:
                continue
            remaining = deadline.budget - used
            if remaining < ZERO:
                remaining = ZERO
            low = since + remaining
            if bound is None or (low >= bound if strict else low > bound):
                ahead.append((low, since, remaining))
                break
            if always_open:  # the deadline is ``low``, just found due: not compared again
                found.append(_tuple(Timer, (low, deadline.rank, deadline.key, None, None)))
                continue
            at = calendar.add(since, remaining)
            if at < bound if strict else at <= bound:
                found.append(_tuple(Timer, (at, deadline.rank, deadline.key, None, None)))
                continue
            if later is None or at < later:
                later = at
            break
    idle = plan.idle
    if idle is not None and idle_from is not None and not idle.bit & taken:
        low = idle_from + idle.budget
        if bound is None or (low >= bound if strict else low > bound):
            ahead.append((low, idle_from, idle.budget))
        else:
            at = low if always_open else calendar.add(idle_from, idle.budget)
            if at < bound if strict else at <= bound:
                found.append(Timer(at, idle.rank, idle.key, since=idle_from))
            elif later is None or at < later:
                later = at
    if ahead:
        ahead.sort(key=_lower_bound)
        for low, since, remaining in ahead:
            if later is not None and low >= later:
                break
            at = low if always_open else calendar.add(since, remaining)
            if later is None or at < later:
                later = at
    return found, later


def _old_bounds(plan: _Plan, state: SlaState, idle_from: datetime | None,
                changed: tuple[bool, bool, bool], taken: int) -> list[datetime | None]:
    """Lower bounds of the earliest pending deadline of each changed clock of ``state``
    (``None``: the clock had none pending)."""
    bounds: list[datetime | None] = []
    for change, watch, deadlines in ((changed[0], state.first_response, plan.first_response),
                                     (changed[1], state.resolution, plan.resolution)):
        if change and watch.since is not None:
            remaining = next((d.budget for d in deadlines if not d.bit & taken), None)
            bounds.append(None if remaining is None
                          else watch.since + max(remaining - watch.used, ZERO))
    idle = plan.idle
    if changed[2] and idle is not None and idle_from is not None and not idle.bit & taken:
        bounds.append(idle_from + idle.budget)
    return bounds


def _lower_bound(candidate: tuple[datetime, datetime, timedelta]) -> datetime:
    return candidate[0]


# ----------------------------------------------------------------------------- explaining


_S = TypeVar("_S", bound=SlaSignal)


def _new(cls: type[_S], fields: dict[str, Any]) -> _S:
    """``cls(**fields)`` for the frozen signal dataclasses (which have no ``__post_init__``),
    without their ``__init__``'s one ``object.__setattr__`` per field: a third of what firing a
    signal costs. ``fields`` names every field, in the dataclass's order."""
    signal = object.__new__(cls)
    signal.__dict__.update(fields)
    return signal


def _signal(state: SlaState, plan: _Plan, timer: Timer) -> SlaSignal:
    terms = state.terms
    key = timer.key
    texts = plan.texts
    warning = plan.warnings.get(key)
    if warning is not None:
        threshold, text = warning
        first = key.startswith("first_response")
        return _new(FirstResponseWarning if first else ResolutionWarning, {
            "ticket_id": state.ticket_id, "key": key, "at": timer.at,
            "reason": _reason(plan, key, text, state.tier_reason), "tier": terms.tier,
            "team": terms.team, "threshold": threshold,
            "target": terms.first_response if first else terms.resolution})
    if key == "first_response_breached":
        return _new(FirstResponseBreached, {
            "ticket_id": state.ticket_id, "key": key, "at": timer.at,
            "reason": _reason(plan, key, texts["fr_breached"], state.tier_reason),
            "tier": terms.tier, "team": terms.team, "target": terms.first_response})
    if key == "resolution_breached":
        return _new(ResolutionBreached, {
            "ticket_id": state.ticket_id, "key": key, "at": timer.at,
            "reason": _reason(plan, key, texts["res_breached"], state.tier_reason),
            "tier": terms.tier, "team": terms.team, "target": terms.resolution})
    why = f" [{state.tier_reason}]"
    business = texts["business"]
    elapsed = timer.elapsed or ZERO
    if key == "first_response_met":
        fr = terms.first_response
        on_time = elapsed <= fr and not state.fired_mask & plan.bits["first_response_breached"]
        return _new(FirstResponseMet, {
            "ticket_id": state.ticket_id, "key": key, "at": timer.at,
            "reason": f"first agent reply after {format_duration(elapsed)} of {business}: "
                      f"{_verdict(elapsed, fr)} the {texts['fr']} first-response target{why}",
            "tier": terms.tier, "team": terms.team, "target": fr, "elapsed": elapsed,
            "on_time": on_time})
    if key.startswith("resolution_met:"):
        res = terms.resolution
        on_time = elapsed <= res and not state.fired_mask & plan.bits["resolution_breached"]
        return _new(ResolutionMet, {
            "ticket_id": state.ticket_id, "key": key, "at": timer.at,
            "reason": f"closed after {format_duration(elapsed)} on the resolution clock "
                      f"({business}, pauses excluded): {_verdict(elapsed, res)} the "
                      f"{texts['res']} resolution target{why}",
            "tier": terms.tier, "team": terms.team, "target": res, "elapsed": elapsed,
            "on_time": on_time})
    return _escalation(state, plan, timer, why)


_REASONS = 4096
"""Entries a plan's memo holds before it is cleared: fixed reasons (tier reasons that quote a
deal size can be many), fired keys by mask and masks by fired keys (stored snapshots written
under other policies can name any keys)."""


def _reason(plan: _Plan, key: str, text: str, tier_reason: str) -> str:
    """``text`` and the tier's reason, as a signal says it."""
    reasons = plan.reasons
    reason = reasons.get((key, tier_reason))
    if reason is None:
        if len(reasons) >= _REASONS:
            reasons.clear()
        reason = reasons[(key, tier_reason)] = f"{text} [{tier_reason}]"
    return reason


def _verdict(elapsed: timedelta, target: timedelta) -> str:
    if elapsed <= target:
        return f"{format_duration(target - elapsed)} inside"
    return f"{format_duration(elapsed - target)} late against"


def _escalation(state: SlaState, plan: _Plan, timer: Timer, why: str) -> Escalation:
    terms = state.terms
    level = int(timer.key.split(":")[1])
    if level == 1 and terms.level1 is not None:
        reason = _reason(plan, timer.key, plan.texts["escalation:1"], state.tier_reason)
        escalate_to, actions = terms.level1.escalate_to, terms.level1.actions
    elif level == 2 and terms.level2 is not None:
        reason = _reason(plan, timer.key, plan.texts["escalation:2"], state.tier_reason)
        escalate_to, actions = terms.level2.escalate_to, terms.level2.actions
    elif level == 3 and terms.level3 is not None:
        since = timer.since or state.last_activity_at
        escalate_to, actions = terms.level3.escalate_to, terms.level3.actions
        reason = (f"level 3 to {escalate_to}: no activity for "
                  f"{format_duration(terms.level3.idle_for)} of {plan.texts['business']} "
                  f"since {since.isoformat()}; {plan.texts['plan:3']}{why}")
    else:  # the policy changed under a pending timer; should not happen with shared terms
        raise AssertionError(f"escalation level {level} is not configured")
    values = {"level": level, "reason": reason, "ticket_id": state.ticket_id,
              "tier": terms.tier, "team": terms.team, "escalate_to": escalate_to}
    rendered = tuple(_render(a, values) for a in actions)
    return _new(Escalation, {
        "ticket_id": state.ticket_id, "key": timer.key, "at": timer.at, "reason": reason,
        "tier": terms.tier, "team": terms.team, "level": level, "escalate_to": escalate_to,
        "actions": rendered})


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
