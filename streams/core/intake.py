"""Bot intake forms in private chats, and their topics in the team's group (pure).

The form itself (questions, checks, the state machine) is ``streams.core.intake_form``; this
module decides a private chat's messages against it and turns its steps into events.

**Where a form lives.** A form is part of its private chat's thread state
(``ThreadState.intake``), folded from its events, so replaying ``telegram.updates`` rebuilds
it and a worker that restarts mid-form carries on. Its events form a stream of their own in
``ticket.events`` under the form's id ``tg:<chat>:p:intake:<n>`` (``intake.started``,
``intake.question_asked``, ``intake.answered``, ``intake.went_back``, then
``intake.completed`` or ``intake.abandoned``); projections that follow tickets skip them (no
``ticket.opened``), the audit trail keeps them. The bot's questions are
``intake.question_asked`` events, which the Telegram intake messenger sends, once each.

**Which messages are the form's** (:func:`wants_form`). In a private chat where no ticket is
open, the start command (``/start``) begins a form; while one is open, every new message is
an input to it (an edit, or a message older than one it took, is ignored). Anything else goes
to the ticket core as before: a plain message opens a ticket, and ``/start`` in an open
ticket is just a message of that ticket.

**Completion** records ``intake.completed`` on the form and, in the same decision,
``ticket.opened`` for the chat's next ticket (``tg:<chat>:p:<n>``) carrying the answers
(``TicketOpened.intake``), which the SLA policy (tier rules on deal size, region, product),
the desk (routing) and the Salesforce sync (the Lead) read. Its clocks start at once: the
form is its first message.

**Abandonment.** ``/cancel`` (or its button), or no input for ``IntakeRules.timeout`` (timed
by when telecase received each input, the envelope's ``received_at``, never by the message's
``date``, so a late redelivery does not time a form out instantly), ends
the form with ``intake.abandoned`` and opens nothing. The timeout fires from the worker's clock
ticks (:func:`form_due`, :func:`expire_form`; time is data, as for SLA timers), or, if a
message arrives first, at that message, stamped with the instant the form timed out.

**The intake topic.** With ``IntakeRules.topic_chat_id`` (the team's forum group), the
messenger opens a topic there for each intake ticket and posts the summary. That group is a
workspace, not a source of tickets: its messages open nothing. A rostered agent's message in
an intake topic is carried (an ``IntakeRelay`` in ``ticket.commands``, keyed by the customer's
chat) to the ticket's partition and recorded there as ``agent.replied`` (``via="telegram"``,
``chat_id`` the customer's chat), which the messenger delivers to the customer
(:func:`is_relayed_reply`). Not relayed: service messages, edits, messages from people who
are not on the agent roster, messages without text (media), and commands (starting with
``/``), so an agent's aside never reaches the customer by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from streams.core.intake_form import (
    BACK_BUTTON,
    CANCEL_BUTTON,
    SHARE_PHONE_BUTTON,
    Answer,
    Ask,
    Cancelled,
    Complete,
    FormSpec,
    GoBack,
    IntakeState,
    SharedContact,
    classify,
    default_form,
    is_command,
    step,
)
from streams.core.phones import e164
from streams.core.routing import Routed
from streams.core.ticket import (
    DecisionError,
    ReceiveTelegramMessage,
    ThreadState,
    decide,
    fold,
)
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    Customer,
    IntakeAbandoned,
    IntakeAnswered,
    IntakeAnswers,
    IntakeButton,
    IntakeCompleted,
    IntakeQuestionAsked,
    IntakeStarted,
    IntakeTopicOpened,
    IntakeWentBack,
    SourceRef,
    TicketEvent,
    TicketOpened,
)
from streams.schema.intake_records import IntakeRelay, IntakeTopicRecord
from streams.schema.telegram import Message, User

SUBJECT_MAX = 255
_BOT = Actor(kind="bot", display_name="telecase intake form")
_CLOCK = Actor(kind="system", display_name="telecase intake timeout")


@dataclass(frozen=True)
class IntakeRules:
    """How private-chat intake works (the composition root builds it from settings).
    ``command`` empty: no form (every private message goes to the ticket core)."""

    form: FormSpec = field(default_factory=default_form)
    command: str = "/start"
    timeout: timedelta = timedelta(minutes=30)
    topic_chat_id: int | None = None
    phone_region: str | None = None
    """The region of a phone number shared without a country code (``streams.core.phones``;
    the setting ``TELECASE_DEFAULT_PHONE_REGION``)."""

    @property
    def forms(self) -> bool:
        return bool(self.command)


def form_id(chat_id: int, number: int) -> str:
    return f"tg:{chat_id}:p:intake:{number}"


def is_form_id(ticket_id: str) -> bool:
    return ":p:intake:" in ticket_id


# ----------------------------------------------------------------------------- deciding


def wants_form(command: ReceiveTelegramMessage, state: ThreadState,
               rules: IntakeRules) -> bool:
    """Whether :func:`decide_form` (rather than the ticket core) decides this message."""
    routed = command.routed
    if routed.channel != "private_chat" or routed.thread_id is not None or not rules.forms:
        return False  # a private chat's topics are tickets of their own, with no form
    form = state.intake
    return (form is not None and form.is_open) or _starts_form(routed, state, rules)


def _starts_form(routed: Routed, state: ThreadState, rules: IntakeRules) -> bool:
    current = state.current
    return (not routed.is_edit and is_command(routed.message.text, rules.command)
            and (current is None or current.status != "open"))


def decide_form(command: ReceiveTelegramMessage, state: ThreadState,
                rules: IntakeRules) -> list[TicketEvent]:
    """The events of one private-chat message that :func:`wants_form`."""
    if state.has_update(command.update_id):
        return []
    routed, form = command.routed, state.intake
    msg = routed.message
    at = command.received_at  # timeouts go by arrival, not the message's date
    events: list[TicketEvent] = []
    if form is not None and form.is_open:
        if routed.is_edit or msg.message_id <= form.last_message_id:
            return []  # a form takes new messages only
        deadline = _deadline(form, rules)
        if at < deadline:
            return _advance(form, command, state, rules)
        events.append(_timed_out(form, deadline, command.received_at,
                                 SourceRef(kind="telegram", chat_id=routed.chat_id), rules))
        if not _starts_form(routed, state, rules):
            return events + decide(command, state)  # the message is an ordinary one now
    return events + _begin(command, state, rules)


def _begin(command: ReceiveTelegramMessage, state: ThreadState,
           rules: IntakeRules) -> list[TicketEvent]:
    routed = command.routed
    number = state.intake.number + 1 if state.intake is not None else 1
    customer = _customer(routed.message.from_)
    out = _Out(form_id(routed.chat_id, number), 0, command, routed.chat_id)
    out.add(IntakeStarted, _actor(routed.message.from_), customer=customer, number=number)
    first = rules.form.fields[0].key
    out.add(IntakeQuestionAsked, _BOT, **question(rules.form, first, {}, None))
    return out.events


def _advance(form: IntakeState, command: ReceiveTelegramMessage, state: ThreadState,
             rules: IntakeRules) -> list[TicketEvent]:
    routed = command.routed
    msg = routed.message
    given = classify(msg.text if msg.text is not None else msg.caption,
                     _contact(msg, rules.phone_region),
                     msg.content_kind(), rules.command)
    out = _Out(form.form_id, form.seq, command, routed.chat_id)
    customer = _actor(msg.from_)
    answers = dict(form.answers)
    for done in step(rules.form, form.asking, answers, given):
        if isinstance(done, Ask):
            out.add(IntakeQuestionAsked, _BOT,
                    **question(rules.form, done.field, answers, done.problem))
        elif isinstance(done, Answer):
            answers[done.field] = done.value
            out.add(IntakeAnswered, customer, field=done.field, value=done.value,
                    message_id=msg.message_id)
        elif isinstance(done, GoBack):
            out.add(IntakeWentBack, customer, from_field=done.from_field,
                    to_field=done.to_field)
        elif isinstance(done, Cancelled):
            out.add(IntakeAbandoned, customer, reason="cancelled", at_field=done.at_field,
                    text=CANCELLED_TEXT.format(command=rules.command))
        elif isinstance(done, Complete):
            ticket_id = f"tg:{routed.chat_id}:p:{len(state.tickets) + 1}"
            out.add(IntakeCompleted, customer, answers=done.answers,
                    opened_ticket_id=ticket_id,
                    text=COMPLETED_TEXT.format(name=done.answers.name.split()[0],
                                               ticket_id=ticket_id))
            out.events.append(_opened(ticket_id, done.answers, command, form))
    return out.events


def _opened(ticket_id: str, answers: IntakeAnswers, command: ReceiveTelegramMessage,
            form: IntakeState) -> TicketOpened:
    routed = command.routed
    msg = routed.message
    customer = form.customer.model_copy(update={"phone": answers.phone})
    return TicketOpened(
        event_id=f"{ticket_id}#1", ticket_id=ticket_id, seq=1, occurred_at=_ts(msg.date),
        recorded_at=command.received_at,
        source=SourceRef(kind="telegram", update_id=command.update_id,
                         chat_id=routed.chat_id, message_id=msg.message_id),
        actor=_actor(msg.from_), channel="private_chat", chat_id=routed.chat_id,
        thread_id=None, thread_key=routed.thread_key, subject=subject(answers),
        subject_message_id=msg.message_id, customer=customer,
        customer_message_id=msg.message_id, intake=answers)


def subject(answers: IntakeAnswers) -> str:
    return f"{answers.company}: {answers.product} ({answers.name})"[:SUBJECT_MAX]


def summary(answers: IntakeAnswers) -> str:
    """The form's answers as lines of text (the Case description, the topic's summary)."""
    return "\n".join((f"Name: {answers.name}", f"Company: {answers.company}",
                      f"Product interest: {answers.product}", f"Region: {answers.region}",
                      f"Deal size: {answers.deal_size:,}", f"Phone: {answers.phone}"))


COMPLETED_TEXT = ("Thank you, {name}! We have your details, and someone from our team will "
                  "write to you here shortly. Your reference: {ticket_id}.")
CANCELLED_TEXT = "Cancelled: nothing was sent. Send {command} whenever you want to start again."
TIMED_OUT_TEXT = ("I closed this form after {minutes} without an answer; nothing was sent. "
                  "Send {command} whenever you want to start again.")


def question(spec: FormSpec, key: str, answers: dict[str, str],
             problem: str | None) -> dict[str, object]:
    """The fields of an ``intake.question_asked``: its text and reply keyboard."""
    one = spec.field(key)
    text = one.question if problem is None else f"{problem}\n\n{one.question}"
    rows: list[tuple[IntakeButton, ...]] = []
    given = answers.get(key)
    if given is not None and one.kind != "contact":
        text += f"\n\nYour answer so far: {given}. Tap it to keep it, or send a new one."
        if one.kind != "choice":
            rows.append((IntakeButton(text=given),))
    if one.kind == "choice":
        rows += [tuple(IntakeButton(text=c) for c in one.choices[i:i + 2])
                 for i in range(0, len(one.choices), 2)]
    if one.kind == "contact":
        rows.append((IntakeButton(text=SHARE_PHONE_BUTTON, request_contact=True),))
    controls = [IntakeButton(text=CANCEL_BUTTON)]
    if spec.index(key) > 0:
        controls.insert(0, IntakeButton(text=BACK_BUTTON))
    rows.append(tuple(controls))
    return {"field": key, "text": text, "keyboard": tuple(rows), "problem": problem}


# ----------------------------------------------------------------------------- timeouts


def form_due(state: ThreadState, timeout: timedelta) -> datetime | None:
    """When the thread's open form times out (``None``: no form open)."""
    form = state.intake
    if form is None or not form.is_open or form.last_activity_at is None:
        return None
    return form.last_activity_at + timeout


def expire_form(state: ThreadState, now: datetime, rules: IntakeRules, recorded_at: datetime,
                source: SourceRef) -> tuple[list[TicketEvent], ThreadState]:
    """The clock's part: an open form past its timeout is abandoned (stamped with the
    instant it timed out)."""
    form = state.intake
    due = form_due(state, rules.timeout)
    if form is None or due is None or now < due:
        return [], state
    event = _timed_out(form, due, recorded_at, source, rules)
    return [event], fold([event], state)


def _deadline(form: IntakeState, rules: IntakeRules) -> datetime:
    assert form.last_activity_at is not None
    return form.last_activity_at + rules.timeout


def _timed_out(form: IntakeState, at: datetime, recorded_at: datetime, source: SourceRef,
               rules: IntakeRules) -> IntakeAbandoned:
    seq = form.seq + 1
    minutes = int(rules.timeout.total_seconds() // 60)
    span = (f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes
            else f"{int(rules.timeout.total_seconds())} seconds")
    return IntakeAbandoned(event_id=f"{form.form_id}#{seq}", ticket_id=form.form_id, seq=seq,
                           occurred_at=at, recorded_at=recorded_at, source=source,
                           actor=_CLOCK, chat_id=int(form.form_id.split(":")[1]),
                           reason="timed_out", at_field=form.asking,
                           text=TIMED_OUT_TEXT.format(minutes=span, command=rules.command))


# ----------------------------------------------------------------------------- the topic


def relay_of(routed: Routed, state: ThreadState | None, update_id: int,
             received_at: datetime) -> IntakeRelay | str:
    """A message in the team's group: the relay for its intake topic's ticket, or why it is
    not relayed (a metric label)."""
    if state is None or state.relays_to is None:
        return "intake_group_unlinked"
    msg = routed.message
    if routed.service is not None:
        return "intake_topic_service"
    if routed.is_edit:
        return "intake_topic_edit"
    if not routed.from_agent:
        return "intake_topic_not_agent"
    text = msg.text if msg.text is not None else msg.caption
    if text is None or not text.strip():
        return "intake_topic_no_text"
    if text.lstrip().startswith("/"):
        return "intake_topic_command"
    return IntakeRelay(ticket_id=state.relays_to,
                       customer_chat_id=int(state.relays_to.split(":")[1]),
                       update_id=update_id,
                       message=msg.model_dump(mode="json", by_alias=True, exclude_none=True),
                       received_at=received_at)


def decide_relay(record: IntakeRelay, state: ThreadState) -> list[TicketEvent]:
    """A relayed agent message becomes the ticket's ``agent.replied`` (once)."""
    ticket = state.ticket(record.ticket_id)
    if ticket is None:
        raise DecisionError(f"intake relay for unknown ticket {record.ticket_id}")
    msg = Message.model_validate(record.message)
    user = msg.from_
    if user is None or msg.message_id in ticket.agent_messages:
        return []
    name = _display(user)
    seq = ticket.seq + 1
    return [AgentReplied(
        event_id=f"{ticket.ticket_id}#{seq}", ticket_id=ticket.ticket_id, seq=seq,
        occurred_at=_ts(msg.date), recorded_at=record.received_at,
        source=SourceRef(kind="telegram", update_id=record.update_id, chat_id=msg.chat.id,
                         message_id=msg.message_id),
        actor=Actor(kind="agent", id=str(user.id), display_name=name), via="telegram",
        message_id=msg.message_id, chat_id=ticket.chat_id, thread_id=ticket.thread_id,
        agent=Agent(telegram_user_id=user.id, display_name=name),
        text=msg.text if msg.text is not None else (msg.caption or ""))]


def decide_topic_link(record: IntakeTopicRecord, state: ThreadState) -> list[TicketEvent]:
    """``side="ticket"``: the ticket records its intake topic (once)."""
    ticket = state.ticket(record.ticket_id)
    if ticket is None:
        raise DecisionError(f"intake topic for unknown ticket {record.ticket_id}")
    if ticket.team_topic == (record.chat_id, record.thread_id):
        return []
    seq = ticket.seq + 1
    return [IntakeTopicOpened(
        event_id=f"{ticket.ticket_id}#{seq}", ticket_id=ticket.ticket_id, seq=seq,
        occurred_at=record.opened_at, recorded_at=record.opened_at,
        source=SourceRef(kind="telegram", chat_id=record.chat_id,
                         message_id=record.thread_id),
        actor=Actor(kind="system", display_name="telecase intake messenger"),
        chat_id=record.chat_id, thread_id=record.thread_id, name=record.name)]


def topic_thread(record: IntakeTopicRecord, state: ThreadState | None) -> ThreadState:
    """``side="topic"``: the topic's thread in the team's group, relaying to the ticket."""
    key = f"{record.chat_id}:t{record.thread_id}"
    return replace(state or ThreadState(thread_key=key), relays_to=record.ticket_id)


def is_relayed_reply(event: TicketEvent) -> bool:
    """An agent's reply written in the ticket's intake topic: recorded ``via="telegram"``
    but in another chat than the ticket's, so the customer has not seen it yet."""
    return (isinstance(event, AgentReplied) and event.via == "telegram"
            and not event.sent_by_telecase and event.chat_id is not None
            and event.source.chat_id is not None and event.source.chat_id != event.chat_id)


# ----------------------------------------------------------------------------- helpers


class PolicyFacts(TypedDict, total=False):
    deal_size: float
    region: str
    product: str


def policy_facts(answers: IntakeAnswers | None) -> PolicyFacts:
    """What the SLA tier rules read of a ticket's intake answers."""
    if answers is None:
        return {}
    return {"deal_size": float(answers.deal_size), "region": answers.region,
            "product": answers.product}


class _Out:
    """A form's events with consecutive ``seq`` numbers and the shared envelope."""

    def __init__(self, fid: str, seq: int, command: ReceiveTelegramMessage,
                 chat_id: int) -> None:
        self.fid, self.seq, self.command, self.chat_id = fid, seq, command, chat_id
        self.events: list[TicketEvent] = []

    def add(self, cls: Callable[..., TicketEvent], actor: Actor, **fields: object) -> None:
        self.seq += 1
        msg = self.command.routed.message
        self.events.append(cls(
            event_id=f"{self.fid}#{self.seq}", ticket_id=self.fid, seq=self.seq,
            occurred_at=_ts(msg.date), recorded_at=self.command.received_at,
            source=SourceRef(kind="telegram", update_id=self.command.update_id,
                             chat_id=self.chat_id, message_id=msg.message_id),
            actor=actor, chat_id=self.chat_id, **fields))


def _contact(msg: Message, region: str | None) -> SharedContact | None:
    contact, sender = msg.contact, msg.from_
    if contact is None:
        return None
    own = sender is not None and contact.user_id == sender.id
    return SharedContact(e164(contact.phone_number, region) or contact.phone_number, own)


def _customer(user: User | None) -> Customer:
    assert user is not None  # routing skips messages without a sender
    return Customer(telegram_user_id=user.id, username=user.username,
                    first_name=user.first_name, last_name=user.last_name,
                    language_code=user.language_code)


def _actor(user: User | None) -> Actor:
    if user is None:
        return Actor(kind="system")
    return Actor(kind="customer", id=str(user.id), display_name=_display(user))


def _display(user: User) -> str:
    if user.username:
        return f"@{user.username}"
    return " ".join(p for p in (user.first_name, user.last_name) if p) or str(user.id)


def _ts(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)
