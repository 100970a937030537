"""The desk as a Decider: ``decide(state, command, policy) -> decisions``, ``evolve(state, d)``.

The desk holds what routing and assignment need across tickets: each agent's availability (when
an event changed it; else the policy's default) and open tickets, each queue's round-robin cursor,
and each open ticket's queue, owner and waiting priority. Time is data: every command carries
``at`` (timezone-aware), and nothing here reads a clock. Every decision says why, in words.

The rules it keeps:

- The policy never assigns a ticket to an ``away`` or ``offline`` agent, nor to one at capacity
  (capacity counts every open ticket the agent owns, across queues).
- A ticket nobody can take waits (``TicketQueued``). Waiting tickets are ordered by the nearest
  SLA deadline; tickets without a deadline come after those with one, in arrival order. After
  every command that changes anything (and on ``PolicyChanged``) the desk hands waiting
  tickets, best first, to whoever can take them, so an agent who frees up (a ticket closed
  or moved away, back to ``available``, a larger capacity under a reloaded policy) at once
  takes the nearest-deadline ticket of their queues.
- Going ``away`` or ``offline`` keeps the agent's tickets: the SLA escalation moves a ticket that
  is not being answered (``Reassign``), which is explainable, instead of a status flicker
  reshuffling the desk.
- Humans win. A manual ``Claim``, a ``Reassign`` to a named agent and an owner change made in
  Salesforce are facts about who works the ticket, so they are respected even beyond capacity and
  whatever the agent's availability (the decision's reason says so). Capacity bounds only what
  the policy assigns: an agent above capacity gets nothing more until they drop below it.
- An owner in Salesforce who is no agent of the policy (another user, or a Salesforce queue) is
  recorded as the ticket's external owner: the ticket leaves the desk's agents (their capacity is
  freed) and does not wait; a later claim or reassign brings it back.
- Redelivery is harmless: routing a ticket the desk knows (open or closed) yields nothing; a
  claim, reassign or owner change that names the current owner yields nothing; a ``Reassign`` to
  the next agent with the same ``at`` as the last reassign is a redelivery and yields nothing.
  Commands about a closed ticket yield nothing; closing a ticket never routed yields nothing
  (per-ticket ordering puts the route first).
- A command naming a ticket never routed (claim, reassign, owner change) or an agent not in the
  policy cannot be decided and raises (:class:`UnknownTicket`, :class:`UnknownAgent`).

- A closed ticket that reopens (its topic reopened, its Case set back to an open status) comes
  back to whoever held it at its closing (``TicketReturned``): its agent, even beyond capacity or
  away (continuity: they know the conversation; an escalation moves it if it is not answered),
  or its owner outside the desk. A ticket held by nobody, or by an agent the policy no longer
  lists, waits and is handed out like any waiting ticket. Reopening an open ticket yields
  nothing.

Closed ticket ids are remembered (``DeskState.closed``) so a late redelivered route is ignored,
and the seats of the last :data:`RELEASED_KEPT` closed tickets (``DeskState.released``) so a
reopened one comes back to its holder; an older ticket that reopens is not on the desk again
(logged by the desk worker: an owner change or a claim brings nothing back either, as it was
never routed again). State is copied on write: a decision costs O(open tickets), fine for a desk
of thousands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import assert_never

from streams.assignment.choose import availability, choose, load_line
from streams.assignment.commands import (
    AgentAvailabilityChanged,
    Claim,
    Command,
    OwnerChangedInSalesforce,
    PolicyChanged,
    Reassign,
    RouteTicket,
    TicketClosed,
    TicketReopened,
)
from streams.assignment.decisions import (
    AgentAvailabilitySet,
    AssignmentSource,
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
from streams.assignment.errors import UnknownAgent, UnknownTicket
from streams.assignment.policy import (
    AssignmentPolicy,
    Availability,
    salesforce_key,
)

BY_STRATEGY: frozenset[AssignmentSource] = frozenset({"policy", "next_agent"})
RELEASED_KEPT = 5000
"""How many closed tickets' seats the desk keeps, newest first, to seat them again on reopening."""
_NO_DEADLINE = datetime.max.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class AgentSeat:
    availability: Availability | None = None
    """Set by an event; ``None``: the policy's default."""
    tickets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TicketSeat:
    queue: str
    arrival: int
    deadline: datetime | None
    routed_at: datetime
    agent_id: str | None = None
    external_owner: str | None = None
    last_reassign_at: datetime | None = None

    @property
    def waiting(self) -> bool:
        return self.agent_id is None and self.external_owner is None

    @property
    def priority(self) -> tuple[datetime, int]:
        """Nearest deadline first; no deadline after every deadline; then arrival order."""
        return (self.deadline or _NO_DEADLINE, self.arrival)


@dataclass(frozen=True)
class DeskState:
    agents: Mapping[str, AgentSeat] = field(default_factory=dict)
    tickets: Mapping[str, TicketSeat] = field(default_factory=dict)
    """Open tickets the desk routed."""
    cursors: Mapping[str, str] = field(default_factory=dict)
    """Queue -> the agent its strategy assigned last (round-robin continues after them)."""
    closed: frozenset[str] = frozenset()
    arrivals: int = 0
    released: Mapping[str, TicketSeat] = field(default_factory=dict)
    """The last :data:`RELEASED_KEPT` closed tickets' seats as they were at closing, oldest
    first."""

    def load(self, agent_id: str) -> int:
        seat = self.agents.get(agent_id)
        return 0 if seat is None else len(seat.tickets)

    def waiting(self, queue: str | None = None) -> list[str]:
        """Waiting tickets (of one queue, or all), best first."""
        found = [(t.priority, tid) for tid, t in self.tickets.items()
                 if t.waiting and (queue is None or t.queue == queue)]
        return [tid for _, tid in sorted(found)]


def initial_state() -> DeskState:
    return DeskState()


# ----------------------------------------------------------------------------- decide


def decide(state: DeskState, command: Command, policy: AssignmentPolicy) -> list[Decision]:
    """The decisions a command leads to under the policy (empty: nothing to do)."""
    desk = _Desk(state, policy, command.at)
    match command:
        case RouteTicket():
            desk.route(command)
        case TicketClosed():
            desk.close(command.ticket_id)
        case TicketReopened():
            desk.reopen(command.ticket_id)
        case AgentAvailabilityChanged():
            desk.set_availability(command.agent_id, command.availability)
        case Claim():
            desk.move_by_hand(command.ticket_id, command.agent_id, "claim", "claimed by hand")
        case Reassign() if command.agent_id is not None:
            desk.move_by_hand(command.ticket_id, command.agent_id, "reassign",
                              f"reassigned by hand: {command.reason}")
        case Reassign():
            desk.reassign_next(command.ticket_id, command.reason)
        case OwnerChangedInSalesforce():
            desk.owner_changed(command.ticket_id, command.salesforce_user_id)
        case PolicyChanged():
            pass
        case _:
            assert_never(command)
    if desk.out or isinstance(command, PolicyChanged):
        desk.hand_out_waiting()
    return desk.out


class _Desk:
    """Decides one command: emits decisions and evolves a working copy as it goes."""

    def __init__(self, state: DeskState, policy: AssignmentPolicy, at: datetime) -> None:
        self.state, self.policy, self.at = state, policy, at
        self.out: list[Decision] = []

    def emit(self, decision: Decision) -> None:
        self.out.append(decision)
        self.state = evolve(self.state, decision)

    def ticket(self, ticket_id: str) -> TicketSeat | None:
        """The open ticket; ``None`` when closed; raises when never routed."""
        if ticket_id in self.state.closed:
            return None
        seat = self.state.tickets.get(ticket_id)
        if seat is None:
            raise UnknownTicket(f"ticket {ticket_id!r} was never routed")
        return seat

    def agent(self, agent_id: str) -> None:
        if agent_id not in self.policy.agents:
            raise UnknownAgent(f"agent {agent_id!r} is not in the assignment policy")

    def route(self, command: RouteTicket) -> None:
        tid = command.ticket_id
        if tid in self.state.tickets or tid in self.state.closed:
            return
        queue, rule, why = self.policy.route(command.facts)
        self.emit(TicketRouted(tid, queue, rule, command.deadline, why, self.at))
        agent_id, why = choose(self.policy, self.state, queue)
        if agent_id is None:
            self.emit(TicketQueued(tid, queue, f"waiting for capacity: {why}", self.at))
        else:
            self.emit(TicketAssigned(tid, agent_id, queue, "policy", why, self.at))

    def close(self, ticket_id: str) -> None:
        seat = self.state.tickets.get(ticket_id)
        if seat is None:
            return
        held = f"; frees {seat.agent_id!r}" if seat.agent_id else ""
        self.emit(TicketReleased(ticket_id, seat.agent_id, f"ticket closed{held}", self.at))

    def reopen(self, ticket_id: str) -> None:
        seat = self.state.released.get(ticket_id)
        if ticket_id not in self.state.closed or seat is None:
            return
        agent_id, owner = seat.agent_id, seat.external_owner
        if agent_id is not None and agent_id not in self.policy.agents:
            why = f"ticket reopened; {agent_id!r}, who held it, is no longer in the policy: waits"
            agent_id = None
        elif agent_id is not None:
            why = self.despite(agent_id, f"ticket reopened: back to {agent_id!r}, who held it")
        elif owner is not None:
            why = f"ticket reopened: back to its owner {owner}, outside the desk"
        else:
            why = "ticket reopened; nobody held it: waits"
        self.emit(TicketReturned(ticket_id, seat.queue, agent_id, owner, why, self.at))

    def set_availability(self, agent_id: str, status: Availability) -> None:
        self.agent(agent_id)
        before = availability(self.policy, self.state, agent_id)
        if before == status:
            return
        keeps = (f"; keeps their {self.state.load(agent_id)} open tickets (escalations move them)"
                 if status != "available" else "")
        self.emit(AgentAvailabilitySet(agent_id, status, f"{before} -> {status}{keeps}", self.at))

    def move_by_hand(self, ticket_id: str, agent_id: str, source: AssignmentSource,
                     why: str) -> None:
        self.agent(agent_id)
        seat = self.ticket(ticket_id)
        if seat is None or seat.agent_id == agent_id:
            return
        reason = self.despite(agent_id, why)
        self.unassign(ticket_id, seat, f"{why}: moved to {agent_id!r}")
        self.emit(TicketAssigned(ticket_id, agent_id, seat.queue, source, reason, self.at))

    def despite(self, agent_id: str, why: str) -> str:
        """``why``, and what the policy would not have allowed: the agent's availability, their
        capacity (a human's move and a reopening are respected whatever they are)."""
        notes = [why]
        status = availability(self.policy, self.state, agent_id)
        if status != "available":
            notes.append(f"{agent_id!r} is {status}")
        if self.state.load(agent_id) >= self.policy.agents[agent_id].capacity:
            notes.append(f"beyond capacity ({load_line(self.policy, self.state, agent_id)} "
                         "before it)")
        return "; ".join(notes)

    def reassign_next(self, ticket_id: str, why: str) -> None:
        seat = self.ticket(ticket_id)
        if seat is None or seat.last_reassign_at == self.at:
            return
        current = () if seat.agent_id is None else (seat.agent_id,)
        agent_id, how = choose(self.policy, self.state, seat.queue, exclude=current)
        if agent_id is None:
            stays = f"stays with {seat.agent_id!r}" if seat.agent_id else "stays where it is"
            self.emit(ReassignmentBlocked(ticket_id, seat.queue, f"{why}: {how}; {stays}",
                                          self.at))
            return
        self.unassign(ticket_id, seat, f"{why}: moved to {agent_id!r}")
        self.emit(TicketAssigned(ticket_id, agent_id, seat.queue, "next_agent", f"{why}: {how}",
                                 self.at))

    def owner_changed(self, ticket_id: str, user_id: str) -> None:
        seat = self.ticket(ticket_id)
        if seat is None:
            return
        agent_id = self.policy.agent_for_salesforce_user(user_id)
        if agent_id is not None:
            why = f"owner set in Salesforce to {user_id} ({agent_id!r})"
            self.move_by_hand(ticket_id, agent_id, "salesforce", why)
            return
        owner = seat.external_owner
        if owner is not None and salesforce_key(owner) == salesforce_key(user_id):
            return
        why = f"owner set in Salesforce to {user_id}, who is no agent of the policy"
        self.unassign(ticket_id, seat, why)
        self.emit(TicketOwnedExternally(ticket_id, user_id, why, self.at))

    def unassign(self, ticket_id: str, seat: TicketSeat, why: str) -> None:
        if seat.agent_id is not None:
            self.emit(TicketUnassigned(ticket_id, seat.agent_id, why, self.at))

    def hand_out_waiting(self) -> None:
        """Give waiting tickets, best first, to whoever can take them now.

        One pass suffices: assigning only uses up capacity, so a ticket nobody could take
        earlier in the pass still has nobody later in it.
        """
        for tid in self.state.waiting():
            seat = self.state.tickets[tid]
            agent_id, why = choose(self.policy, self.state, seat.queue)
            if agent_id is not None:
                since = f"waited since {seat.routed_at.isoformat()}"
                if seat.deadline is not None:
                    since += f", deadline {seat.deadline.isoformat()}"
                self.emit(TicketAssigned(tid, agent_id, seat.queue, "policy",
                                         f"{since}; {why}", self.at))


# ----------------------------------------------------------------------------- evolve


def evolve(state: DeskState, decision: Decision) -> DeskState:
    """The desk after a decision (never mutates ``state``)."""
    match decision:
        case TicketRouted():
            routed = TicketSeat(decision.queue, state.arrivals, decision.deadline, decision.at)
            return replace(state, tickets={**state.tickets, decision.ticket_id: routed},
                           arrivals=state.arrivals + 1)
        case TicketQueued():
            return state  # a routed ticket without an owner is already waiting
        case TicketAssigned():
            ticket = _ticket(state, decision.ticket_id)
            agents = _drop(state.agents, ticket.agent_id, decision.ticket_id)
            agents = _add(agents, decision.agent_id, decision.ticket_id)
            cursors = state.cursors
            if decision.source in BY_STRATEGY:
                cursors = {**cursors, ticket.queue: decision.agent_id}
            reassigned = (decision.at if decision.source in ("next_agent", "reassign")
                          else ticket.last_reassign_at)
            ticket = replace(ticket, agent_id=decision.agent_id, external_owner=None,
                             last_reassign_at=reassigned)
            return replace(state, agents=agents, cursors=cursors,
                           tickets={**state.tickets, decision.ticket_id: ticket})
        case TicketUnassigned():
            ticket = _ticket(state, decision.ticket_id)
            return replace(state, agents=_drop(state.agents, decision.agent_id,
                                               decision.ticket_id),
                           tickets={**state.tickets,
                                    decision.ticket_id: replace(ticket, agent_id=None)})
        case TicketOwnedExternally():
            ticket = _ticket(state, decision.ticket_id)
            ticket = replace(ticket, agent_id=None, external_owner=decision.salesforce_user_id)
            return replace(state, agents=_drop(state.agents, ticket.agent_id, decision.ticket_id),
                           tickets={**state.tickets, decision.ticket_id: ticket})
        case TicketReleased():
            closing = state.tickets.get(decision.ticket_id)
            agents = state.agents if closing is None else _drop(state.agents, closing.agent_id,
                                                                decision.ticket_id)
            tickets = {tid: t for tid, t in state.tickets.items() if tid != decision.ticket_id}
            released = dict(state.released)
            if closing is not None:
                released.pop(decision.ticket_id, None)
                released[decision.ticket_id] = closing
                for old in list(released)[:max(0, len(released) - RELEASED_KEPT)]:
                    del released[old]
            return replace(state, agents=agents, tickets=tickets, released=released,
                           closed=state.closed | {decision.ticket_id})
        case TicketReturned():
            back = replace(state.released[decision.ticket_id], agent_id=decision.agent_id,
                           external_owner=decision.external_owner)
            agents = (state.agents if decision.agent_id is None
                      else _add(state.agents, decision.agent_id, decision.ticket_id))
            released = {t: s for t, s in state.released.items() if t != decision.ticket_id}
            return replace(state, agents=agents, released=released,
                           tickets={**state.tickets, decision.ticket_id: back},
                           closed=state.closed - {decision.ticket_id})
        case AgentAvailabilitySet():
            seat = state.agents.get(decision.agent_id, AgentSeat())
            seat = replace(seat, availability=decision.availability)
            return replace(state, agents={**state.agents, decision.agent_id: seat})
        case ReassignmentBlocked():
            ticket = replace(_ticket(state, decision.ticket_id), last_reassign_at=decision.at)
            return replace(state, tickets={**state.tickets, decision.ticket_id: ticket})
        case _:
            assert_never(decision)


def fold(state: DeskState, decisions: list[Decision]) -> DeskState:
    for decision in decisions:
        state = evolve(state, decision)
    return state


def _ticket(state: DeskState, ticket_id: str) -> TicketSeat:
    seat = state.tickets.get(ticket_id)
    if seat is None:
        raise UnknownTicket(f"decision about ticket {ticket_id!r}, which is not on the desk")
    return seat


def _drop(agents: Mapping[str, AgentSeat], agent_id: str | None,
          ticket_id: str) -> Mapping[str, AgentSeat]:
    seat = None if agent_id is None else agents.get(agent_id)
    if agent_id is None or seat is None or ticket_id not in seat.tickets:
        return agents
    return {**agents, agent_id: replace(seat, tickets=seat.tickets - {ticket_id})}


def _add(agents: Mapping[str, AgentSeat], agent_id: str,
         ticket_id: str) -> Mapping[str, AgentSeat]:
    seat = agents.get(agent_id, AgentSeat())
    return {**agents, agent_id: replace(seat, tickets=seat.tickets | {ticket_id})}
