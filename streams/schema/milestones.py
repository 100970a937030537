"""What the milestone reader writes to ``salesforce.changes`` when Salesforce is the clock of
record (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``): one open CaseMilestone of a ticket's Case,
as read (``connectors.salesforce.milestone_reader``).

A record is written when a milestone's ``TargetDate`` or ``IsViolated`` differs from what the
reader last wrote for it, so the log holds every target Salesforce gave, in the order it was
read. The worker decides what it means for the ticket's clock
(``streams.core.milestone_targets``): the same record folded twice changes nothing.

Keyed ``chat:<chat id>`` like every record about a ticket (:meth:`routing_key`), so it lands on
the partition that holds the ticket's state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from streams.schema.salesforce import routing_key


class SalesforceMilestone(BaseModel):
    """Version 1 of a CaseMilestone read back from Salesforce."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["salesforce.milestone"] = "salesforce.milestone"
    version: Literal[1] = 1
    ticket_id: str
    case_id: str
    milestone_id: str
    milestone_type: str
    """The MilestoneType's ``Name`` (``First Response``, ``Resolution``)."""
    clock: str
    """The telecase clock the milestone type is configured for (``first_response``,
    ``resolution``); the worker refuses one it has no clock for."""
    target_at: datetime
    """``TargetDate``: "the date and time the milestone must be completed"."""
    violated: bool
    """``IsViolated``."""
    observed_at: datetime
    """When telecase read it: the instant the worker adopts the target at."""
    record: dict[str, Any] = {}
    """The row exactly as the API returned it."""

    def routing_key(self) -> str:
        return routing_key(self.ticket_id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
