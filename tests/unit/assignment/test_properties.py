"""Properties over random command sequences: after every step the desk keeps its promises.

- the policy assigns only to available agents below capacity who serve the queue (and have its
  skills); tickets an agent holds by the policy's choice never exceed their capacity;
- no ticket waits while some agent could take it, and an agent handed a ticket had no better
  (nearer-deadline) waiting ticket it could have taken instead;
- agents' loads agree with tickets' owners; closed tickets hold no seat; a reopened ticket is
  back with whoever held it at its closing;
- every command, delivered again right away, decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.assignment import (
    AgentAvailabilityChanged,
    AssignmentPolicy,
    Claim,
    Command,
    DeskState,
    OwnerChangedInSalesforce,
    PolicyChanged,
    Reassign,
    RouteTicket,
    TicketAssigned,
    TicketClosed,
    TicketReleased,
    TicketReopened,
    TicketReturned,
    UnknownTicket,
    decide,
    evolve,
    initial_state,
)
from streams.assignment.desk import BY_STRATEGY
from tests.unit.assignment.helpers import agent, at, policy, route, sf_id

POLICY = policy(
    {"a0": agent(0, ["rr", "ll"], capacity=1),
     "a1": agent(1, ["rr", "sk"], capacity=2, skills=["api"]),
     "a2": agent(2, ["ll", "sk"], capacity=2, skills=["api", "de"], availability="away"),
     "a3": agent(3, ["sk", "rr"], capacity=1, skills=["de"]),
     "a4": agent(4, ["rr", "ll"], capacity=0)},
    {"rr": {}, "ll": {"strategy": "least_loaded"},
     "sk": {"strategy": "skills", "required_skills": ["api"]}},
    [{"name": "api", "queue": "sk", "keywords": ["api"]},
     {"name": "chat", "queue": "ll", "chat_ids": [1]}],
    default="rr")
AGENTS = list(POLICY.agents)

# A spec names tickets by index into those routed so far (so few commands are wasted on unknown
# tickets); "route" opens the next ticket, "reroute" redelivers an earlier ticket's route.
index = st.integers(0, 40)
who = st.sampled_from(AGENTS)
route_specs = st.tuples(st.just("route"), st.sampled_from(["hi", "api"]),
                        st.sampled_from([None, 1]), st.none() | st.integers(0, 240))
auto_specs = st.one_of(
    route_specs, route_specs, route_specs, route_specs,
    st.tuples(st.just("close"), index),
    st.tuples(st.just("availability"), who, st.sampled_from(["available", "away", "offline"])),
    st.tuples(st.just("reroute"), index),
    st.tuples(st.just("policy")))
manual_specs = st.one_of(
    st.tuples(st.just("claim"), index, who),
    st.tuples(st.just("reassign"), index, st.none() | who),
    st.tuples(st.just("salesforce"), index, st.sampled_from([*AGENTS, "external"])),
    st.tuples(st.just("reopen"), index))


def commands(specs: list[tuple[Any, ...]]) -> list[Command]:
    out: list[Command] = []
    routed = 0
    for minute, (kind, *args) in enumerate(specs):
        when = at(minute)
        tid = f"t{args[0] % routed}" if routed and args and isinstance(args[0], int) else "t0"
        if kind == "route":
            subject, chat, deadline = args
            out.append(route(f"t{routed}", minute,
                             None if deadline is None else at(minute + deadline),
                             subject=subject, chat_id=chat))
            routed += 1
        elif kind == "reroute":
            out.append(route(tid, minute))
        elif kind == "close":
            out.append(TicketClosed(tid, when))
        elif kind == "reopen":
            out.append(TicketReopened(tid, when))
        elif kind == "availability":
            out.append(AgentAvailabilityChanged(args[0], args[1], when))
        elif kind == "claim":
            out.append(Claim(tid, args[1], when))
        elif kind == "reassign":
            out.append(Reassign(tid, args[1], "escalation", when))
        elif kind == "salesforce":
            user = "005EXTERNAL0000" if args[1] == "external" else sf_id(AGENTS.index(args[1]))
            out.append(OwnerChangedInSalesforce(tid, user, when))
        else:
            out.append(PolicyChanged(when))
    return out


def can_take(p: AssignmentPolicy, state: DeskState, status: Mapping[str, str], agent_id: str,
             queue: str) -> bool:
    """The test's own reading of the rules (not the code's)."""
    config, q = p.agents[agent_id], p.queues[queue]
    return (queue in config.queues and status[agent_id] == "available"
            and state.load(agent_id) < config.capacity
            and (q.strategy != "skills" or q.required_skills <= config.skills))


def serves(p: AssignmentPolicy, agent_id: str, queue: str) -> bool:
    q = p.queues[queue]
    return queue in p.agents[agent_id].queues and (
        q.strategy != "skills" or q.required_skills <= p.agents[agent_id].skills)


def check_run(specs: list[tuple[Any, ...]]) -> None:
    p, state = POLICY, initial_state()
    status = {aid: a.availability for aid, a in p.agents.items()}
    by_policy: dict[str, str] = {}  # ticket -> agent, when the policy chose them
    routed: set[str] = set()
    held_at_closing: dict[str, tuple[str | None, str | None]] = {}
    for cmd in commands(specs):
        if isinstance(cmd, RouteTicket):
            if cmd.ticket_id in routed:
                assert decide(state, cmd, p) == [], "a redelivered route decided again"
            routed.add(cmd.ticket_id)
        try:
            decisions = decide(state, cmd, p)
        except UnknownTicket:
            assert getattr(cmd, "ticket_id", None) not in state.tickets
            continue
        if isinstance(cmd, AgentAvailabilityChanged):
            status[cmd.agent_id] = cmd.availability
        before = state
        for d in decisions:
            if isinstance(d, TicketReleased):
                seat = state.tickets[d.ticket_id]
                held_at_closing[d.ticket_id] = (seat.agent_id, seat.external_owner)
            if isinstance(d, TicketReturned):
                assert isinstance(cmd, TicketReopened) and d.ticket_id in state.closed
                assert (d.agent_id, d.external_owner) == held_at_closing[d.ticket_id], d
            if isinstance(d, TicketAssigned):
                by_policy.pop(d.ticket_id, None)
                if d.source in BY_STRATEGY:
                    queue = state.tickets[d.ticket_id].queue
                    assert can_take(p, state, status, d.agent_id, queue), d
                    by_policy[d.ticket_id] = d.agent_id
                    if d.source == "next_agent":
                        assert before.tickets[d.ticket_id].agent_id != d.agent_id
            state = evolve(state, d)
        by_policy = {t: a for t, a in by_policy.items()
                     if t in state.tickets and state.tickets[t].agent_id == a}
        check_state(p, state, status, by_policy)
        check_priority(p, before, state, decisions)
        assert decide(state, cmd, p) == [], f"redelivered {cmd} decided again"


def check_state(p: AssignmentPolicy, state: DeskState, status: Mapping[str, str],
                by_policy: dict[str, str]) -> None:
    for aid, seat in state.agents.items():
        assert seat.tickets == {t for t, s in state.tickets.items() if s.agent_id == aid}
        assert sum(1 for a in by_policy.values() if a == aid) <= p.agents[aid].capacity
    assert not state.closed & set(state.tickets)
    for tid in state.waiting():
        queue = state.tickets[tid].queue
        assert not [a for a in AGENTS if can_take(p, state, status, a, queue)], tid


def check_priority(p: AssignmentPolicy, before: DeskState, after: DeskState,
                   decisions: list[Any]) -> None:
    def urgency(tid: str) -> tuple[datetime, datetime]:
        seat = after.tickets[tid]  # nearest deadline first, none last; then first come
        return (seat.deadline or datetime.max.replace(tzinfo=UTC), seat.routed_at)

    still_waiting = after.waiting()
    for d in decisions:
        if isinstance(d, TicketAssigned) and d.source in BY_STRATEGY:
            better = [t for t in still_waiting if urgency(t) < urgency(d.ticket_id)
                      and serves(p, d.agent_id, after.tickets[t].queue)]
            assert better == [], (d, better)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(auto_specs, auto_specs, manual_specs), min_size=20, max_size=80))
def test_invariants_hold_after_every_command(specs: list[tuple[Any, ...]]) -> None:
    check_run(specs)


@settings(max_examples=200, deadline=None)
@given(st.lists(auto_specs, min_size=20, max_size=80))
def test_without_manual_moves_no_agent_is_ever_above_capacity(
        specs: list[tuple[Any, ...]]) -> None:
    p, state = POLICY, initial_state()
    for cmd in commands(specs):
        for d in decide(state, cmd, p):
            state = evolve(state, d)
        assert all(state.load(a) <= p.agents[a].capacity for a in AGENTS)
    check_run(specs)
