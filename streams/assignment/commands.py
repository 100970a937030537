"""What the desk is told (imperative or notification, each with ``at``, timezone-aware)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streams.assignment.policy import Availability, TicketFacts


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


@dataclass(frozen=True)
class RouteTicket:
    """A ticket opened: route it to a queue and assign it (or let it wait)."""

    ticket_id: str
    facts: TicketFacts
    deadline: datetime | None
    """The nearest SLA deadline (its waiting priority), if the SLA policy gave one."""
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)
        _aware("deadline", self.deadline)


@dataclass(frozen=True)
class TicketClosed:
    ticket_id: str
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class TicketReopened:
    """A closed ticket is open again (its topic reopened, its Case set back to an open status)."""

    ticket_id: str
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class AgentAvailabilityChanged:
    agent_id: str
    availability: Availability
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class Claim:
    """An agent takes a ticket by hand (CLI). Respected beyond capacity and availability."""

    ticket_id: str
    agent_id: str
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class Reassign:
    """Move a ticket: to a named agent (by hand, respected like a claim), or with ``agent_id=None``
    to the next agent the queue's strategy picks other than the current owner (an escalation)."""

    ticket_id: str
    agent_id: str | None
    reason: str
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class OwnerChangedInSalesforce:
    """The Case's OwnerId changed in Salesforce (a user id, or a Salesforce queue id)."""

    ticket_id: str
    salesforce_user_id: str
    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class PolicyChanged:
    """The policy was reloaded (capacity, agents, queues): hand out waiting tickets again."""

    at: datetime

    def __post_init__(self) -> None:
        _aware("at", self.at)


Command = (RouteTicket | TicketClosed | TicketReopened | AgentAvailabilityChanged | Claim
           | Reassign | OwnerChangedInSalesforce | PolicyChanged)


