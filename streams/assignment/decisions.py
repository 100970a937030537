"""What the desk decided, in the past tense; every decision carries its reason in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streams.assignment.policy import Availability

AssignmentSource = Literal["policy", "next_agent", "claim", "reassign", "salesforce"]
"""Who chose the agent: the queue's strategy (``policy``; ``next_agent`` for a ``Reassign``
without a named agent), or a human (``claim``, ``reassign``, ``salesforce``)."""


@dataclass(frozen=True)
class TicketRouted:
    ticket_id: str
    queue: str
    rule: str | None
    """The matching rule's name; ``None`` for the default queue."""
    deadline: datetime | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketQueued:
    """Nobody can take the ticket now: it waits for capacity."""

    ticket_id: str
    queue: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketAssigned:
    ticket_id: str
    agent_id: str
    queue: str
    source: AssignmentSource
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketUnassigned:
    ticket_id: str
    agent_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketOwnedExternally:
    """Salesforce gave the ticket to someone who is no agent of the policy."""

    ticket_id: str
    salesforce_user_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketReleased:
    """The ticket closed: it leaves the desk and its agent's load."""

    ticket_id: str
    agent_id: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class TicketReturned:
    """A closed ticket reopened: it is back on the desk with whoever held it at its closing (an
    agent, beyond capacity if need be, or an owner outside the desk); with neither, it waits."""

    ticket_id: str
    queue: str
    agent_id: str | None
    external_owner: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class AgentAvailabilitySet:
    agent_id: str
    availability: Availability
    reason: str
    at: datetime


@dataclass(frozen=True)
class ReassignmentBlocked:
    """A reassign to the next agent found nobody else: the ticket stays where it is."""

    ticket_id: str
    queue: str
    reason: str
    at: datetime


Decision = (TicketRouted | TicketQueued | TicketAssigned | TicketUnassigned
            | TicketOwnedExternally | TicketReleased | TicketReturned | AgentAvailabilitySet
            | ReassignmentBlocked)


