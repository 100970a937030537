"""Conversation events: a ticket's life in Telegram (opened, messages, its topic, closed)."""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from streams.schema.events.base import Channel, Customer, EventBase
from streams.schema.events.intake import IntakeAnswers


class TicketOpened(EventBase):
    """Version 2 adds ``intake``: the answers of the bot intake form that opened the ticket
    (``None`` for every other ticket, and for every version 1 payload)."""

    type: Literal["ticket.opened"] = "ticket.opened"
    version: Literal[2] = 2
    channel: Channel
    chat_id: int
    thread_id: int | None
    thread_key: str
    subject: str
    subject_message_id: int
    customer: Customer | None
    customer_message_id: int
    intake: IntakeAnswers | None = None


class Attachment(BaseModel):
    """A file a customer sent (photo, document, voice, video, audio, a sticker as an image), as
    Telegram describes it: ``file_id`` fetches it (``getFile``), ``file_unique_id`` is the same
    file across bots and time. ``file_size`` is ``None`` when Telegram did not say."""

    model_config = ConfigDict(frozen=True)

    kind: str
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    mime_type: str | None = None
    file_size: int | None = None


class CustomerMessageReceived(EventBase):
    """Version 2 adds ``attachment``: the file the message carries (``None`` for a message
    without one, and for every version 1 payload)."""

    type: Literal["customer.message_received"] = "customer.message_received"
    version: Literal[2] = 2
    message_id: int
    sender: Customer
    text: str
    content_kind: str
    message_version: int = Field(description="0 for the original, else the edit_date")
    reply_to_message_id: int | None = Field(description="an explicit reply, never the implicit "
                                            "reply to the topic's creation message")
    attachment: Attachment | None = None


class CustomerMessageEdited(EventBase):
    type: Literal["customer.message_edited"] = "customer.message_edited"
    version: Literal[1] = 1
    message_id: int
    sender: Customer
    text: str
    message_version: int


class TopicRenamed(EventBase):
    type: Literal["topic.renamed"] = "topic.renamed"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None
    name: str


class TopicClosed(EventBase):
    type: Literal["topic.closed"] = "topic.closed"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None


class TopicReopened(EventBase):
    type: Literal["topic.reopened"] = "topic.reopened"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None


class TopicRecreated(EventBase):
    """The ticket's forum topic was deleted; the reply mirror created a new one and the
    ticket continues there (``thread_id`` becomes ``new_thread_id``)."""

    type: Literal["topic.recreated"] = "topic.recreated"
    version: Literal[1] = 1
    old_thread_id: int
    new_thread_id: int
    name: str


class TopicReconciled(EventBase):
    """Reconciliation found the ticket's forum topic not as the log has it: ``found``
    ``closed`` (the ticket is open, so customers could not write; ``action`` ``reopened``: it
    reopened the topic) or ``missing`` (deleted; the reply mirror opens a new topic when it
    next writes to the ticket). Changes nothing in the ticket's state."""

    type: Literal["topic.reconciled"] = "topic.reconciled"
    version: Literal[1] = 1
    thread_id: int
    found: Literal["closed", "missing"]
    action: Literal["reopened", "none"]
    detail: str


class TicketClosed(EventBase):
    type: Literal["ticket.closed"] = "ticket.closed"
    version: Literal[1] = 1
    reason: str



class TicketRequested(EventBase):
    """A person opened the ticket (``streams.core.requests``), right after its
    ``ticket.opened``: ``origin`` ``agent`` (``telecase ticket open``, the dashboard) or
    ``salesforce`` (a Case marked for Telegram, ``case_id``) for outreach, which is
    ``outbound`` (the SLA clocks wait for the customer's first answer); ``manual`` for an
    inquiry that did not arrive through Telegram (``customer_name``, ``phone``, ``note``).
    ``request_id`` makes the request idempotent."""

    type: Literal["ticket.requested"] = "ticket.requested"
    version: Literal[1] = 1
    request_id: str
    origin: Literal["agent", "salesforce", "manual"]
    direction: Literal["outbound", "inbound"]
    requested_by: str
    customer_name: str | None = None
    phone: str | None = None
    note: str | None = None
    case_id: str | None = None


class TicketCustomerLinked(EventBase):
    """A manual ticket's caller is this Telegram customer (``streams.core.phone_links``): the
    customer shared, as their own, the phone the ticket was recorded with. ``from_ticket_id``
    is the Telegram ticket they shared it in (``None``: known from an earlier share when the
    manual ticket was recorded)."""

    type: Literal["ticket.customer_linked"] = "ticket.customer_linked"
    version: Literal[1] = 1
    customer: Customer
    phone: str
    from_ticket_id: str | None = None


ConversationEvent: TypeAlias = (
    TicketOpened | CustomerMessageReceived | CustomerMessageEdited | TopicRenamed | TopicClosed
    | TopicReopened | TopicRecreated | TopicReconciled | TicketClosed | TicketRequested
    | TicketCustomerLinked
)
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""
