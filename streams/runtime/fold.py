"""Folding one raw record into ticket events: the logic every runtime's worker calls.

The Faust agent (``streams.runtime.kafka.worker``) and any other runtime hand each record of
``telegram.updates`` and ``salesforce.changes`` to :meth:`UpdateFolder.fold` with a
:class:`ThreadStore`. Three kinds of record are folded: a raw Telegram update, a Salesforce
change (``streams.schema.salesforce``) and the reply mirror's ``TopicRecreated``. The folder parses
the envelope, routes the update to its thread, asks the pure core to decide, and returns the
events to append plus the new thread state. The caller appends the events durably *first* and
stores the state *after*, so a crash in between re-derives the same events (same ``event_id``
and ``seq``) instead of losing them; consumers drop them by ``seq``.
"""

from __future__ import annotations

import collections
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Protocol

import structlog
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, ValidationError

from streams.core.intake import (
    IntakeRules,
    decide_form,
    decide_relay,
    decide_topic_link,
    expire_form,
    form_due,
    relay_of,
    topic_thread,
    wants_form,
)
from streams.core.pilot import EVERYTHING, PilotGate
from streams.core.requests import OpenRequestedTicket, decide_request, request_thread
from streams.core.routing import Routed, route
from streams.core.service_level import fire_due, fire_stored_clock, next_due, track
from streams.core.templates import NO_TEMPLATES, TemplateCatalog
from streams.core.ticket import (
    ApplyAssignment,
    ApplyKnowledgeResult,
    ApplySalesforceChange,
    Command,
    DecisionError,
    ReceiveTelegramMessage,
    RecordTopicCheck,
    RelinkTopic,
    ThreadState,
    decide,
    fold,
    initial_state,
    thread_key_of,
)
from streams.runtime.agent_tool_metrics import count as count_agent_tools
from streams.runtime.bus import Outgoing
from streams.runtime.milestone_fold import fold_milestone, parse_milestone
from streams.runtime.phone_fold import file_manual_ticket, fold_phone_shared, phone_forwards
from streams.runtime.quarantine import describe, format_traceback, is_infrastructure
from streams.runtime.state_codec import NO_DEADLINE, Clock, stored_clocks, with_clocks
from streams.schema.commands import Assignment, Tick
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import RawTelegramUpdate, TopicChecked, TopicRecreated
from streams.schema.events import SourceRef, TicketEvent
from streams.schema.intake_records import INTAKE_RECORD_KINDS, IntakeRelay, IntakeTopicRecord
from streams.schema.knowledge import KnowledgeSearched
from streams.schema.phone_links import PhoneShared
from streams.schema.salesforce import SalesforceChange
from streams.schema.telegram import Update
from streams.schema.ticket_requests import TicketRequest
from streams.sla.policy import SlaPolicy

UPDATES_FOLDED = Counter("telecase_updates_folded_total", "Raw updates folded", ["outcome"])
UPDATES_SKIPPED = Counter("telecase_updates_skipped_total", "Raw updates that open no ticket",
                          ["reason"])
SLA_TICKS = Counter("telecase_sla_ticks_total", "Clock ticks folded", ["outcome"])
SLA_EVENTS = Counter("telecase_sla_events_total", "SLA events decided (started, warnings, "
                     "breaches, met targets, escalations)", ["type"])
DEAD_LETTERS = Counter("telecase_dead_letters_total", "Records sent to the dead-letter topic",
                       ["consumer", "reason"])
PILOT_SKIPPED = Counter("telecase_pilot_skipped_total", "Updates from chats the pilot rollout "
                        "does not enable (kept raw, no ticket)", ["scope"])
INTAKE_TOPIC_MESSAGES = Counter("telecase_intake_topic_messages_total", "Messages in the "
                                "team's intake group: relayed to a customer, or why not",
                                ["outcome"])
log = structlog.get_logger("telecase.worker")


_FOLDED_WITH_EVENTS = UPDATES_FOLDED.labels("events")
_FOLDED_DUPLICATE = UPDATES_FOLDED.labels("duplicate")
"""The outcomes of nearly every update folded, labelled once (``labels`` takes a lock and
checks its values on each call: some 1% of the fold)."""


_NO_OFFSET = timedelta(0)
_TYPE_OF = operator.attrgetter("type")


def _count_sla(events: list[TicketEvent]) -> None:
    """One increment per type (a tick fires up to 50,000 events: ``labels`` per event was
    some 4% of a restart's firing). Most updates decide no SLA event: nothing is counted,
    without a ``Counter`` built (3% of the fold)."""
    if not events:
        return
    for kind, count in collections.Counter(map(_TYPE_OF, events)).items():
        SLA_EVENTS.labels(kind).inc(count)


class _ParsedEnvelope(BaseModel):
    """A ``RawTelegramUpdate`` with its update parsed in the same pass (the fast path)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bot_id: int
    received_at: datetime
    update: Update


class ThreadStore(Protocol):
    """A worker's thread states for one batch. A store may also have
    ``stored(thread_key) -> bytes | None``: the thread's stored bytes
    (:mod:`~streams.runtime.state_codec`) when nothing earlier in the batch changed it, else
    ``None``. A clock tick then fires the thread's SLA timers from them without decoding the
    whole state, and returns the new bytes in :attr:`Folded.encoded`."""

    def get(self, thread_key: str) -> ThreadState | None: ...

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        """Keys of the threads of ``partition`` with SLA timers due by ``at`` (the worker's
        timer index, and any state decided earlier in the batch)."""
        ...


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int
    key: str | None


@dataclass
class Folded:
    """The result of folding one record."""

    events: list[TicketEvent] = field(default_factory=list)
    thread: ThreadState | None = None
    """The thread's new state, to store after the events are durable (``None``: unchanged)."""
    others: tuple[ThreadState, ...] = ()
    """Further states to store with it (a recreated topic's thread pointing at the ticket's;
    the threads a clock tick fired timers in)."""
    skipped: str | None = None
    dead_letter: DeadLetter | None = None
    forwards: tuple[Outgoing, ...] = ()
    """Records for ``ticket.commands``, keyed by chat, appended with the events (an intake
    topic's agent message, carried to the partition of the ticket it answers)."""
    encoded: tuple[tuple[str, bytes], ...] = ()
    """States to store already encoded, ``(thread_key, bytes)``: the threads a clock tick
    fired from their stored bytes (see :class:`ThreadStore`). None of them is in
    :attr:`states`."""

    @property
    def states(self) -> tuple[ThreadState, ...]:
        """Every state to store, in order."""
        if self.thread is None:
            return self.others
        return (self.thread, *self.others)


_Decidable = Command | IntakeRelay | IntakeTopicRecord | OpenRequestedTicket
"""What :meth:`UpdateFolder._decide` takes: a ticket core command, or an intake record
(decided by ``streams.core.intake``)."""


class UpdateFolder:
    """Parses, routes and decides; holds no state of its own. ``agents`` is the roster of
    agents' Telegram user ids (their messages are agent replies); with an ``sla_policy`` the
    tickets' SLA clocks run (``streams.core.service_level``) and ``ticket.commands`` ticks
    fire them. ``templates`` are the response templates agents' ``/t <name>`` may use (the
    composition root may swap in a fresh catalog at any time)."""

    consumer = "ticket-folder"

    def __init__(self, agents: frozenset[int] = frozenset(),
                 sla_policy: SlaPolicy | None = None,
                 templates: TemplateCatalog = NO_TEMPLATES, *,
                 intake: IntakeRules | None = None, pilot: PilotGate = EVERYTHING) -> None:
        """``intake``: bot intake forms in private chats and the team's intake group
        (``streams.core.intake``; ``None``: neither). ``pilot``: which chats open tickets
        (``streams.core.pilot``)."""
        self.agents = agents
        self.sla_policy = sla_policy
        self.templates = templates
        self.intake = intake
        self.pilot = pilot

    @property
    def needs_timers(self) -> bool:
        """Whether the worker keeps a timer index and ticks (SLA clocks, form timeouts)."""
        return self.sla_policy is not None or (self.intake is not None and self.intake.forms)

    def timer_due(self, state: ThreadState) -> datetime | None:
        """When ``state`` next has something for a clock tick (``None``: nothing)."""
        dues = [next_due(state) if self.sla_policy is not None else None,
                form_due(state, self.intake.timeout) if self.intake is not None else None]
        return min((d for d in dues if d is not None), default=None)

    def fold(self, payload: bytes, store: ThreadStore, where: Position,
             now: datetime) -> Folded:
        """Fold one record of ``telegram.updates`` or ``salesforce.changes``. ``now`` only
        stamps dead letters. A record the fold raises on is dead-lettered (``fold_failed``,
        with the traceback); only a fault of the store's infrastructure propagates
        (:func:`~streams.runtime.quarantine.is_infrastructure`)."""
        try:
            return self._fold(payload, store, where, now)
        except Exception as exc:
            if is_infrastructure(exc):
                raise
            log.error("worker.fold_failed", topic=where.topic, partition=where.partition,
                      offset=where.offset, error=describe(exc),
                      traceback=format_traceback(exc))
            return self._dead("fold_failed", exc, payload, where, now)

    def _fold(self, payload: bytes, store: ThreadStore, where: Position,
              now: datetime) -> Folded:
        try:
            envelope = _ParsedEnvelope.model_validate_json(payload)
        except ValidationError:
            return self._fold_other(payload, store, where, now)
        update = envelope.update
        routed = route(update, envelope.bot_id, self.agents)
        if not isinstance(routed, Routed):
            UPDATES_SKIPPED.labels(routed.reason).inc()
            UPDATES_FOLDED.labels("skipped").inc()
            return Folded(skipped=routed.reason)
        if self.intake is not None and routed.chat_id == self.intake.topic_chat_id:
            return self._relay(routed, update.update_id, envelope.received_at, store)
        refused = self.pilot.refuses(routed)
        if refused is not None:
            PILOT_SKIPPED.labels(refused).inc()
            UPDATES_SKIPPED.labels("not_in_pilot").inc()
            UPDATES_FOLDED.labels("skipped").inc()
            log.debug("pilot.skipped", scope=refused, chat_id=routed.chat_id,
                      update_id=update.update_id)
            return Folded(skipped="not_in_pilot")
        state = store.get(routed.thread_key)
        if state is not None and state.alias_of is not None:  # a recreated topic
            state = store.get(state.alias_of) or initial_state(state.alias_of)
        state = state or initial_state(routed.thread_key)
        command = ReceiveTelegramMessage(update.update_id, routed, envelope.received_at,
                                         self.templates, self.intake.phone_region
                                         if self.intake is not None else None)
        if self.intake is not None and wants_form(command, state, self.intake):
            return self._decide(command, state, payload, where, now,
                                partial(decide_form, rules=self.intake))
        return self._decide(command, state, payload, where, now)

    _TICKET_RECORDS: ClassVar[dict[str, tuple[type[BaseModel], str,
                                              Callable[[Any], Command]]]] = {
        "telecase.assignment": (Assignment, "invalid_assignment",
                                lambda r: ApplyAssignment(r, r.at)),
        "telecase.topic_checked": (TopicChecked, "invalid_topic_check",
                                   lambda r: RecordTopicCheck(r, r.checked_at)),
        "salesforce.knowledge_searched": (KnowledgeSearched, "invalid_knowledge_searched",
                                          lambda r: ApplyKnowledgeResult(r, r.searched_at)),
    }
    """Records about one ticket that become one command: ``kind`` -> (model, dead-letter
    reason when it does not validate, the command)."""

    def _fold_other(self, payload: bytes, store: ThreadStore, where: Position,
                    now: datetime) -> Folded:
        """Everything that is not a raw update: the slow path, also for bad records (it says
        which layer is wrong)."""
        try:
            kind = json.loads(payload).get("kind")
        except (ValueError, AttributeError):
            kind = None
        if kind == "telecase.tick":
            try:
                tick = Tick.model_validate_json(payload)
            except ValidationError as exc:
                return self._dead("invalid_tick", exc, payload, where, now)
            return self._tick(tick, store, where)
        if kind == "telecase.ticket_request":  # a person opens a ticket (streams.core.requests)
            try:
                request = TicketRequest.model_validate_json(payload)
                key = request_thread(request)
            except (ValidationError, ValueError) as exc:
                return self._dead("invalid_ticket_request", exc, payload, where, now)
            state = store.get(key) or initial_state(key)
            region = self.intake.phone_region if self.intake is not None else None
            folded = self._decide(OpenRequestedTicket(request, request.at, region), state,
                                  payload, where, now, decide_request)
            # a caller's phone goes into its directory (streams.core.phone_links)
            folded.events, folded.thread, folded.others = file_manual_ticket(
                (folded.events, folded.thread, folded.others), store.get, request.at)
            return folded
        if kind == "telecase.phone_shared":  # a customer's own phone (streams.core.phone_links)
            try:
                shared = PhoneShared.model_validate_json(payload)
            except ValidationError as exc:
                return self._dead("invalid_phone_shared", exc, payload, where, now)
            return Folded(*fold_phone_shared(shared, store.get, shared.at))
        if kind in self._TICKET_RECORDS:
            model, reason, command_of = self._TICKET_RECORDS[kind]
            try:
                record: Any = model.model_validate_json(payload)
                key = thread_key_of(record.ticket_id)
            except (ValidationError, ValueError) as exc:
                return self._dead(reason, exc, payload, where, now)
            state = store.get(key) or initial_state(key)
            return self._decide(command_of(record), state, payload, where, now)
        if kind in INTAKE_RECORD_KINDS:
            return self._fold_intake(kind, payload, store, where, now)
        if kind == "salesforce.milestone":  # Salesforce the SLA clock of record (issue 17)
            return self._milestone(payload, store, where, now)
        if kind in ("salesforce.change", "telecase.topic_recreated"):
            model = SalesforceChange if kind == "salesforce.change" else TopicRecreated
            try:
                record = model.model_validate_json(payload)
                key = thread_key_of(record.ticket_id)
            except (ValidationError, ValueError) as exc:
                return self._dead(f"invalid_{kind.split('.')[1]}", exc, payload, where, now)
            state = store.get(key) or initial_state(key)
            if isinstance(record, SalesforceChange):
                return self._decide(ApplySalesforceChange(record, record.observed_at,
                                                          self.templates),
                                    state, payload, where, now)
            folded = self._decide(RelinkTopic(record, record.recreated_at), state, payload,
                                  where, now)
            if not folded.events:
                return folded
            alias = ThreadState(thread_key=f"{record.chat_id}:t{record.new_thread_id}",
                                alias_of=key)
            return Folded(events=folded.events, thread=folded.thread, others=(alias,))
        try:
            RawTelegramUpdate.model_validate_json(payload)
        except ValidationError as exc:
            return self._dead("invalid_envelope", exc, payload, where, now)
        try:
            _ParsedEnvelope.model_validate_json(payload)
        except ValidationError as exc:
            return self._dead("invalid_update", exc, payload, where, now)
        raise AssertionError("a record both failed and passed validation")

    def _tick(self, tick: Tick, store: ThreadStore, where: Position) -> Folded:
        """Fire the SLA timers and intake form timeouts due by the tick's instant in its
        partition."""
        if not self.needs_timers:
            return Folded(skipped="no_sla_policy")
        at = tick.at
        # The same instant in UTC, once: the SLA clock works in UTC and would convert a
        # parsed tick's instant (pydantic's own zone) for every thread it fires.
        due_by = at if at.tzinfo is None else at.astimezone(UTC)
        if at.tzinfo is not None and at.utcoffset() == _NO_OFFSET:
            # A tick in UTC (the workers' own) is recorded as ``due_by``: the same instant and
            # the same JSON, in the standard library's zone, whose offset the events' encoding
            # need not look up again for each event the tick fires (issue 19).
            at = due_by
        source = SourceRef(kind="clock", tick_at=at)
        events: list[TicketEvent] = []
        sla_events: list[TicketEvent] = []
        states: list[ThreadState] = []
        encoded: list[tuple[str, bytes]] = []
        stored_of: Callable[[str], bytes | None] | None = getattr(store, "stored", None)
        for key in store.due_threads(where.partition, at):
            raw = stored_of(key) if stored_of is not None else None
            fired_stored = (self._fire_stored(raw, due_by, at, source)
                            if raw is not None else None)
            if fired_stored is not None:
                fired_events, new_raw = fired_stored
                if new_raw is not None:
                    events += fired_events
                    sla_events += fired_events
                    encoded.append((key, new_raw))
                continue
            state = store.get(key)
            if state is None or state.alias_of is not None:
                continue
            fired: list[TicketEvent] = []
            new_state = state
            if self.intake is not None:
                fired, new_state = expire_form(state, at, self.intake, at, source)
            if self.sla_policy is not None:
                sla_fired, new_state = fire_due(new_state, due_by, self.sla_policy, at,
                                                source)
                sla_events += sla_fired
                fired += sla_fired
            if new_state is not state:
                events += fired
                states.append(new_state)
        _count_sla(sla_events)
        SLA_TICKS.labels("fired" if events else "idle").inc()
        return Folded(events=events, others=tuple(states), encoded=tuple(encoded))

    def _fire_stored(self, raw: bytes, due_by: datetime, at: datetime, source: SourceRef
                     ) -> tuple[list[TicketEvent], bytes | None] | None:
        """A tick's firing of one thread from its stored bytes: the events and the new bytes
        (``None``: unchanged), as :func:`~streams.core.service_level.fire_due` would decide
        them on the decoded state. ``None`` when the thread needs its whole state: bytes of
        an older version, a ticket whose clocks have not started (starting them reads the
        ticket), or an open intake form (its timeout reads the form)."""
        policy = self.sla_policy
        stored = stored_clocks(raw)
        if policy is None or stored is None:
            return None
        if stored.sla_due == NO_DEADLINE and stored.form_activity == NO_DEADLINE:
            return [], None  # nothing pending (an alias thread, or every clock stopped)
        if self.intake is not None and stored.form_activity != NO_DEADLINE:
            return None
        events: list[TicketEvent] = []
        moved: list[Clock] = []
        changed = False
        for ticket_id, seq, row in stored.clocks:
            if row is None:
                return None
            fired = fire_stored_clock(ticket_id, seq, row, due_by, policy, at, source)
            if fired is None:
                moved.append((ticket_id, seq, row))
                continue
            emitted, row, last = fired
            events += emitted
            moved.append((ticket_id, last, row))
            changed = True
        return events, with_clocks(stored, moved) if changed else None

    def _milestone(self, payload: bytes, store: ThreadStore, where: Position,
                   now: datetime) -> Folded:
        if self.sla_policy is None:
            return Folded(skipped="no_sla_policy")
        try:
            record, key = parse_milestone(payload)
        except ValueError as exc:
            return self._dead("invalid_milestone", exc, payload, where, now)
        try:
            events, thread = fold_milestone(record, key, store.get, self.sla_policy)
        except DecisionError as exc:
            return self._dead("decision_error", exc, payload, where, now)
        _count_sla(events)
        UPDATES_FOLDED.labels("events" if events else "duplicate").inc()
        return Folded(events=events, thread=thread)

    def _relay(self, routed: Routed, update_id: int, received_at: datetime,
               store: ThreadStore) -> Folded:
        """A message in the team's intake group opens nothing; a rostered agent's message in
        an intake topic goes to its ticket's partition (``streams.core.intake``)."""
        relay = relay_of(routed, store.get(routed.thread_key), update_id, received_at)
        if isinstance(relay, str):
            INTAKE_TOPIC_MESSAGES.labels(relay).inc()
            UPDATES_FOLDED.labels("skipped").inc()
            return Folded(skipped=relay)
        INTAKE_TOPIC_MESSAGES.labels("relayed").inc()
        UPDATES_FOLDED.labels("relayed").inc()
        return Folded(forwards=(Outgoing(relay.routing_key().encode(), relay.to_bytes()),))

    def _fold_intake(self, kind: str, payload: bytes, store: ThreadStore, where: Position,
                     now: datetime) -> Folded:
        """The intake messenger's topic records and the worker's own relays."""
        try:
            record = (IntakeRelay if kind == "telecase.intake_relay"
                      else IntakeTopicRecord).model_validate_json(payload)
            key = thread_key_of(record.ticket_id)
        except (ValidationError, ValueError) as exc:
            return self._dead(f"invalid_{kind.split('.')[1]}", exc, payload, where, now)
        if isinstance(record, IntakeTopicRecord) and record.side == "topic":
            topic_key = f"{record.chat_id}:t{record.thread_id}"
            return Folded(thread=topic_thread(record, store.get(topic_key)))
        state = store.get(key) or initial_state(key)
        if isinstance(record, IntakeRelay):
            return self._decide(record, state, payload, where, now, decide_relay)
        return self._decide(record, state, payload, where, now, decide_topic_link)

    def _decide(self, command: _Decidable, state: ThreadState, payload: bytes,
                where: Position, now: datetime,
                decider: Callable[[Any, ThreadState], list[TicketEvent]] | None = None,
                ) -> Folded:
        """``decider``: who decides (default: the ticket core's ``decide``)."""
        try:
            events = decider(command, state) if decider is not None else decide(
                command, state)  # type: ignore[arg-type]
            new_state = fold(events, state)
            if events and self.sla_policy is not None:
                sla_events, new_state = track(new_state, events, self.sla_policy,
                                              events[0].recorded_at)
                _count_sla(sla_events)
                events += sla_events
        except DecisionError as exc:
            return self._dead("decision_error", exc, payload, where, now)
        (_FOLDED_WITH_EVENTS if events else _FOLDED_DUPLICATE).inc()
        count_agent_tools(events)
        return Folded(events=events, thread=new_state if events else None,
                      forwards=phone_forwards(events))

    def _dead(self, reason: str, exc: Exception, payload: bytes, where: Position,
              now: datetime) -> Folded:
        DEAD_LETTERS.labels(self.consumer, reason).inc()
        raised = reason == "fold_failed"  # the fold's own fault: where it failed
        if isinstance(exc, ValidationError) and not raised:  # never str(exc): it quotes bodies
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                               for e in exc.errors()[:3])
        elif raised:
            detail = describe(exc)[:500]
        else:
            detail = str(exc)[:500] or type(exc).__name__
        return Folded(dead_letter=DeadLetter(
            reason=reason, detail=detail, consumer=self.consumer, topic=where.topic,
            partition=where.partition, offset=where.offset, key=where.key,
            payload_b64=DeadLetter.encode_payload(payload), failed_at=now,
            traceback=format_traceback(exc) if raised else None))
