"""A Telegram customer shared their own phone: the ``ticket.commands`` record that carries it
to the manual tickets' partition (``streams.core.phone_links``).

:class:`PhoneShared` (``kind`` ``telecase.phone_shared``) is written by the worker, with the
events of the message that shared the contact, and keyed like every manual ticket
(``chat:0``), so the partition that holds the manual tickets and their phone directory
decides it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from streams.schema.events import Customer
from streams.schema.ticket_requests import MANUAL_CHAT_ID


class PhoneShared(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.phone_shared"] = "telecase.phone_shared"
    version: Literal[1] = 1
    phone: str
    """E.164, as the core recorded it on the customer."""
    customer: Customer
    ticket_id: str
    """The Telegram ticket the contact was shared in."""
    event_id: str
    """The ``customer.message_received`` that carried it (makes the record unique)."""
    at: datetime

    def routing_key(self) -> str:
        return f"chat:{MANUAL_CHAT_ID}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
