"""Builders for assignment tests: a policy from plain data, commands at a driven clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.assignment import (
    AssignmentPolicy,
    Command,
    Decision,
    DeskState,
    RouteTicket,
    TicketAssigned,
    TicketFacts,
    decide,
    fold,
    initial_state,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def sf_id(n: int) -> str:
    return f"005{n:012d}AAA"


def agent(n: int, queues: list[str], capacity: int = 5, **extra: Any) -> dict[str, Any]:
    return {"name": f"Agent {n}", "salesforce_user_id": sf_id(n), "queues": queues,
            "capacity": capacity, **extra}


def policy(agents: dict[str, dict[str, Any]], queues: dict[str, dict[str, Any]] | None = None,
           rules: list[dict[str, Any]] | None = None,
           default: str = "sales") -> AssignmentPolicy:
    return AssignmentPolicy.parse({
        "routing": {"default_queue": default, "rules": rules or []},
        "queues": queues if queues is not None else {"sales": {}},
        "agents": agents,
    })


def route(ticket_id: str, minute: float = 0, deadline: datetime | None = None,
          **facts: Any) -> RouteTicket:
    return RouteTicket(ticket_id, TicketFacts(facts.pop("channel", "forum_topic"), **facts),
                       deadline, at(minute))


def run(policy_: AssignmentPolicy, commands: list[Command],
        state: DeskState | None = None) -> tuple[DeskState, list[Decision]]:
    """Decide and fold each command in turn; all decisions, in order."""
    state = initial_state() if state is None else state
    out: list[Decision] = []
    for command in commands:
        decisions = decide(state, command, policy_)
        state = fold(state, decisions)
        out += decisions
    return state, out


def owners(state: DeskState) -> dict[str, str | None]:
    return {tid: t.agent_id for tid, t in state.tickets.items()}


def assigned(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(d.ticket_id, d.agent_id) for d in decisions if isinstance(d, TicketAssigned)]
