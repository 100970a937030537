"""Which agent of a queue takes a ticket, by the queue's strategy, and why.

Eligible: serves the queue, ``available`` (the policy's default unless an event changed it),
fewer open tickets than their capacity, and for ``skills`` queues every required skill. Among
the eligible:

- ``round_robin``: the next in the queue's rotation (policy order, starting after the agent the
  queue last assigned), whatever their load;
- ``least_loaded``: fewest open tickets (a count, not a fraction of capacity), ties by rotation;
- ``skills``: only agents with all required skills; then least loaded, ties by rotation.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from streams.assignment.policy import AssignmentPolicy, Availability, QueueConfig

if TYPE_CHECKING:
    from streams.assignment.desk import DeskState


def availability(policy: AssignmentPolicy, state: DeskState, agent_id: str) -> Availability:
    seat = state.agents.get(agent_id)
    if seat is not None and seat.availability is not None:
        return seat.availability
    config = policy.agents.get(agent_id)
    return "offline" if config is None else config.availability


def load_line(policy: AssignmentPolicy, state: DeskState, agent_id: str) -> str:
    return f"{state.load(agent_id)}/{policy.agents[agent_id].capacity} open"


def why_not(policy: AssignmentPolicy, state: DeskState, queue: QueueConfig,
            agent_id: str) -> str | None:
    """Why the policy may not give this agent a ticket of the queue (``None``: it may)."""
    agent = policy.agents[agent_id]
    status = availability(policy, state, agent_id)
    if status != "available":
        return f"{agent_id!r} is {status}"
    if state.load(agent_id) >= agent.capacity:
        return f"{agent_id!r} is at capacity ({load_line(policy, state, agent_id)})"
    missing = queue.required_skills - agent.skills
    if queue.strategy == "skills" and missing:
        return f"{agent_id!r} lacks {sorted(missing)}"
    return None


def rotation(policy: AssignmentPolicy, state: DeskState, queue_id: str) -> tuple[str, ...]:
    """The queue's agents in round-robin order: policy order, after the last one assigned."""
    roster = policy.agents_serving(queue_id)
    last = state.cursors.get(queue_id)
    if last not in roster:
        return roster
    i = roster.index(last) + 1
    return roster[i:] + roster[:i]


def choose(policy: AssignmentPolicy, state: DeskState, queue_id: str,
           exclude: Collection[str] = ()) -> tuple[str | None, str]:
    """``(agent, why)`` for a ticket of the queue, or ``(None, why nobody)``."""
    queue = policy.queues.get(queue_id)
    if queue is None:
        return None, f"queue {queue_id!r} is not in the policy"
    refusals = {agent_id: (f"{agent_id!r} has it now" if agent_id in exclude
                           else why_not(policy, state, queue, agent_id))
                for agent_id in policy.agents_serving(queue_id)}
    refused = [reason for reason in refusals.values() if reason is not None]
    order = rotation(policy, state, queue_id)
    eligible = [agent_id for agent_id in order if refusals[agent_id] is None]
    if not refusals:
        return None, f"no agent serves queue {queue_id!r}"
    if not eligible:
        return None, f"no agent of queue {queue_id!r} can take it: " + "; ".join(refused)
    if queue.strategy == "round_robin":
        agent_id = eligible[0]
        after = state.cursors.get(queue_id)
        turn = f"after {after!r}" if after in order else "first"
        return agent_id, (f"round_robin in queue {queue_id!r}: {agent_id!r} is next in rotation "
                          f"({turn}; {load_line(policy, state, agent_id)})")
    agent_id = min(eligible, key=lambda a: (state.load(a), order.index(a)))
    load = state.load(agent_id)
    tied = sum(1 for a in eligible if state.load(a) == load)
    tie = f", first in rotation of {tied} tied" if tied > 1 else ""
    skills = (f"{len(eligible)} of {len(order)} agents have all of "
              f"{sorted(queue.required_skills)} and capacity; "
              if queue.strategy == "skills" else f"{len(eligible)} of {len(order)} with capacity; ")
    return agent_id, (f"{queue.strategy} in queue {queue_id!r}: {skills}{agent_id!r} is least "
                      f"loaded ({load_line(policy, state, agent_id)}{tie})")
