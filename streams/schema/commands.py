"""Records telecase writes to itself, as opposed to what the outside world said.

``ticket.commands`` (keyed by chat, co-partitioned with ``telegram.updates``) carries:

- :class:`Tick`: the clock. The ticket worker fires the SLA timers due at ``at`` in its
  partition. Time is in the log as data, so re-folding a partition after a crash fires exactly
  what was fired before (same events, same ``seq``), and a worker that took the partition over
  fires what came due while nobody held it.
- :class:`Assignment`: a decision of the desk (routing and assignment), for the ticket worker to
  record as ``ticket.routed`` / ``ticket.assigned`` events.

``desk.requests`` (one partition) carries :class:`DeskRequest`: a person's claim, reassignment
or availability change, for the desk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from streams.schema.events import AssignmentSource


class Tick(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.tick"] = "telecase.tick"
    version: Literal[1] = 1
    partition: int
    """The partition it was written to (a tick speaks for its own partition only)."""
    at: datetime

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class Assignment(BaseModel):
    """One desk decision about one ticket. ``decision_id`` is unique per decision; the worker
    records a decision once, and only what differs from the ticket's state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.assignment"] = "telecase.assignment"
    version: Literal[1] = 1
    decision_id: str
    ticket_id: str
    chat_id: int
    action: Literal["routed", "assigned", "unassigned"]
    queue: str | None = None
    rule: str | None = None
    agent_id: str | None = None
    salesforce_user_id: str | None = None
    assigned_by: AssignmentSource = "policy"
    reason: str
    at: datetime

    def routing_key(self) -> str:
        return f"chat:{self.chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class DeskRequest(BaseModel):
    """``claim``: ``agent_id`` takes ``ticket_id``; ``reassign``: to ``agent_id`` (or, without
    one, to the next agent the queue picks); ``availability``: ``agent_id`` is now
    ``availability``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.desk_request"] = "telecase.desk_request"
    version: Literal[1] = 1
    request_id: str
    action: Literal["claim", "reassign", "availability"]
    ticket_id: str | None = None
    agent_id: str | None = None
    availability: Literal["available", "away", "offline"] | None = None
    reason: str = ""
    requested_by: str
    at: datetime

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
