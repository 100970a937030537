"""A person's request to open a ticket: the ``ticket.commands`` record behind
``telecase ticket open`` and the dashboard's "open ticket" form (``telecase.ops.ticket``).

:class:`TicketRequest` (``kind`` ``telecase.ticket_request``) is keyed by its chat, like every
``ticket.commands`` record, so it is decided in the partition of the thread it opens:

- **outreach** (``mode="outreach"``): an agent starts a conversation with ``customer_id``.
  In a forum (``chat_id`` the team forum) the requester has already opened the topic
  (``thread_id``, named from the subject); in the customer's private chat with the bot
  (``chat_id == customer_id``) there is no topic. ``message`` is the agent's first message.
- **manual** (``mode="manual"``): an inquiry that did not arrive through Telegram;
  ``chat_id`` is 0 (no chat), ``customer_name``/``phone``/``note`` describe it.

``request_id`` is unique per request: the worker decides a request once however often it is
delivered (``streams.core.requests``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

MANUAL_CHAT_ID = 0
"""The chat of every manual ticket: none (Telegram chat ids are never 0)."""


class TicketRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.ticket_request"] = "telecase.ticket_request"
    version: Literal[1] = 1
    request_id: str
    mode: Literal["outreach", "manual"]
    origin: Literal["agent", "salesforce", "manual"] = "agent"
    chat_id: int = MANUAL_CHAT_ID
    thread_id: int | None = None
    customer_id: int | None = None
    """The customer's Telegram user id (outreach)."""
    customer_username: str | None = None
    customer_name: str | None = None
    phone: str | None = None
    note: str | None = None
    subject: str = ""
    message: str = ""
    case_id: str | None = None
    """The Salesforce Case the outreach was opened from (``origin="salesforce"``)."""
    requested_by: str
    at: datetime

    def routing_key(self) -> str:
        return f"chat:{self.chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
