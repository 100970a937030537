"""SLA events: clocks started, warnings, breaches, targets met, escalations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from streams.schema.events.base import EventBase

SlaClock = Literal["first_response", "resolution"]


class SlaStarted(EventBase):
    """The ticket's SLA clocks started: the tier the policy chose, and why. Emitted at the
    ticket's first event after its opening (the first message is what keyword rules read), or
    by the clock when none came; ``occurred_at`` is the opening instant the clocks run from."""

    type: Literal["sla.started"] = "sla.started"
    version: Literal[1] = 1
    tier: str
    team: str
    rule: str | None
    reason: str
    first_response_target: timedelta
    resolution_target: timedelta
    next_due_at: datetime | None
    """The first instant something is due (a warning, usually)."""


class SlaSignalBase(EventBase):
    signal: str
    """The signal's key, unique within the ticket (``first_response_warning:0.8``, ...)."""
    tier: str
    team: str
    reason: str


class SlaWarning(SlaSignalBase):
    """A share of a target elapsed with the target still unmet (``occurred_at``: that instant)."""

    type: Literal["sla.warning"] = "sla.warning"
    version: Literal[1] = 1
    clock: SlaClock
    threshold: float
    target: timedelta


class SlaBreached(SlaSignalBase):
    type: Literal["sla.breached"] = "sla.breached"
    version: Literal[1] = 1
    clock: SlaClock
    target: timedelta


class SlaMet(SlaSignalBase):
    """A target was met (on time or late): the first agent reply, or a closing."""

    type: Literal["sla.met"] = "sla.met"
    version: Literal[1] = 1
    clock: SlaClock
    target: timedelta
    elapsed: timedelta
    """Business time on the clock when it was met (pauses excluded)."""
    on_time: bool


class EscalationAction(BaseModel):
    """One configured action of an escalation, its text rendered (``do`` names the kind:
    ``notify_telegram``, ``set_case_field``, ``reassign``, ``post_case_comment``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    do: Literal["notify_telegram", "set_case_field", "reassign", "post_case_comment"]
    chat_id: int | None = None
    text: str | None = None
    field: str | None = None
    value: bool | int | float | str | None = None
    to: str | None = None
    public: bool | None = None


class SlaEscalated(SlaSignalBase):
    """An escalation level fired. Its actions are carried out by the consumers of the log:
    the desk reassigns, the Salesforce sync sets fields and posts the comment, the Telegram
    mirror sends the notifications."""

    type: Literal["sla.escalated"] = "sla.escalated"
    version: Literal[1] = 1
    level: int
    escalate_to: str
    actions: tuple[EscalationAction, ...]


class SlaTargetAdopted(EventBase):
    """Salesforce is the clock of record (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``) and its
    CaseMilestone for one of the ticket's clocks names a target telecase did not have: from
    now on the clock's deadline (``signal``, the breach) is Salesforce's ``TargetDate``, its
    warnings and escalation scaled to the new target (``streams.sla.clock.adopt``).
    ``occurred_at``: when telecase read the milestone."""

    type: Literal["sla.target_adopted"] = "sla.target_adopted"
    version: Literal[1] = 1
    clock: SlaClock
    signal: str
    """The signal whose deadline is now Salesforce's (``first_response_breached``,
    ``resolution_breached``)."""
    milestone_id: str
    """The CaseMilestone's Id."""
    target_at: datetime
    """Salesforce's ``TargetDate`` (the breach instant while the clock runs)."""
    violated: bool
    """Salesforce's ``IsViolated`` when read."""
    previous_due_at: datetime | None
    """telecase's deadline for the signal before (``None``: the clock was stopped)."""
    target: timedelta
    """The target now on the clock (business time from its start to ``target_at``)."""
    next_due_at: datetime | None
    """The ticket's next SLA instant after the adoption."""
    reason: str


SlaEvent: TypeAlias = (SlaStarted | SlaWarning | SlaBreached | SlaMet | SlaEscalated
                       | SlaTargetAdopted)
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""
