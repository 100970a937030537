"""The desk decider: strategies, capacity, waiting tickets, manual moves, Salesforce, redelivery."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.assignment import (
    AgentAvailabilityChanged,
    AgentAvailabilitySet,
    Claim,
    Command,
    OwnerChangedInSalesforce,
    PolicyChanged,
    Reassign,
    ReassignmentBlocked,
    TicketAssigned,
    TicketClosed,
    TicketOwnedExternally,
    TicketQueued,
    TicketReleased,
    TicketReopened,
    TicketReturned,
    TicketRouted,
    TicketUnassigned,
    UnknownAgent,
    UnknownTicket,
    decide,
    evolve,
    fold,
)
from streams.assignment.desk import RELEASED_KEPT
from tests.unit.assignment.helpers import agent, assigned, at, owners, policy, route, run, sf_id

THREE = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"]),
                "cy": agent(3, ["sales"])})


def test_route_then_assign_with_reasons() -> None:
    p = policy({"ann": agent(1, ["sales", "tech"])}, {"sales": {}, "tech": {}},
               [{"name": "api", "queue": "tech", "keywords": ["api"]}])
    _, out = run(p, [route("t1", subject="API question")])
    assert out == [
        TicketRouted("t1", "tech", "api", None, "rule 'api' matched: keyword 'api' in the subject",
                     at(0)),
        TicketAssigned("t1", "ann", "tech", "policy",
                       "round_robin in queue 'tech': 'ann' is next in rotation (first; 0/5 open)",
                       at(0)),
    ]


@given(agents=st.integers(1, 6), tickets=st.integers(0, 60))
def test_round_robin_loads_differ_by_at_most_one(agents: int, tickets: int) -> None:
    p = policy({f"a{i}": agent(i, ["sales"], capacity=100) for i in range(agents)})
    state, out = run(p, [route(f"t{i}", i) for i in range(tickets)])
    loads = [state.load(f"a{i}") for i in range(agents)]
    assert max(loads) - min(loads) <= 1
    assert [a for _, a in assigned(out)][:agents] == [f"a{i}" for i in range(agents)][:tickets]


def test_round_robin_skips_unavailable_and_full_agents_and_keeps_its_turn() -> None:
    p = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"], capacity=1),
                "cy": agent(3, ["sales"], availability="away")})
    state, out = run(p, [route("t1"), route("t2"), route("t3"), route("t4")])
    assert assigned(out) == [("t1", "ann"), ("t2", "bob"), ("t3", "ann"), ("t4", "ann")]
    state, out = run(p, [AgentAvailabilityChanged("cy", "available", at(5)), route("t5", 6)],
                     state)
    assert assigned(out) == [("t5", "cy")]  # after ann in turn: bob is full, cy is back


def test_skills_queue_only_takes_agents_with_every_skill_then_least_loaded() -> None:
    p = policy({"ann": agent(1, ["tech"], skills=["api"]),
                "bob": agent(2, ["tech"], skills=["api", "sso"]),
                "cy": agent(3, ["tech"], skills=["api", "sso", "de"]),
                "dee": agent(4, ["tech"], skills=["sso"])},
               {"tech": {"strategy": "skills", "required_skills": ["API", "sso"]}}, default="tech")
    _, out = run(p, [route(f"t{i}", i) for i in range(5)])
    assert [a for _, a in assigned(out)] == ["bob", "cy", "bob", "cy", "bob"]
    reason = next(d.reason for d in out if isinstance(d, TicketAssigned))
    assert reason == ("skills in queue 'tech': 2 of 4 agents have all of ['api', 'sso'] and "
                      "capacity; 'bob' is least loaded (0/5 open, first in rotation of 2 tied)")


def test_least_loaded_counts_open_tickets_across_queues() -> None:
    p = policy({"ann": agent(1, ["sales", "vip"]), "bob": agent(2, ["sales"])},
               {"sales": {"strategy": "least_loaded"}, "vip": {}},
               [{"name": "vip", "queue": "vip", "chat_ids": [1]}])
    state, out = run(p, [route("v1", chat_id=1), route("v2", chat_id=1), route("s1"),
                         route("s2"), route("s3")])
    assert assigned(out) == [("v1", "ann"), ("v2", "ann"), ("s1", "bob"), ("s2", "bob"),
                             ("s3", "ann")]  # ann 2 vs bob 2: a tie goes by turn
    state, out = run(p, [TicketClosed("s1", at(1)), route("s4", 2)], state)
    assert assigned(out) == [("s4", "bob")]


def test_a_ticket_nobody_can_take_waits_and_says_why() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1), "bob": agent(2, ["sales"],
                                                                       availability="offline")})
    state, out = run(p, [route("t1"), route("t2", 1)])
    assert out[-1] == TicketQueued(
        "t2", "sales", "waiting for capacity: no agent of queue 'sales' can take it: 'ann' is at "
        "capacity (1/1 open); 'bob' is offline", at(1))
    assert state.waiting() == ["t2"]


def test_freed_agent_takes_the_waiting_ticket_with_the_nearest_deadline() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1)})
    state, _ = run(p, [route("t0"), route("late", 1, deadline=at(90)),
                       route("none", 2), route("soon", 3, deadline=at(30))])
    assert state.waiting() == ["soon", "late", "none"]
    state, out = run(p, [TicketClosed("t0", at(10))], state)
    assert out[0] == TicketReleased("t0", "ann", "ticket closed; frees 'ann'", at(10))
    assert out[1:] == [TicketAssigned(
        "soon", "ann", "sales", "policy",
        f"waited since {at(3).isoformat()}, deadline {at(30).isoformat()}; round_robin in "
        "queue 'sales': 'ann' is next in rotation (after 'ann'; 0/1 open)", at(10))]
    state, out = run(p, [TicketClosed("soon", at(11)), TicketClosed("late", at(12))], state)
    assert assigned(out) == [("late", "ann"), ("none", "ann")]


def test_agent_coming_back_takes_waiting_tickets_of_their_queues_only() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=2, availability="away"),
                "bob": agent(2, ["tech"], availability="offline")},
               {"sales": {}, "tech": {}},
               [{"name": "t", "queue": "tech", "keywords": ["api"]}])
    state, _ = run(p, [route("s1"), route("x1", 1, subject="api"), route("s2", 2),
                       route("s3", 3)])
    state, out = run(p, [AgentAvailabilityChanged("ann", "available", at(5))], state)
    assert out[0] == AgentAvailabilitySet("ann", "available", "away -> available", at(5))
    assert assigned(out) == [("s1", "ann"), ("s2", "ann")]
    assert state.waiting() == ["x1", "s3"]


def test_going_offline_keeps_open_tickets() -> None:
    state, _ = run(THREE, [route("t1")])
    state, out = run(THREE, [AgentAvailabilityChanged("ann", "offline", at(1))], state)
    assert out == [AgentAvailabilitySet(
        "ann", "offline",
        "available -> offline; keeps their 1 open tickets (escalations move them)", at(1))]
    assert owners(state) == {"t1": "ann"}
    _, out = run(THREE, [route("t2", 2), route("t3", 3)], state)
    assert assigned(out) == [("t2", "bob"), ("t3", "cy")]


def test_a_larger_capacity_in_a_reloaded_policy_hands_out_waiting_tickets() -> None:
    small = policy({"ann": agent(1, ["sales"], capacity=1)})
    state, _ = run(small, [route("t1"), route("t2", 1)])
    bigger = policy({"ann": agent(1, ["sales"], capacity=2)})
    _, out = run(bigger, [PolicyChanged(at(5))], state)
    assert assigned(out) == [("t2", "ann")]


def test_manual_claim_moves_the_ticket_even_beyond_capacity() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1), "bob": agent(2, ["sales"], capacity=1)})
    state, _ = run(p, [route("t1"), route("t2", 1)])
    state, out = run(p, [Claim("t1", "bob", at(2))], state)
    assert out == [
        TicketUnassigned("t1", "ann", "claimed by hand: moved to 'bob'", at(2)),
        TicketAssigned("t1", "bob", "sales", "claim",
                       "claimed by hand; beyond capacity (1/1 open before it)", at(2)),
    ]
    assert state.load("bob") == 2 and state.load("ann") == 0
    _, out = run(p, [route("t3", 3)], state)
    assert assigned(out) == [("t3", "ann")]  # bob is above capacity: nothing more for him


def test_claiming_a_waiting_ticket_and_claims_by_an_away_agent() -> None:
    p = policy({"ann": agent(1, ["sales"], availability="away")})
    state, _ = run(p, [route("t1")])
    state, out = run(p, [Claim("t1", "ann", at(1))], state)
    assert out == [TicketAssigned("t1", "ann", "sales", "claim", "claimed by hand; 'ann' is away",
                                  at(1))]
    assert state.waiting() == []


def test_claim_frees_the_previous_owner_for_a_waiting_ticket() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1), "bob": agent(2, [], capacity=1)})
    state, _ = run(p, [route("t1"), route("t2", 1)])
    state, out = run(p, [Claim("t1", "bob", at(2))], state)
    assert assigned(out) == [("t1", "bob"), ("t2", "ann")]


def test_reassign_to_a_named_agent_carries_the_reason() -> None:
    state, _ = run(THREE, [route("t1")])
    state, out = run(THREE, [Reassign("t1", "cy", "customer asked for Cy", at(1))], state)
    assert out[-1] == TicketAssigned("t1", "cy", "sales", "reassign",
                                     "reassigned by hand: customer asked for Cy", at(1))


def test_reassign_to_next_agent_skips_the_current_owner() -> None:
    p = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"], availability="offline"),
                "cy": agent(3, ["sales"])}, {"sales": {"strategy": "least_loaded"}})
    state, _ = run(p, [route("t1"), route("t2", 1)])
    assert owners(state) == {"t1": "ann", "t2": "cy"}
    state, out = run(p, [Reassign("t2", None, "first response overdue (level 1)", at(5))], state)
    assert out == [
        TicketUnassigned("t2", "cy", "first response overdue (level 1): moved to 'ann'", at(5)),
        TicketAssigned("t2", "ann", "sales", "next_agent",
                       "first response overdue (level 1): least_loaded in queue 'sales': 1 of 3 "
                       "with capacity; 'ann' is least loaded (1/5 open)", at(5)),
    ]


def test_reassign_to_next_agent_with_nobody_else_keeps_the_owner() -> None:
    p = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"], availability="away")})
    state, _ = run(p, [route("t1")])
    state2, out = run(p, [Reassign("t1", None, "escalation", at(5))], state)
    assert out == [ReassignmentBlocked(
        "t1", "sales", "escalation: no agent of queue 'sales' can take it: 'ann' has it now; "
        "'bob' is away; stays with 'ann'", at(5))]
    assert owners(state2) == {"t1": "ann"}


def test_salesforce_owner_change_maps_to_the_agent() -> None:
    state, _ = run(THREE, [route("t1")])
    state, out = run(THREE, [OwnerChangedInSalesforce("t1", sf_id(3), at(1))], state)
    assert out == [
        TicketUnassigned("t1", "ann", f"owner set in Salesforce to {sf_id(3)} ('cy'): moved to "
                         "'cy'", at(1)),
        TicketAssigned("t1", "cy", "sales", "salesforce",
                       f"owner set in Salesforce to {sf_id(3)} ('cy')", at(1)),
    ]
    # the echo of telecase's own OwnerId write (15-character form, too) changes nothing
    assert decide(state, OwnerChangedInSalesforce("t1", sf_id(3)[:15], at(2)), THREE) == []


def test_salesforce_owner_unknown_is_recorded_external_and_frees_capacity() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1)})
    state, _ = run(p, [route("t1"), route("t2", 1)])
    state, out = run(p, [OwnerChangedInSalesforce("t1", "00G000000000001", at(2))], state)
    why = "owner set in Salesforce to 00G000000000001, who is no agent of the policy"
    assert out[:2] == [TicketUnassigned("t1", "ann", why, at(2)),
                       TicketOwnedExternally("t1", "00G000000000001", why, at(2))]
    assert assigned(out) == [("t2", "ann")]
    assert state.tickets["t1"].external_owner == "00G000000000001"
    assert state.waiting() == []
    assert decide(state, OwnerChangedInSalesforce("t1", "00G000000000001AAA", at(3)), p) == []
    _, out = run(p, [Claim("t1", "ann", at(4))], state)
    assert assigned(out) == [("t1", "ann")]


def test_a_reopened_ticket_goes_back_to_its_agent_even_beyond_capacity() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1), "bob": agent(2, ["sales"], capacity=1)})
    state, _ = run(p, [route("t1"), route("t2", 1), TicketClosed("t1", at(2)), route("t3", 3)])
    assert owners(state) == {"t2": "bob", "t3": "ann"}
    state, out = run(p, [TicketReopened("t1", at(4))], state)
    assert out == [TicketReturned("t1", "sales", "ann", None,
                                  "ticket reopened: back to 'ann', who held it; beyond capacity "
                                  "(1/1 open before it)", at(4))]
    assert state.load("ann") == 2 and "t1" not in state.closed
    assert decide(state, TicketReopened("t1", at(5)), p) == []  # open already
    _, out = run(p, [route("t4", 6)], state)
    assert out[-1] == TicketQueued("t4", "sales", out[-1].reason, at(6))
    state, out = run(p, [TicketClosed("t1", at(7))], state)
    assert state.load("ann") == 1 and "t1" in state.closed


def test_a_reopened_ticket_of_an_agent_gone_from_the_policy_waits_and_is_handed_out() -> None:
    before = policy({"ann": agent(1, ["sales"]), "bob": agent(2, ["sales"])})
    state, _ = run(before, [route("t1"), TicketClosed("t1", at(1))])
    after = policy({"bob": agent(2, ["sales"])})
    state, out = run(after, [TicketReopened("t1", at(2))], state)
    assert out[0] == TicketReturned(
        "t1", "sales", None, None,
        "ticket reopened; 'ann', who held it, is no longer in the policy: waits", at(2))
    assert assigned(out) == [("t1", "bob")]
    assert state.load("bob") == 1


def test_a_reopened_ticket_owned_outside_the_desk_stays_outside() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=1)})
    state, _ = run(p, [route("t1"), OwnerChangedInSalesforce("t1", "00G000000000001", at(1)),
                       TicketClosed("t1", at(2))])
    state, out = run(p, [TicketReopened("t1", at(3))], state)
    assert out == [TicketReturned("t1", "sales", None, "00G000000000001",
                                  "ticket reopened: back to its owner 00G000000000001, outside "
                                  "the desk", at(3))]
    assert state.tickets["t1"].external_owner == "00G000000000001"
    assert state.load("ann") == 0 and state.waiting() == []


def test_reopening_a_ticket_the_desk_no_longer_remembers_yields_nothing() -> None:
    p = policy({"ann": agent(1, ["sales"], capacity=10_000)})
    state, _ = run(p, [route("t0"), TicketClosed("t0", at(1))])
    assert "t0" in state.released
    for n in range(1, RELEASED_KEPT + 1):  # as many later closings as the desk keeps
        state = fold(state, decide(state, route(f"t{n}", 2), p))
        state = fold(state, decide(state, TicketClosed(f"t{n}", at(2)), p))
    assert len(state.released) == RELEASED_KEPT and "t0" not in state.released
    assert decide(state, TicketReopened("t0", at(3)), p) == []
    _, out = run(p, [TicketReopened(f"t{RELEASED_KEPT}", at(3))], state)
    assert [type(d) for d in out] == [TicketReturned]


def test_redelivered_commands_yield_nothing() -> None:
    state, _ = run(THREE, [route("t1"), route("t2", 1)])
    again: list[Command] = [route("t1"), route("t2", 1), Claim("t2", "bob", at(1)),
                            Reassign("t2", "bob", "again", at(1)),
                            OwnerChangedInSalesforce("t1", sf_id(1), at(1)),
                            AgentAvailabilityChanged("ann", "available", at(1)),
                            PolicyChanged(at(1))]
    for command in again:
        assert decide(state, command, THREE) == [], command
    escalate = Reassign("t1", None, "level 1", at(3))
    state, out = run(THREE, [escalate], state)
    assert assigned(out) == [("t1", "cy")]
    assert decide(state, escalate, THREE) == []
    state, _ = run(THREE, [TicketClosed("t1", at(4))], state)
    after_close: list[Command] = [TicketClosed("t1", at(4)), route("t1"),
                                  Claim("t1", "ann", at(5)), Reassign("t1", None, "2", at(5)),
                                  OwnerChangedInSalesforce("t1", sf_id(2), at(5))]
    for command in after_close:
        assert decide(state, command, THREE) == [], command


def test_commands_that_cannot_be_decided_raise() -> None:
    state, _ = run(THREE, [route("t1")])
    with pytest.raises(UnknownTicket):
        decide(state, Claim("nope", "ann", at(1)), THREE)
    with pytest.raises(UnknownTicket):
        decide(state, OwnerChangedInSalesforce("nope", sf_id(1), at(1)), THREE)
    with pytest.raises(UnknownAgent):
        decide(state, Claim("t1", "zed", at(1)), THREE)
    with pytest.raises(UnknownAgent):
        decide(state, AgentAvailabilityChanged("zed", "away", at(1)), THREE)
    assert decide(state, TicketClosed("never-routed", at(1)), THREE) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        Claim("t1", "ann", at(1).replace(tzinfo=None))


def test_decide_and_evolve_never_mutate_their_input() -> None:
    state, _ = run(THREE, [route("t1"), route("t2", 1)])
    before = (dict(state.agents), dict(state.tickets), dict(state.cursors), state.closed)
    for decision in decide(state, Claim("t1", "cy", at(2)), THREE):
        evolve(state, decision)
    assert (dict(state.agents), dict(state.tickets), dict(state.cursors), state.closed) == before


def test_every_decision_explains_itself() -> None:
    _, out = run(THREE, [route("t1"), Claim("t1", "bob", at(1)), TicketClosed("t1", at(2))])
    assert all(d.reason for d in out)
    assert Counter(type(d).__name__ for d in out) == Counter(
        {"TicketRouted": 1, "TicketAssigned": 2, "TicketUnassigned": 1, "TicketReleased": 1})
