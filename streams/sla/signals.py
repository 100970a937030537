"""What the SLA clock says when it fires: past-tense facts about a ticket's service level.

Every signal carries the ticket, a ``key`` unique within the ticket (with the ticket id, an
idempotency key for the event a worker appends), ``at`` (the instant it became true: the
deadline, or the moment a target was met) and ``reason``, a sentence that explains the decision
(which target, how late, which rule chose the tier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.sla.policy import Action


@dataclass(frozen=True, kw_only=True)
class _Signal:
    ticket_id: str
    key: str
    at: datetime
    reason: str
    tier: str
    team: str


@dataclass(frozen=True, kw_only=True)
class FirstResponseWarning(_Signal):
    threshold: float
    target: timedelta


@dataclass(frozen=True, kw_only=True)
class FirstResponseBreached(_Signal):
    target: timedelta


@dataclass(frozen=True, kw_only=True)
class FirstResponseMet(_Signal):
    target: timedelta
    elapsed: timedelta
    """Business time from the ticket's start to the first agent reply."""
    on_time: bool


@dataclass(frozen=True, kw_only=True)
class ResolutionWarning(_Signal):
    threshold: float
    target: timedelta


@dataclass(frozen=True, kw_only=True)
class ResolutionBreached(_Signal):
    target: timedelta


@dataclass(frozen=True, kw_only=True)
class ResolutionMet(_Signal):
    target: timedelta
    elapsed: timedelta
    """Business time on the resolution clock (pauses excluded) when the ticket closed."""
    on_time: bool


@dataclass(frozen=True, kw_only=True)
class Escalation(_Signal):
    level: int
    escalate_to: str
    actions: tuple[Action, ...]
    """The configured actions, texts rendered: Telegram notifications and Salesforce changes
    (field updates, reassignment, a CaseComment) for the worker to carry out as data."""


SlaSignal = (FirstResponseWarning | FirstResponseBreached | FirstResponseMet | ResolutionWarning
             | ResolutionBreached | ResolutionMet | Escalation)
