"""Desk events: the ticket routed to a queue, and assigned to (or taken from) an agent."""

from __future__ import annotations

from typing import Literal, TypeAlias

from streams.schema.events.base import EventBase

AssignmentSource = Literal["policy", "next_agent", "claim", "reassign", "salesforce"]


class TicketRouted(EventBase):
    """The desk put the ticket in a queue."""

    type: Literal["ticket.routed"] = "ticket.routed"
    version: Literal[1] = 1
    queue: str
    rule: str | None
    reason: str


class TicketAssigned(EventBase):
    """The desk gave the ticket to an agent, or took it from one (``agent_id=None``: it
    waits for capacity, or Salesforce gave it to someone who is no agent of the policy)."""

    type: Literal["ticket.assigned"] = "ticket.assigned"
    version: Literal[1] = 1
    decision_id: str
    agent_id: str | None
    salesforce_user_id: str | None
    """The Case owner this asks for (the agent's User id; ``None``: leave the owner alone)."""
    previous_agent_id: str | None
    queue: str | None
    assigned_by: AssignmentSource
    reason: str


DeskEvent: TypeAlias = TicketRouted | TicketAssigned
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""
