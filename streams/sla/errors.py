"""The SLA package's exceptions.

::

    SlaError                      root: anything this package refuses
    ├── PolicyError (ValueError)  a policy that does not validate; one line per problem
    └── CalendarError (ValueError) a calendar that cannot be built or an instant it cannot use
"""

from __future__ import annotations


class SlaError(Exception):
    """Root of the SLA package's errors."""


class PolicyError(SlaError, ValueError):
    """The SLA policy is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid SLA policy:\n" + "\n".join(f"  - {p}" for p in problems))


class CalendarError(SlaError, ValueError):
    """A business calendar without opening hours, or a naive (zone-less) instant."""
