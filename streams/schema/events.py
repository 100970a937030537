"""Ticket events: the facts in ``ticket.events``, the system of record.

Every event is past tense, frozen, and carries an explicit ``version``. Old payloads must decode
forever: when a schema changes, bump its version and add an upcaster to ``UPCASTERS`` next to it,
so :func:`decode_event` lifts an old record to the current model before anyone reads it.

Common envelope fields:

- ``event_id``: ``<ticket_id>#<seq>``; deterministic, so a re-emitted event is recognisable.
- ``seq``: position in the ticket's own history, starting at 1 with ``TicketOpened``.
  Consumers apply an event only when ``seq`` is past what they have; that makes a redelivered or
  re-derived event a no-op.
- ``occurred_at``: when it happened in the outside world (Telegram's ``date``); ``recorded_at``:
  when telecase received the input that produced it (the raw envelope's ``received_at``).
- ``source``: the input it was derived from; ``actor``: who or what caused it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Channel = Literal["forum_topic", "general_topic", "private_chat"]
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


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    ticket_id: str
    seq: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    source: SourceRef
    actor: Actor


class TicketOpened(_Event):
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


class CustomerMessageReceived(_Event):
    type: Literal["customer.message_received"] = "customer.message_received"
    version: Literal[1] = 1
    message_id: int
    sender: Customer
    text: str
    content_kind: str
    message_version: int = Field(description="0 for the original, else the edit_date")
    reply_to_message_id: int | None = Field(description="an explicit reply, never the implicit "
                                            "reply to the topic's creation message")


class CustomerMessageEdited(_Event):
    type: Literal["customer.message_edited"] = "customer.message_edited"
    version: Literal[1] = 1
    message_id: int
    sender: Customer
    text: str
    message_version: int


class TopicRenamed(_Event):
    type: Literal["topic.renamed"] = "topic.renamed"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None
    name: str


class TopicClosed(_Event):
    type: Literal["topic.closed"] = "topic.closed"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None


class TopicReopened(_Event):
    type: Literal["topic.reopened"] = "topic.reopened"
    version: Literal[1] = 1
    message_id: int
    sender: Customer | None = None


class Agent(BaseModel):
    """An agent as the log knows them: a rostered Telegram user, a Salesforce user, or both."""

    model_config = ConfigDict(frozen=True)

    telegram_user_id: int | None = None
    salesforce_user_id: str | None = None
    display_name: str | None = None


class TemplateRef(BaseModel):
    """The response template an agent's reply was expanded from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    source: Literal["file", "quick_text"]
    id: str | None = None
    """The Quick Text's record id (``source="quick_text"``)."""


class ArticleRef(BaseModel):
    """The Salesforce Knowledge article an agent's reply links (found by ``/kb <query>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_event_id: str
    """The ``knowledge.requested`` event this answers."""
    query: str
    id: str
    """The article version (``Knowledge__kav`` Id)."""
    knowledge_article_id: str
    """The article (``KnowledgeArticleId``): what a ``CaseArticle`` links."""
    title: str
    url: str
    version_number: int | None = None
    language: str | None = None


class AgentReplied(_Event):
    """An agent answered the customer.

    ``via="telegram"``: written in the group by a rostered agent, so the customer has already
    seen it (``message_id`` is the Telegram message); it is mirrored to Salesforce as a
    CaseComment. ``via="salesforce"``: a CaseComment an agent wrote (``comment_id``); the reply
    mirror delivers it into the ticket's thread. ``chat_id``/``thread_id`` say where the ticket
    lives in Telegram (``thread_id`` is ``None`` in a private chat or the General topic).

    Version 2 adds what an agent's command produced (``streams.core.agent_tools``): ``template``
    (``/t <name>``: ``text`` is the expansion) or ``article`` (``/kb <query>``: ``text`` is the
    article's summary and link). Either way the agent's command never reached the customer, so
    the reply mirror sends ``text`` whatever ``via`` says; ``comment_id``/``message_id`` then
    name the agent's command (the CaseComment, or the Telegram message the mirror removes).
    """

    type: Literal["agent.replied"] = "agent.replied"
    version: Literal[2] = 2
    via: Literal["telegram", "salesforce"]
    message_id: int | None = None
    comment_id: str | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    agent: Agent
    text: str
    template: TemplateRef | None = None
    article: ArticleRef | None = None

    @property
    def sent_by_telecase(self) -> bool:
        """Whether the customer sees ``text`` only when telecase sends it (a reply written
        in Salesforce, or anything a command produced)."""
        return self.via == "salesforce" or self.template is not None or self.article is not None


AgentCommand = Literal["template", "knowledge"]


class KnowledgeRequested(_Event):
    """An agent asked for a Knowledge article (``/kb <query>``, from a CaseComment or in the
    Telegram topic). The search is I/O: the Salesforce connector runs it and appends what it
    found to ``salesforce.changes``; the worker then records an ``agent.replied`` with the
    ``article`` (delivered to the customer) or an ``agent_command.refused`` (no match)."""

    type: Literal["knowledge.requested"] = "knowledge.requested"
    version: Literal[1] = 1
    query: str
    via: Literal["telegram", "salesforce"]
    agent: Agent
    comment_id: str | None = None
    message_id: int | None = None
    chat_id: int | None = None
    thread_id: int | None = None


class AgentCommandRefused(_Event):
    """An agent's command could not be carried out and nothing reached the customer: an
    unknown template, a variable the ticket lacks, a malformed command, or no Knowledge
    article matching. ``detail`` is the sentence the agent is told (Salesforce: an internal
    CaseComment on the Case; Telegram: a private message, else a note in the topic)."""

    type: Literal["agent_command.refused"] = "agent_command.refused"
    version: Literal[1] = 1
    command: AgentCommand
    argument: str
    reason: Literal["usage", "unknown_template", "invalid_template", "missing_variable",
                    "no_article"]
    detail: str
    via: Literal["telegram", "salesforce"]
    agent: Agent
    comment_id: str | None = None
    message_id: int | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    request_event_id: str | None = None
    """The ``knowledge.requested`` event a ``no_article`` answers."""


class SalesforceCaseLinked(_Event):
    """The ticket's Case exists in Salesforce (created or found by the outbound sync)."""

    type: Literal["salesforce.case_linked"] = "salesforce.case_linked"
    version: Literal[1] = 1
    case_id: str
    case_number: str | None
    contact_id: str | None = None
    lead_id: str | None = None


class CaseStatusChanged(_Event):
    """An agent changed the Case's Status in Salesforce. ``is_closed`` follows Salesforce's
    ``IsClosed`` (the status's meaning, whatever its label)."""

    type: Literal["case.status_changed"] = "case.status_changed"
    version: Literal[1] = 1
    status: str
    previous_status: str | None
    is_closed: bool


class CaseOwnerChanged(_Event):
    """The Case's Owner (a user or a queue) changed in Salesforce."""

    type: Literal["case.owner_changed"] = "case.owner_changed"
    version: Literal[1] = 1
    owner_id: str
    owner_name: str | None
    previous_owner_id: str | None


class TopicRecreated(_Event):
    """The ticket's forum topic was deleted; the reply mirror created a new one and the
    ticket continues there (``thread_id`` becomes ``new_thread_id``)."""

    type: Literal["topic.recreated"] = "topic.recreated"
    version: Literal[1] = 1
    old_thread_id: int
    new_thread_id: int
    name: str


class TopicReconciled(_Event):
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


class TicketClosed(_Event):
    type: Literal["ticket.closed"] = "ticket.closed"
    version: Literal[1] = 1
    reason: str


SlaClock = Literal["first_response", "resolution"]
AssignmentSource = Literal["policy", "next_agent", "claim", "reassign", "salesforce"]


class SlaStarted(_Event):
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


class _SlaSignal(_Event):
    signal: str
    """The signal's key, unique within the ticket (``first_response_warning:0.8``, ...)."""
    tier: str
    team: str
    reason: str


class SlaWarning(_SlaSignal):
    """A share of a target elapsed with the target still unmet (``occurred_at``: that instant)."""

    type: Literal["sla.warning"] = "sla.warning"
    version: Literal[1] = 1
    clock: SlaClock
    threshold: float
    target: timedelta


class SlaBreached(_SlaSignal):
    type: Literal["sla.breached"] = "sla.breached"
    version: Literal[1] = 1
    clock: SlaClock
    target: timedelta


class SlaMet(_SlaSignal):
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


class SlaEscalated(_SlaSignal):
    """An escalation level fired. Its actions are carried out by the consumers of the log:
    the desk reassigns, the Salesforce sync sets fields and posts the comment, the Telegram
    mirror sends the notifications."""

    type: Literal["sla.escalated"] = "sla.escalated"
    version: Literal[1] = 1
    level: int
    escalate_to: str
    actions: tuple[EscalationAction, ...]


class TicketRouted(_Event):
    """The desk put the ticket in a queue."""

    type: Literal["ticket.routed"] = "ticket.routed"
    version: Literal[1] = 1
    queue: str
    rule: str | None
    reason: str


class TicketAssigned(_Event):
    """The desk gave the ticket to an agent, or took it from one (``agent_id=None``: it
    waits for capacity, or Salesforce gave it to someone who is no agent of the policy)."""

    type: Literal["ticket.assigned"] = "ticket.assigned"
    version: Literal[1] = 1
    decision_id: str
    agent_id: str | None
    salesforce_user_id: str | None
    """The Case owner this asks for (the agent's User id; ``None``: leave the owner alone)."""
    previous_agent_id: str | None
    queue: str | None
    assigned_by: AssignmentSource
    reason: str


# ----------------------------------------------------------------------------- intake forms


class IntakeButton(BaseModel):
    """One button of a question's reply keyboard (``request_contact``: Telegram's "share my
    phone number" button, which sends the customer's own contact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    request_contact: bool = False


class _IntakeEvent(_Event):
    """An event of a bot intake form (``streams.core.intake``). Its ``ticket_id`` is the
    form's id, ``tg:<chat>:p:intake:<n>``: a form is a stream of its own in
    ``ticket.events`` (``seq`` from 1 with ``intake.started``), which opens a ticket only
    when completed. ``chat_id`` is the customer's private chat with the bot."""

    chat_id: int


class IntakeStarted(_IntakeEvent):
    type: Literal["intake.started"] = "intake.started"
    version: Literal[1] = 1
    customer: Customer
    number: int
    """The form's number in the chat (1, 2, ...)."""


class IntakeQuestionAsked(_IntakeEvent):
    """The bot asks for ``field`` (again, with ``problem`` saying why, after an answer it
    could not take). The Telegram intake messenger sends ``text`` with ``keyboard`` once."""

    type: Literal["intake.question_asked"] = "intake.question_asked"
    version: Literal[1] = 1
    field: str
    text: str
    keyboard: tuple[tuple[IntakeButton, ...], ...] = ()
    problem: str | None = None


class IntakeAnswered(_IntakeEvent):
    """The customer answered ``field`` (a later answer to the same field replaces it)."""

    type: Literal["intake.answered"] = "intake.answered"
    version: Literal[1] = 1
    field: str
    value: str
    """Normalised (a deal size as a plain number, a phone number as E.164)."""
    message_id: int


class IntakeWentBack(_IntakeEvent):
    type: Literal["intake.went_back"] = "intake.went_back"
    version: Literal[1] = 1
    from_field: str
    to_field: str


class IntakeCompleted(_IntakeEvent):
    """Every field answered: the form opened ``opened_ticket_id`` (its ``ticket.opened``
    carries the same answers). ``text`` is the bot's closing message."""

    type: Literal["intake.completed"] = "intake.completed"
    version: Literal[1] = 1
    answers: IntakeAnswers
    opened_ticket_id: str
    text: str


class IntakeAbandoned(_IntakeEvent):
    """The form ends with nothing opened: the customer cancelled it, or left it unanswered
    for the configured time (``occurred_at``: the instant it timed out)."""

    type: Literal["intake.abandoned"] = "intake.abandoned"
    version: Literal[1] = 1
    reason: Literal["cancelled", "timed_out"]
    at_field: str
    text: str


class IntakeTopicOpened(_Event):
    """A ticket opened by an intake form got a forum topic in the team's group
    (``chat_id``, ``thread_id``), where agents work it: the form's summary is posted there,
    the customer's messages are copied there, and rostered agents' messages there are
    relayed to the customer's private chat."""

    type: Literal["intake.topic_opened"] = "intake.topic_opened"
    version: Literal[1] = 1
    chat_id: int
    thread_id: int
    name: str


INTAKE_FORM_EVENTS = (IntakeStarted, IntakeQuestionAsked, IntakeAnswered, IntakeWentBack,
                      IntakeCompleted, IntakeAbandoned)
"""The events of a form's own stream (``ticket_id`` is the form's id, not a ticket's)."""


TicketEvent = Annotated[
    TicketOpened
    | CustomerMessageReceived
    | CustomerMessageEdited
    | TopicRenamed
    | TopicClosed
    | TopicReopened
    | AgentReplied
    | KnowledgeRequested
    | AgentCommandRefused
    | SalesforceCaseLinked
    | CaseStatusChanged
    | CaseOwnerChanged
    | TopicRecreated
    | TopicReconciled
    | TicketClosed
    | SlaStarted
    | SlaWarning
    | SlaBreached
    | SlaMet
    | SlaEscalated
    | TicketRouted
    | TicketAssigned
    | IntakeStarted
    | IntakeQuestionAsked
    | IntakeAnswered
    | IntakeWentBack
    | IntakeCompleted
    | IntakeAbandoned
    | IntakeTopicOpened,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[type[_Event], ...] = (
    TicketOpened, CustomerMessageReceived, CustomerMessageEdited,
    TopicRenamed, TopicClosed, TopicReopened, AgentReplied, SalesforceCaseLinked,
    CaseStatusChanged, CaseOwnerChanged, TopicRecreated, TopicReconciled, TicketClosed,
    SlaStarted, SlaWarning, SlaBreached, SlaMet, SlaEscalated, TicketRouted, TicketAssigned,
    KnowledgeRequested, AgentCommandRefused, *INTAKE_FORM_EVENTS, IntakeTopicOpened,
)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("agent.replied", 1): lambda payload: {**payload, "version": 2},
    # v2 added ``template`` and ``article``; a v1 reply had neither.
    ("ticket.opened", 1): lambda payload: {**payload, "version": 2},
    # v2 added ``intake``; a v1 opening came from no intake form.
}
"""``(type, old_version) -> function`` lifting a payload one version up; the decode path runs
the chain."""

_ADAPTER: TypeAdapter[TicketEvent] = TypeAdapter(TicketEvent)
_CURRENT = {cls.model_fields["type"].default: cls.model_fields["version"].default
            for cls in EVENT_TYPES}


class UnknownEventError(ValueError):
    """A record in ``ticket.events`` whose type or version this build cannot read."""


def upcast(payload: dict[str, Any]) -> dict[str, Any]:
    """Lift an old payload to the current version of its type, one step at a time."""
    kind = str(payload.get("type"))
    if kind not in _CURRENT:
        raise UnknownEventError(f"unknown ticket event type {kind!r}")
    version = int(payload.get("version", 1))
    while version < _CURRENT[kind]:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise UnknownEventError(f"no upcaster for {kind} v{version}")
        payload = step(payload)
        version = payload["version"]
    if version > _CURRENT[kind]:
        raise UnknownEventError(f"{kind} v{version} is newer than this build reads")
    return payload


def decode_event(data: bytes | str | dict[str, Any]) -> TicketEvent:
    """Parse a stored event, upcasting old versions first."""
    payload = json.loads(data) if isinstance(data, bytes | str) else dict(data)
    return _ADAPTER.validate_python(upcast(payload))


def encode_event(event: TicketEvent) -> bytes:
    return event.model_dump_json().encode()
