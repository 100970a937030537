"""Routing and assignment, pure: which queue a ticket goes to and which agent works it.

- :mod:`streams.assignment.policy`: the validated configuration (routing rules, queues, agents),
  read from the ``[routing]``, ``[queues]`` and ``[agents]`` sections of a TOML file.
- :mod:`streams.assignment.commands` / :mod:`streams.assignment.decisions`: what the desk is
  told and what it decides.
- :mod:`streams.assignment.desk`: the desk as a Decider, ``decide(state, command, policy)`` and
  ``evolve(state, decision)``; every decision carries a reason in words.
- :mod:`streams.assignment.choose`: the strategies (round robin, skills, least loaded).
- :mod:`streams.assignment.errors`: ``AssignmentError`` and its children.

No I/O, no clock, no randomness (the import-linter contract ``pure`` in pyproject.toml, and
``tests/unit/core/test_purity.py``): time is each command's ``at``.
"""

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
from streams.assignment.desk import DeskState, decide, evolve, fold, initial_state
from streams.assignment.errors import AssignmentError, PolicyError, UnknownAgent, UnknownTicket
from streams.assignment.policy import AssignmentPolicy, TicketFacts

__all__ = [
    "AgentAvailabilityChanged",
    "AgentAvailabilitySet",
    "AssignmentError",
    "AssignmentPolicy",
    "AssignmentSource",
    "Claim",
    "Command",
    "Decision",
    "DeskState",
    "OwnerChangedInSalesforce",
    "PolicyChanged",
    "PolicyError",
    "Reassign",
    "ReassignmentBlocked",
    "RouteTicket",
    "TicketAssigned",
    "TicketClosed",
    "TicketFacts",
    "TicketOwnedExternally",
    "TicketQueued",
    "TicketReleased",
    "TicketReopened",
    "TicketReturned",
    "TicketRouted",
    "TicketUnassigned",
    "UnknownAgent",
    "UnknownTicket",
    "decide",
    "evolve",
    "fold",
    "initial_state",
]
