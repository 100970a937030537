"""What every ticket event carries: the common envelope fields and who/what caused it.

:class:`EventBase` is the parent of every event model in this package; its fields are
described in :mod:`streams.schema.events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["forum_topic", "general_topic", "private_chat", "manual"]
"""Where a ticket lives. ``manual``: an inquiry recorded by a person (a call, a walk-in, an
outage), with no Telegram chat (``chat_id`` 0; ``streams.core.requests``)."""
TicketStatus = Literal["open", "closed"]


class Actor(BaseModel):
    """Who caused an event: a Telegram customer, the bot itself, or telecase (system)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["customer", "bot", "system", "agent"]
    id: str | None = None
    display_name: str | None = None


class Customer(BaseModel):
    """A Telegram user as a ticket knows them (no phone until they share it)."""

    model_config = ConfigDict(frozen=True)

    telegram_user_id: int
    username: str | None = None
    first_name: str = ""
    last_name: str | None = None
    language_code: str | None = None
    phone: str | None = None
    """Only on a message in which the customer shared their own contact (Telegram gives a
    phone number no other way)."""


class SourceRef(BaseModel):
    """The input an event was derived from."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["telegram", "command", "salesforce", "clock", "desk", "reconcile"]
    update_id: int | None = None
    chat_id: int | None = None
    message_id: int | None = None
    change_id: str | None = None
    """The ``salesforce.changes`` record's idempotency key (``kind="salesforce"``), the desk's
    decision id (``kind="desk"``), reconciliation's check id (``kind="reconcile"``)."""
    tick_at: datetime | None = None
    """The clock tick that fired the event (``kind="clock"``)."""


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    ticket_id: str
    seq: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    source: SourceRef
    actor: Actor
