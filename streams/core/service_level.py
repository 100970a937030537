"""The SLA clocks of a thread's tickets, driven by their events and by the clock (pure).

The ticket worker calls :func:`track` after the ticket core decided a command (with the
events just folded into the thread's state), and :func:`fire_due` when a clock tick reaches
the thread (``ticket.commands``). Both return the SLA events to append after the core's, and
the state with each ticket's clocks (``TicketState.sla``) moved on. :func:`next_due` tells the
worker's timer index when to tick the thread next. Time is always an argument: a tick's ``at``
is the instant in the record, so folding the same records again gives the same events.

Decisions, written down (the what-if in ``streams.sla.replay`` follows the same rules):

- **Starting.** Tier rules read the ticket's first message, so a ticket's clocks start at its
  first event after ``ticket.opened`` (in a private chat or the General topic, the message that
  opened it; in a forum topic, the first message after the topic's creation), running from the
  opening instant. A forum topic with no message within :data:`START_GRACE` of telecase
  *receiving* its opening (``TicketState.received_at``, the opening's ``recorded_at``: the
  envelope's arrival) starts with an empty first message at the first tick after that, so a
  topic Telegram redelivers late (after an outage) still waits the grace for its first message
  instead of starting empty at the next tick. The start is an ``sla.started`` event naming the
  tier and the rule that chose it.
- **From when the deadlines run: arrival when late.** The clocks run from the opening's date
  (the customer's wait) when telecase received it within
  :data:`~streams.sla.replay.ARRIVAL_SKEW` (30 s: delivery and clock skew), else from its
  arrival (:func:`~streams.sla.replay.clock_start`): a helpdesk measures from when the request
  reached it, and a redelivery hours late must not breach before an agent could have seen it.
  The same holds for an outreach ticket's start (its customer's first answer).
- **Firing.** After the events of one command, everything due up to the latest event's
  ``occurred_at`` fires (a met target at once; a deadline the event came after, too); a tick
  fires everything due up to its ``at``. Each signal is an event stamped with the instant it
  became true (``occurred_at``), so a signal fired late after downtime says when it was due.
- **Outreach** (``TicketState.outbound``, ``streams.core.requests``): telecase spoke first,
  so nothing is owed until the customer answers. The clocks start at the customer's first
  message, running from that message (no start grace); the agent's opening message and
  anything before the answer move nothing.
- **Salesforce's targets** (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``): a
  ``salesforce.milestone`` record (:func:`adopt_target`) whose target differs from what the
  clock follows becomes ``sla.target_adopted`` and the clock's deadlines follow it
  (:func:`~streams.sla.clock.adopt`); what that makes due fires in the same decision. A clock
  that stopped for good (the first response given, the ticket closed) or has not started
  takes nothing: telecase completes those milestones itself. A ticket or clock telecase does
  not know is refused (:class:`~streams.core.ticket.DecisionError`).
- **A policy that appears later** starts the clocks of tickets already open at their next event
  or tick, from their opening: a long-open ticket breaches at once, which is the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from streams.core.intake import is_form_id, policy_facts
from streams.core.ticket import DecisionError, ThreadState, TicketState
from streams.core.unvalidated import whole_builder
from streams.schema.events import (
    Actor,
    CustomerMessageReceived,
    EscalationAction,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaTargetAdopted,
    SlaWarning,
    SourceRef,
    TicketAssigned,
    TicketEvent,
    TicketOpened,
    TicketRouted,
)
from streams.schema.milestones import SalesforceMilestone
from streams.sla import clock
from streams.sla.clock import SalesforceTarget, SlaState
from streams.sla.policy import SlaPolicy, TicketFacts
from streams.sla.replay import clock_start, sla_facts
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
from streams.sla.snapshot import NEXT_AT, Row, SlaSnapshot, freeze_row, thaw_row

__all__ = ["START_GRACE", "AdoptMilestoneTarget", "adopt_target", "fire_due", "next_due",
           "track"]

START_GRACE = timedelta(seconds=60)
"""How long a forum ticket waits for its first message before its clocks start without one,
counted from when telecase received its opening."""

_ACTOR = Actor(kind="system", display_name="telecase SLA clock")


def track(state: ThreadState, events: list[TicketEvent], policy: SlaPolicy,
          recorded_at: datetime) -> tuple[list[TicketEvent], ThreadState]:
    """The SLA events caused by ``events`` (already folded into ``state``), and the state with
    them and the tickets' clocks."""
    clocks: dict[str, SlaState] = {}
    latest: dict[str, tuple[datetime, SourceRef]] = {}
    started: list[str] = []
    for event in events:
        facts = _facts(event)
        if facts is None:
            continue
        ticket = state.ticket(event.ticket_id)
        if ticket is None:  # pragma: no cover - the core folded the event into the state
            continue
        sla = clocks.get(ticket.ticket_id)
        if sla is None:
            if ticket.sla is None:
                if ticket.outbound and not isinstance(event, CustomerMessageReceived):
                    continue  # outreach: no clock until the customer answers
                text = event.text if isinstance(event, CustomerMessageReceived) else ""
                sla = _start(ticket, policy, text,
                             clock_start(event.occurred_at, event.recorded_at)
                             if ticket.outbound else None)
                started.append(ticket.ticket_id)
            else:
                sla = ticket.sla.thaw(ticket.ticket_id, policy)
        for fact in facts:
            sla = clock.observe(sla, fact, event.occurred_at)
        clocks[ticket.ticket_id] = sla
        at = max(event.occurred_at, latest[ticket.ticket_id][0]) if ticket.ticket_id in latest \
            else event.occurred_at
        latest[ticket.ticket_id] = (at, event.source)
    out: list[TicketEvent] = []
    for ticket_id, sla in clocks.items():
        ticket = state.ticket(ticket_id)
        assert ticket is not None
        at, source = latest[ticket_id]
        emitted: list[TicketEvent] = []
        if ticket_id in started:
            emitted.append(_started(ticket, sla, ticket.seq + 1, recorded_at, source))
        sla, signals = clock.fire(sla, at)
        emitted += _signal_events(ticket.ticket_id, signals, ticket.seq + len(emitted),
                                  recorded_at, source)
        state = _store(state, ticket, sla, emitted)
        out += emitted
    return out, state


def fire_due(state: ThreadState, now: datetime, policy: SlaPolicy,
             recorded_at: datetime, source: SourceRef) -> tuple[list[TicketEvent], ThreadState]:
    """Everything due by ``now`` in the thread (the clock's tick), and the state after it."""
    out: list[TicketEvent] = []
    for ticket in state.tickets:
        if ticket.sla is not None:
            moved = fire_clock(ticket.ticket_id, ticket.seq,
                               ticket.sla.thaw(ticket.ticket_id, policy), now, recorded_at,
                               source)
            if moved is None:
                continue
            emitted, fired, seq = moved
            state = _stored(state, ticket, SlaSnapshot.freeze(fired), seq)
            out += emitted
            continue
        if (ticket.status != "open" or ticket.outbound
                or _arrival(ticket) + START_GRACE > now):
            continue
        sla = _start(ticket, policy, "")
        emitted = [_started(ticket, sla, ticket.seq + 1, recorded_at, source)]
        fired, signals = clock.fire(sla, now)
        emitted += _signal_events(ticket.ticket_id, signals, ticket.seq + len(emitted),
                                  recorded_at, source)
        state = _store(state, ticket, fired, emitted)
        out += emitted
    return out, state


def fire_clock(ticket_id: str, seq: int, sla: SlaState, now: datetime,
               recorded_at: datetime, source: SourceRef
               ) -> tuple[list[TicketEvent], SlaState, int] | None:
    """:func:`fire_due`'s part for one ticket whose clocks run: what is due by ``now`` in
    the clocks ``sla`` of ticket ``ticket_id`` (whose last event is ``seq``), as the events,
    the clocks after them and the ticket's new last ``seq``; ``None`` when nothing changes.
    It reads nothing else of the ticket, so a worker can fire a stored state's clocks without
    decoding the rest of it (:func:`fire_stored_clock`)."""
    if sla.next_at is None:
        return None
    fired, signals = clock.fire(sla, now)
    if not signals and fired.next_at == sla.next_at:
        return None
    emitted = _signal_events(ticket_id, signals, seq, recorded_at, source)
    return emitted, fired, emitted[-1].seq if emitted else seq


def fire_stored_clock(ticket_id: str, seq: int, row: Row, now: datetime, policy: SlaPolicy,
                      recorded_at: datetime, source: SourceRef
                      ) -> tuple[list[TicketEvent], Row, int] | None:
    """:func:`fire_clock` of a ticket's clocks as a stored state holds them (a
    :data:`~streams.sla.snapshot.Row`, :func:`~streams.runtime.state_codec.stored_clocks`),
    the clocks after it as a row. Clocks with nothing due by ``now`` are not thawed: at a
    tick, most of a thread's tickets have nothing due."""
    next_at = row[NEXT_AT]
    if next_at is None or next_at > now:  # what ``clock.fire`` answers first
        return None
    moved = fire_clock(ticket_id, seq, thaw_row(row, ticket_id, policy), now, recorded_at,
                       source)
    if moved is None:
        return None
    emitted, fired, last = moved
    return emitted, freeze_row(fired), last


def next_due(state: ThreadState) -> datetime | None:
    """When the thread next has something for :func:`fire_due` (``None``: nothing pending)."""
    soonest: datetime | None = None
    for ticket in state.tickets:
        if ticket.sla is not None:
            at = ticket.sla.next_at
        elif ticket.status == "open" and not ticket.outbound:
            at = _arrival(ticket) + START_GRACE
        else:
            continue
        if at is not None and (soonest is None or at < soonest):
            soonest = at
    return soonest


@dataclass(frozen=True)
class AdoptMilestoneTarget:
    """Follow a CaseMilestone Salesforce reported (Salesforce the clock of record)."""

    record: SalesforceMilestone
    received_at: datetime


_CLOCKS = ("first_response", "resolution")


def adopt_target(command: AdoptMilestoneTarget, state: ThreadState, policy: SlaPolicy
                 ) -> tuple[list[TicketEvent], ThreadState]:
    """``sla.target_adopted`` and the signals it makes due, and the state after them; nothing
    when the clock already follows this target (or cannot follow any: see the module)."""
    record = command.record
    ticket = state.ticket(record.ticket_id)
    if ticket is None:
        raise DecisionError(f"salesforce milestone for unknown ticket {record.ticket_id}")
    if record.clock not in _CLOCKS:
        raise DecisionError(f"salesforce milestone {record.milestone_type!r} "
                            f"({record.milestone_id}) names no SLA clock: {record.clock!r}")
    if ticket.sla is None:
        return [], state
    sla = ticket.sla.thaw(ticket.ticket_id, policy)
    first = record.clock == "first_response"
    if sla.closed or (first and sla.first_response_at is not None):
        return [], state
    signal = f"{record.clock}_breached"
    target = SalesforceTarget(record.clock, record.target_at, record.violated)
    terms = sla.terms
    known = next((t for t in getattr(terms, "targets", ()) if t.clock == record.clock), None)
    fired = signal in sla.fired
    if known is not None and known.target_at == target.target_at and (
            known.violated == target.violated or fired):
        return [], state  # already followed (a re-read, a restarted reader)
    previous = clock.breach_at(sla, record.clock)
    at = record.observed_at
    adopted = clock.adopt(sla, target, at)
    budget = adopted.terms.first_response if first else adopted.terms.resolution
    source = SourceRef(kind="salesforce", change_id=f"milestone:{record.milestone_id}:"
                       f"{record.target_at.isoformat()}:{int(record.violated)}")
    fired_state, signals = clock.fire(adopted, adopted.as_of)
    name = record.clock.replace("_", " ")
    was = ("its breach already fired" if fired
           else f"telecase's deadline was {previous.isoformat()}" if previous
           else "telecase's clock was paused")
    why = (f"Salesforce is the clock of record: the {name} milestone "
           f"{record.milestone_type!r} is due {record.target_at.isoformat()}"
           f"{' and violated' if record.violated else ''}; {was}")
    emitted: list[TicketEvent] = [SlaTargetAdopted.model_validate({
        **_envelope(ticket.ticket_id, ticket.seq + 1, adopted.as_of, command.received_at,
                    source),
        "clock": record.clock, "signal": signal, "milestone_id": record.milestone_id,
        "target_at": record.target_at, "violated": record.violated,
        "previous_due_at": previous, "target": budget, "next_due_at": fired_state.next_at,
        "reason": why})]
    emitted += _signal_events(ticket.ticket_id, signals, ticket.seq + 1, command.received_at,
                              source)
    return emitted, _store(state, ticket, fired_state, emitted)


# ----------------------------------------------------------------------------- helpers


_NO_CLOCK_EVENTS = frozenset({TicketOpened, SlaStarted, SlaWarning, SlaBreached, SlaMet,
                              SlaEscalated, SlaTargetAdopted, TicketRouted, TicketAssigned})
"""Looked up by the event's type: every event model is a leaf (a test holds them to it), so
this is ``isinstance`` of any of them, without nine ``isinstance`` calls through pydantic's
``ABCMeta`` (0.6 us an event, some 1% of the fold)."""


def _facts(event: TicketEvent) -> list[clock.Fact] | None:
    """What the clock observes of an event (the what-if's mapping, ``sla_facts``); ``None``
    for events that neither start nor move it: the opening, and the SLA's and the desk's own
    events. Edits, renames, links and owner changes start the clocks and move nothing.
    An intake form's opening starts them at once: the form is its first message, and the
    tier rules read its answers. A form's own events belong to no ticket."""
    if isinstance(event, TicketOpened) and event.intake is not None:
        return []
    if type(event) in _NO_CLOCK_EVENTS or is_form_id(event.ticket_id):
        return None
    return sla_facts(event)


def _arrival(ticket: TicketState) -> datetime:
    """When telecase received the ticket's opening (its date in states stored before that
    was kept)."""
    return ticket.received_at or ticket.opened_at


def _start(ticket: TicketState, policy: SlaPolicy, first_message: str,
           since: datetime | None = None) -> SlaState:
    """The clocks, running from the opening, or its arrival when late (``since``: from the
    customer's first answer to an outreach ticket)."""
    facts = TicketFacts(ticket_id=ticket.ticket_id, channel=ticket.channel,
                        chat_id=ticket.chat_id, subject=ticket.subject,
                        first_message=first_message, **policy_facts(ticket.intake))
    return clock.start(facts, policy,
                       since or clock_start(ticket.opened_at, ticket.received_at))


def _store(state: ThreadState, ticket: TicketState, sla: SlaState,
           emitted: list[TicketEvent]) -> ThreadState:
    return _stored(state, ticket, SlaSnapshot.freeze(sla),
                   emitted[-1].seq if emitted else ticket.seq)


def _stored(state: ThreadState, ticket: TicketState, snapshot: SlaSnapshot,
            seq: int) -> ThreadState:
    updated = _copy(ticket, sla=snapshot, seq=seq)
    tickets = state.tickets
    if len(tickets) == 1 and tickets[0].ticket_id == ticket.ticket_id:  # most threads
        return _copy(state, tickets=(updated,))
    return _copy(state, tickets=tuple(updated if t.ticket_id == ticket.ticket_id else t
                                      for t in tickets))


_Frozen = TypeVar("_Frozen", TicketState, ThreadState)


def _copy(frozen: _Frozen, **changes: object) -> _Frozen:
    """``dataclasses.replace(frozen, **changes)`` without its ``__init__`` call, about seven
    times faster (a tick stores the clocks of every thread it fires: ``replace`` was some 40% of
    ``fire_due``; issue 19). Equal to it for these states: plain frozen dataclasses with no
    ``__post_init__``, no ``InitVar`` and every field in ``__init__``, so ``__init__`` would
    only set each attribute to the value copied here."""
    fields = vars(frozen)
    assert changes.keys() <= fields.keys(), "not a field of the state"
    copied = object.__new__(type(frozen))
    _set(copied, "__dict__", {**fields, **changes})  # one dict, built at its size
    return copied


def _envelope(ticket_id: str, seq: int, at: datetime, recorded_at: datetime,
              source: SourceRef) -> dict[str, object]:
    return {"event_id": f"{ticket_id}#{seq}", "ticket_id": ticket_id,
            "seq": seq, "occurred_at": at, "recorded_at": recorded_at, "source": source,
            "actor": _ACTOR}


def _started(ticket: TicketState, sla: SlaState, seq: int, recorded_at: datetime,
             source: SourceRef) -> SlaStarted:
    terms = sla.terms
    return SlaStarted.model_validate({
        **_envelope(ticket.ticket_id, seq, sla.started_at, recorded_at, source),
        "tier": terms.tier,
        "team": terms.team, "rule": sla.rule, "reason": sla.tier_reason,
        "first_response_target": terms.first_response,
        "resolution_target": terms.resolution, "next_due_at": sla.next_at})


def _signal_events(ticket_id: str, signals: list[SlaSignal], seq: int,
                   recorded_at: datetime, source: SourceRef) -> list[TicketEvent]:
    out: list[TicketEvent] = []
    for signal in signals:
        seq += 1
        how = _EVENT_OF.get(type(signal))
        if how is None:  # an escalation
            assert isinstance(signal, Escalation)
            out.append(SlaEscalated.model_validate({
                **_envelope(ticket_id, seq, signal.at, recorded_at, source),
                "signal": signal.key, "tier": signal.tier, "team": signal.team,
                "reason": signal.reason, "level": signal.level,
                "escalate_to": signal.escalate_to,
                "actions": tuple(EscalationAction.model_validate(a.model_dump())
                                 for a in signal.actions)}))
            continue
        clock_name, type_, version, build, kind = how
        fields = {  # one dict, in the model's field order (``_envelope``'s, then the signal's)
            "event_id": f"{ticket_id}#{seq}", "ticket_id": ticket_id,
            "seq": seq, "occurred_at": signal.at, "recorded_at": recorded_at,
            "source": source, "actor": _ACTOR, "signal": signal.key, "tier": signal.tier,
            "team": signal.team, "reason": signal.reason, "type": type_, "version": version,
            "clock": clock_name}
        if kind is _WARNING:
            fields["threshold"] = signal.threshold  # type: ignore[union-attr]
        fields["target"] = signal.target  # type: ignore[union-attr]
        if kind is _MET:
            fields["elapsed"] = signal.elapsed  # type: ignore[union-attr]
            fields["on_time"] = signal.on_time  # type: ignore[union-attr]
        out.append(build(fields))
    return out


_Model = type[SlaWarning | SlaBreached | SlaMet]
_Build = Callable[[dict[str, Any]], SlaWarning | SlaBreached | SlaMet]
_WARNING, _BREACH, _MET = "warning", "breach", "met"


def _event_of(model: _Model, clock_name: str, kind: str) -> tuple[str, str, int, _Build, str]:
    fields = model.model_fields
    # Each event built without pydantic's validation from the values the signal holds,
    # already what the model declares (``whole_builder``; validating was some 2 us of a
    # breach's 18 at a restart, issue 19). A test holds them equal to the validated ones, as
    # objects and as JSON.
    return (clock_name, fields["type"].default, fields["version"].default,
            whole_builder(model, frozenset({"type", "version"})), kind)


_EVENT_OF: dict[type[SlaSignal], tuple[str, str, int, _Build, str]] = {
    FirstResponseWarning: _event_of(SlaWarning, "first_response", _WARNING),
    FirstResponseBreached: _event_of(SlaBreached, "first_response", _BREACH),
    FirstResponseMet: _event_of(SlaMet, "first_response", _MET),
    ResolutionWarning: _event_of(SlaWarning, "resolution", _WARNING),
    ResolutionBreached: _event_of(SlaBreached, "resolution", _BREACH),
    ResolutionMet: _event_of(SlaMet, "resolution", _MET)}
"""A warning, breach or met target -> the clock it is about, the event it becomes (its type,
version and builder), and which fields the signal adds (by the signal's class: each
is a leaf; an escalation has none). One lookup a signal, rather than a check of its class
against each kind and the builder looked up apart: the signals of a restart's every overdue
timer go through it (issue 19)."""
_set = object.__setattr__
