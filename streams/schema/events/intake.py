"""Intake form events: a bot intake form's own stream, and the topic its ticket got."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict

from streams.schema.events.base import Customer, EventBase


class IntakeAnswers(BaseModel):
    """The answers of a completed bot intake form (``streams.core.intake_form`` validated and
    normalised each one): what a Lead is made of, and facts the SLA and routing policies
    read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    company: str
    product: str
    region: str
    deal_size: Decimal
    phone: str
    """E.164 (``+`` and digits), from the customer's own shared contact."""


class IntakeButton(BaseModel):
    """One button of a question's reply keyboard (``request_contact``: Telegram's "share my
    phone number" button, which sends the customer's own contact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    request_contact: bool = False


class IntakeFormEventBase(EventBase):
    """An event of a bot intake form (``streams.core.intake``). Its ``ticket_id`` is the
    form's id, ``tg:<chat>:p:intake:<n>``: a form is a stream of its own in
    ``ticket.events`` (``seq`` from 1 with ``intake.started``), which opens a ticket only
    when completed. ``chat_id`` is the customer's private chat with the bot."""

    chat_id: int


class IntakeStarted(IntakeFormEventBase):
    type: Literal["intake.started"] = "intake.started"
    version: Literal[1] = 1
    customer: Customer
    number: int
    """The form's number in the chat (1, 2, ...)."""


class IntakeQuestionAsked(IntakeFormEventBase):
    """The bot asks for ``field`` (again, with ``problem`` saying why, after an answer it
    could not take). The Telegram intake messenger sends ``text`` with ``keyboard`` once."""

    type: Literal["intake.question_asked"] = "intake.question_asked"
    version: Literal[1] = 1
    field: str
    text: str
    keyboard: tuple[tuple[IntakeButton, ...], ...] = ()
    problem: str | None = None


class IntakeAnswered(IntakeFormEventBase):
    """The customer answered ``field`` (a later answer to the same field replaces it)."""

    type: Literal["intake.answered"] = "intake.answered"
    version: Literal[1] = 1
    field: str
    value: str
    """Normalised (a deal size as a plain number, a phone number as E.164)."""
    message_id: int


class IntakeWentBack(IntakeFormEventBase):
    type: Literal["intake.went_back"] = "intake.went_back"
    version: Literal[1] = 1
    from_field: str
    to_field: str


class IntakeCompleted(IntakeFormEventBase):
    """Every field answered: the form opened ``opened_ticket_id`` (its ``ticket.opened``
    carries the same answers). ``text`` is the bot's closing message."""

    type: Literal["intake.completed"] = "intake.completed"
    version: Literal[1] = 1
    answers: IntakeAnswers
    opened_ticket_id: str
    text: str


class IntakeAbandoned(IntakeFormEventBase):
    """The form ends with nothing opened: the customer cancelled it, or left it unanswered
    for the configured time (``occurred_at``: the instant it timed out)."""

    type: Literal["intake.abandoned"] = "intake.abandoned"
    version: Literal[1] = 1
    reason: Literal["cancelled", "timed_out"]
    at_field: str
    text: str


class IntakeTopicOpened(EventBase):
    """A ticket opened by an intake form got a forum topic in the team's group
    (``chat_id``, ``thread_id``), where agents work it: the form's summary is posted there,
    the customer's messages are copied there, and rostered agents' messages there are
    relayed to the customer's private chat."""

    type: Literal["intake.topic_opened"] = "intake.topic_opened"
    version: Literal[1] = 1
    chat_id: int
    thread_id: int
    name: str


IntakeFormEvent: TypeAlias = (
    IntakeStarted | IntakeQuestionAsked | IntakeAnswered | IntakeWentBack | IntakeCompleted
    | IntakeAbandoned
)
"""The events of a form's own stream (``ticket_id`` is the form's id, not a ticket's)."""

INTAKE_FORM_EVENTS: tuple[type[IntakeFormEvent], ...] = get_args(IntakeFormEvent)
""":data:`IntakeFormEvent`'s members, for ``isinstance``."""

IntakeEvent: TypeAlias = IntakeFormEvent | IntakeTopicOpened
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""
