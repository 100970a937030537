"""The live desk: routing and assignment as a consumer of the log, in either runtime.

Inputs, over the :class:`~streams.runtime.bus.Bus` (the embedded log or Kafka):

- ``ticket.events`` (every partition), mapped to desk commands exactly as the what-if does
  (:mod:`streams.sla.replay`): a ticket is routed when its SLA starts (``sla.started``; its
  ``next_due_at`` is the desk's deadline), with the text of the first ``customer.message_received``
  before it; without an SLA policy (no ``sla.started`` ever comes) at the ticket's first event
  after ``ticket.opened``. Closings release the ticket, ``case.owner_changed`` is an owner change
  made in Salesforce, ``sla.escalated`` asks for its ``reassign`` actions. ``ticket.routed`` and
  ``ticket.assigned`` are the desk's own decisions coming back: they are not acted on again.
- ``desk.requests`` (one partition): people's claims, reassignments and availability changes.
  A request whose ``request_id`` the desk saw recently is a redelivery and is skipped.

Each decision about a ticket becomes a :class:`~streams.schema.commands.Assignment` in
``ticket.commands``, keyed ``chat:<chat id>`` (the chat's partition), for the ticket worker to
record as ``ticket.routed`` / ``ticket.assigned``. ``decision_id`` is
``<input topic>:<partition>:<offset>#<n>``: deterministic, so deciding the same input again
from the same state gives the same ids. What the records say:

============================  ============  ===============================================
decision                      action        agent / Salesforce User
============================  ============  ===============================================
``TicketRouted``              routed        (queue, rule)
``TicketAssigned``            assigned      the agent, their User id; ``assigned_by`` = source
``TicketQueued``              unassigned    none: it waits for capacity
``TicketUnassigned``          unassigned    none (only when no new owner follows in the same
                                            command: a move is one ``assigned`` record)
``TicketOwnedExternally``     assigned      none; the owner's id (a user or Salesforce queue)
released, availability set,   (no record)   logged only: the ticket worker already knows of
reassignment blocked                        the closing; the others change no ticket
============================  ============  ===============================================

Input that cannot be decided (a request or event naming a ticket the desk never routed or an
agent the policy does not list, an undecodable record, a request missing a field) is logged
and counted (:attr:`DeskWorker.skipped`, ``telecase_desk_skipped_total{reason}``), never fatal.
A record the desk raises on is dead-lettered (``desk_failed``, with the traceback) and passed,
the rest of its batch decided without it; its store unavailable is retried
(:mod:`streams.runtime.quarantine`).

Durability. The desk's state (:class:`DeskSnapshot`: the :class:`DeskState`, tickets opened but
not routed yet, recent request ids) and the input positions are stored together, atomically,
by a :class:`DeskStore`, after the batch's Assignment records were appended:

- embedded (:class:`EmbeddedDeskStore`): records, state and positions in one
  :meth:`EmbeddedLog.transact`, so every input is decided exactly once;
- Kafka (``streams.runtime.kafka.desk_store.SqlDeskStore``): the records are appended
  (``acks=all``), then state and positions are written in one database transaction. A crash
  between the two re-decides the batch after the restart, from the state saved before it: the
  same decisions with the same
  ``decision_id``, which the ticket worker records once and only where they differ from the
  ticket. (Should input from another topic or partition be decided first after the restart,
  the re-decided batch may come out differently; its records then follow the earlier ones on
  the chat's partition, and the last one wins.)

On start, when tickets are waiting, the desk decides ``PolicyChanged`` once, so capacity added
by an edited policy is used at once. A closed ticket that reopens (``topic.reopened``, or
``case.status_changed`` to an open status) comes back to whoever held it at its closing
(:mod:`streams.assignment.desk`), recorded as ``assigned`` to them, which the ticket worker
records only where it differs from the ticket.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import structlog
from prometheus_client import Counter as PromCounter
from pydantic import TypeAdapter, ValidationError

from streams.assignment import commands as cmd
from streams.assignment.decisions import (
    AgentAvailabilitySet,
    Decision,
    ReassignmentBlocked,
    TicketAssigned,
    TicketOwnedExternally,
    TicketQueued,
    TicketReleased,
    TicketReturned,
    TicketRouted,
    TicketUnassigned,
)
from streams.assignment.desk import DeskState, decide, fold, initial_state
from streams.assignment.errors import AssignmentError, UnknownAgent, UnknownTicket
from streams.assignment.policy import AssignmentPolicy
from streams.core.ticket import DecisionError, thread_key_of
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.lag import consume
from streams.runtime.quarantine import dead_letter, isolate, retry_infrastructure
from streams.runtime.topics import DESK_REQUESTS, TICKET_EVENTS, TopicNames
from streams.schema import events as ev
from streams.schema.commands import Assignment, DeskRequest
from streams.sla.policy import ReassignCase
from streams.sla.replay import desk_commands, escalation_commands, route_ticket
from streams.sla.signals import Escalation

log = structlog.get_logger("telecase.ops.desk")
GROUP = "telecase-desk"
STAGE = "desk"
"""How the desk's dead letters and logs name it."""
STATE_SPACE = "desk"
STATE_KEY = b"state"
RECENT_REQUESTS = 1000
"""How many request ids the desk remembers to drop a redelivered request."""

SKIPPED = PromCounter("telecase_desk_skipped_total", "Desk input that could not be decided "
                      "(logged, not acted on)", ["reason"])
DECISIONS = PromCounter("telecase_desk_assignments_total", "Assignment records the desk "
                        "appended to ticket.commands", ["action"])


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class PendingTicket:
    """A ticket opened but not routed yet: what routing will need of it."""

    opened: ev.TicketOpened
    first_message: str | None = None


@dataclass(frozen=True)
class DeskSnapshot:
    desk: DeskState = field(default_factory=initial_state)
    pending: Mapping[str, PendingTicket] = field(default_factory=dict)
    recent_requests: tuple[str, ...] = ()


_SNAPSHOT: TypeAdapter[DeskSnapshot] = TypeAdapter(DeskSnapshot)


def dump_snapshot(snapshot: DeskSnapshot) -> bytes:
    return _SNAPSHOT.dump_json(snapshot)


def load_snapshot(data: bytes | str) -> DeskSnapshot:
    return _SNAPSHOT.validate_json(data)


Positions = dict[str, dict[int, int]]
"""``topic -> partition -> next offset``."""


class DeskStore(Protocol):
    async def load(self) -> tuple[DeskSnapshot | None, Positions]:
        """The saved snapshot (``None``: never saved) and positions of every topic."""
        ...

    async def save(self, records: Sequence[Outgoing], snapshot: DeskSnapshot, topic: str,
                   positions: dict[int, int]) -> None:
        """Append ``records`` to ``ticket.commands``, then store the snapshot and the topic's
        positions atomically."""
        ...


class EmbeddedDeskStore:
    """Records, state and positions in one transaction of the embedded log."""

    def __init__(self, log_: EmbeddedLog, names: TopicNames) -> None:
        self.log, self.names = log_, names

    async def load(self) -> tuple[DeskSnapshot | None, Positions]:
        raw = self.log.get_state(STATE_SPACE, STATE_KEY)
        positions = {topic: await self.log.committed(GROUP, topic)
                     for topic in (self.names.ticket_events, self.names.desk_requests)}
        return (None if raw is None else load_snapshot(raw)), positions

    async def save(self, records: Sequence[Outgoing], snapshot: DeskSnapshot, topic: str,
                   positions: dict[int, int]) -> None:
        state = dump_snapshot(snapshot)

        def write(db: sqlite3.Connection) -> None:
            if records:
                self.log.append_in(db, self.names.ticket_commands, records)
            self.log.put_states_in(db, STATE_SPACE, [(STATE_KEY, state)])
            if positions:
                self.log.commit_in(db, GROUP, topic, positions)

        await self.log.transact(write)


# ----------------------------------------------------------------------------- mapping


def escalation_of(event: ev.SlaEscalated) -> Escalation:
    """The SLA signal an ``sla.escalated`` event recorded, with its ``reassign`` actions (the
    only ones the desk acts on)."""
    actions = tuple(ReassignCase(do="reassign", to=a.to or "next_available_agent")
                    for a in event.actions if a.do == "reassign")
    return Escalation(ticket_id=event.ticket_id, key=event.signal, at=event.occurred_at,
                      reason=event.reason, tier=event.tier, team=event.team,
                      level=event.level, escalate_to=event.escalate_to, actions=actions)


def request_command(request: DeskRequest) -> cmd.Command:
    """The desk command a person's request asks for (``ValueError``: it is incomplete)."""
    match request.action:
        case "claim":
            if request.ticket_id is None or request.agent_id is None:
                raise ValueError("a claim needs ticket_id and agent_id")
            return cmd.Claim(request.ticket_id, request.agent_id, request.at)
        case "reassign":
            if request.ticket_id is None:
                raise ValueError("a reassign needs ticket_id")
            why = request.reason or "by hand"
            return cmd.Reassign(request.ticket_id, request.agent_id,
                                f"{why} (requested by {request.requested_by})", request.at)
        case "availability":
            if request.agent_id is None or request.availability is None:
                raise ValueError("an availability change needs agent_id and availability")
            return cmd.AgentAvailabilityChanged(request.agent_id, request.availability,
                                                request.at)


def chat_of(ticket_id: str) -> int:
    """The chat a ticket lives in, from its id (``tg:<chat>:...``)."""
    return int(thread_key_of(ticket_id).split(":", 1)[0])


def assignment_records(decisions: Sequence[Decision], policy: AssignmentPolicy,
                       origin: str, first: int = 0) -> list[Assignment]:
    """The ``ticket.commands`` records for one command's decisions; the n-th decision's id is
    ``<origin>#<first + n>``. Raises ``DecisionError``/``ValueError`` for a ticket id that
    names no chat."""
    out: list[Assignment] = []
    for n, d in enumerate(decisions, start=first):
        base = {"decision_id": f"{origin}#{n}", "reason": d.reason, "at": d.at}
        match d:
            case TicketRouted():
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="routed", queue=d.queue, rule=d.rule, **base))
            case TicketAssigned():
                user = policy.agents[d.agent_id].salesforce_user_id
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="assigned", queue=d.queue, agent_id=d.agent_id,
                                      salesforce_user_id=user, assigned_by=d.source, **base))
            case TicketQueued():
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="unassigned", queue=d.queue, **base))
            case TicketUnassigned():
                if not _new_owner_follows(decisions, n - first, d.ticket_id):
                    out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                          action="unassigned", **base))
            case TicketOwnedExternally():
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="assigned", salesforce_user_id=d.salesforce_user_id,
                                      assigned_by="salesforce", **base))
            case TicketReturned(agent_id=str(agent_id)):
                user = policy.agents[agent_id].salesforce_user_id
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="assigned", queue=d.queue, agent_id=agent_id,
                                      salesforce_user_id=user, assigned_by="policy", **base))
            case TicketReturned(external_owner=str(owner)):
                out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                      action="assigned", salesforce_user_id=owner,
                                      assigned_by="salesforce", **base))
            case TicketReturned():
                if not _new_owner_follows(decisions, n - first, d.ticket_id):
                    out.append(Assignment(ticket_id=d.ticket_id, chat_id=chat_of(d.ticket_id),
                                          action="unassigned", queue=d.queue, **base))
            case TicketReleased() | AgentAvailabilitySet() | ReassignmentBlocked():
                pass
    return out


def _new_owner_follows(decisions: Sequence[Decision], i: int, ticket_id: str) -> bool:
    return any(isinstance(d, TicketAssigned | TicketOwnedExternally) and d.ticket_id == ticket_id
               for d in decisions[i + 1:])


# ----------------------------------------------------------------------------- the worker


@dataclass
class _Batch:
    """One batch being decided: a working copy of the snapshot and what it led to."""

    desk: DeskState
    pending: dict[str, PendingTicket]
    recent: list[str]
    records: list[Assignment] = field(default_factory=list)

    def snapshot(self) -> DeskSnapshot:
        return DeskSnapshot(self.desk, dict(self.pending),
                            tuple(self.recent[-RECENT_REQUESTS:]))


class DeskWorker:
    def __init__(self, bus: Bus, names: TopicNames, policy: AssignmentPolicy, store: DeskStore,
                 *, sla_enabled: bool, batch_max: int = 500, linger: float = 0.02,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """``sla_enabled``: an SLA policy is configured, so tickets are routed at their
        ``sla.started``; otherwise at their first event after the opening. ``clock`` stamps
        only the ``PolicyChanged`` decided at start."""
        self.bus, self.names, self.policy, self.store = bus, names, policy, store
        self.sla_enabled, self.batch_max, self.linger, self.clock = (sla_enabled, batch_max,
                                                                      linger, clock)
        self.snapshot = DeskSnapshot()
        self.positions: Positions = {}
        self.skipped: Counter[str] = Counter()
        self.appended = 0
        self._one_batch_at_a_time = asyncio.Lock()

    async def start(self) -> None:
        """Load the saved state and positions; hand out waiting tickets once (the policy may
        have changed since the state was saved)."""
        snapshot, self.positions = await retry_infrastructure(self.store.load, stage=STAGE)
        self.snapshot = snapshot or DeskSnapshot()
        if self.snapshot.desk.waiting():
            where = ";".join(f"{topic}={','.join(f'{p}:{o}' for p, o in sorted(pos.items()))}"
                             for topic, pos in sorted(self.positions.items()))
            batch = self._batch()
            self._decide(batch, cmd.PolicyChanged(self.clock()), f"start:{where}")
            if batch.records:
                await self._save(batch, self.names.ticket_events, {})
        log.info("desk.started", open=len(self.snapshot.desk.tickets),
                 waiting=len(self.snapshot.desk.waiting()),
                 pending=len(self.snapshot.pending))

    async def run(self, stop: asyncio.Event) -> None:
        """Decide both inputs until ``stop``, one batch at a time whichever topic it is from,
        so every batch decides against the state the previous one stored."""
        await self.start()

        async def follow(topic: str) -> None:
            positions = dict(self.positions.get(topic, {}))

            async def handle(partition: int, records: list[Record]) -> bool:
                async with self._one_batch_at_a_time:
                    await isolate(
                        records, lambda batch: self._decide_batch(topic, partition, batch),
                        lambda rec, exc: self._quarantine(topic, rec, exc), stage=STAGE,
                        origin=lambda rec: rec, stop=stop)
                return True

            await consume(self.bus, topic, positions, handle, stop, group=GROUP,
                          batch_max=self.batch_max, linger=self.linger)

        await asyncio.gather(follow(self.names.ticket_events),
                             follow(self.names.desk_requests))

    # -- one batch -----------------------------------------------------------------------

    async def _decide_batch(self, topic: str, partition: int,
                            records: Sequence[Record]) -> None:
        batch = self._batch()
        for rec in records:
            self._one(batch, topic, rec)
        await self._save(batch, topic, {partition: records[-1].offset + 1})

    async def _quarantine(self, topic: str, rec: Record, exc: Exception) -> None:
        """``rec`` made the desk raise: dead-lettered (durably), then passed."""
        letter = dead_letter(rec, STAGE, "desk_failed", exc, datetime.now(UTC))
        await self.bus.append(self.names.dead_letters, [Outgoing(
            (letter.key or "").encode(), letter.model_dump_json().encode(), partition=0)])
        SKIPPED.labels("desk_failed").inc()
        self.skipped["desk_failed"] += 1
        await self._save(self._batch(), topic, {rec.partition: rec.offset + 1})

    def _batch(self) -> _Batch:
        s = self.snapshot
        return _Batch(s.desk, dict(s.pending), list(s.recent_requests))

    async def _save(self, batch: _Batch, topic: str, positions: dict[int, int]) -> None:
        outgoing = [Outgoing(a.routing_key().encode(), a.to_bytes()) for a in batch.records]
        snapshot = batch.snapshot()
        await self.store.save(outgoing, snapshot, topic, positions)
        self.snapshot = snapshot
        self.positions.setdefault(topic, {}).update(positions)
        self.appended += len(outgoing)
        for a in batch.records:
            DECISIONS.labels(a.action).inc()
            log.debug("desk.assignment", ticket_id=a.ticket_id, action=a.action,
                     agent_id=a.agent_id, queue=a.queue, decision_id=a.decision_id)

    def _one(self, batch: _Batch, topic: str, rec: Record) -> None:
        base = TICKET_EVENTS if topic == self.names.ticket_events else DESK_REQUESTS
        origin = f"{base}:{rec.partition}:{rec.offset}"
        if base == TICKET_EVENTS:
            try:
                event = ev.decode_event(rec.value)
            except (ev.UnknownEventError, ValueError):
                self._skip("undecodable_event", origin)
                return
            commands = self._event_commands(batch, event)
        else:
            try:
                request = DeskRequest.model_validate_json(rec.value)
                if request.request_id in batch.recent:
                    self._skip("repeated_request", origin, request_id=request.request_id)
                    return
                batch.recent.append(request.request_id)
                commands = [request_command(request)]
            except (ValidationError, ValueError) as exc:
                self._skip("invalid_request", origin, error=str(exc).splitlines()[0])
                return
        n = 0
        for command in commands:
            n = self._decide(batch, command, origin, n)

    def _decide(self, batch: _Batch, command: cmd.Command, origin: str, first: int = 0) -> int:
        """Decide one command into the batch; the next decision number."""
        try:
            decisions = decide(batch.desk, command, self.policy)
        except UnknownTicket:
            self._skip("unknown_ticket", origin, ticket_id=getattr(command, "ticket_id", None))
            return first
        except UnknownAgent:
            self._skip("unknown_agent", origin, agent_id=getattr(command, "agent_id", None))
            return first
        except AssignmentError as exc:
            self._skip("undecidable", origin, error=str(exc))
            return first
        try:
            records = assignment_records(decisions, self.policy, origin, first)
        except (DecisionError, ValueError) as exc:
            self._skip("ticket_without_chat", origin, error=str(exc))
            return first
        batch.desk = fold(batch.desk, decisions)
        batch.records += records
        for d in decisions:
            if isinstance(d, AgentAvailabilitySet | ReassignmentBlocked | TicketReturned):
                log.info("desk.decision", kind=type(d).__name__, reason=d.reason,
                         origin=origin)
            elif isinstance(d, TicketReleased):  # every closing: the log has it already
                log.debug("desk.decision", kind=type(d).__name__, reason=d.reason,
                          origin=origin)
        return first + len(decisions)

    def _skip(self, reason: str, origin: str, **context: object) -> None:
        self.skipped[reason] += 1
        SKIPPED.labels(reason).inc()
        log.warning("desk.skipped", reason=reason, origin=origin, **context)

    # -- ticket events -> desk commands --------------------------------------------------

    def _event_commands(self, batch: _Batch, event: ev.TicketEvent) -> list[cmd.Command]:
        tid, at = event.ticket_id, event.occurred_at
        match event:
            case ev.TicketRouted() | ev.TicketAssigned():
                return []  # the desk's own decisions, recorded by the ticket worker
            case ev.TicketOpened():
                known = tid in batch.desk.tickets or tid in batch.desk.closed
                if not known and tid not in batch.pending:
                    batch.pending[tid] = PendingTicket(event)
                return []
            case ev.SlaEscalated():
                return escalation_commands(escalation_of(event), self.policy)
            case ev.SlaStarted() if self.sla_enabled:
                pending = batch.pending.pop(tid, None)
                if pending is None:
                    return []  # routed already, or opened before the log's retention
                return [route_ticket(pending.opened, pending.first_message or "",
                                     event.next_due_at, at)]
        pending = batch.pending.get(tid)
        if pending is None:
            return desk_commands(event, at)
        if not self.sla_enabled:
            del batch.pending[tid]
            first = event.text if isinstance(event, ev.CustomerMessageReceived) else ""
            return [route_ticket(pending.opened, first, None, at), *desk_commands(event, at)]
        if isinstance(event, ev.CustomerMessageReceived) and pending.first_message is None:
            batch.pending[tid] = replace(pending, first_message=event.text)
        elif any(isinstance(c, cmd.TicketClosed) for c in desk_commands(event, at)):
            del batch.pending[tid]  # closed before its SLA started: never routed
        return []

