"""The assignment core's exceptions, one root for the package::

    AssignmentError (ValueError)
    ├── PolicyError        the routing/queues/agents configuration is invalid (one line per problem)
    ├── UnknownTicket      a command names a ticket the desk never routed
    └── UnknownAgent       a command names an agent the policy does not list
"""

from __future__ import annotations


class AssignmentError(ValueError):
    """Root of every error the assignment core raises."""


class PolicyError(AssignmentError):
    """The assignment policy is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid assignment policy:\n" + "\n".join(f"  {p}" for p in problems))


class UnknownTicket(AssignmentError):
    """A command names a ticket that was never routed (it cannot be decided)."""


class UnknownAgent(AssignmentError):
    """A command names an agent that is not in the policy."""
