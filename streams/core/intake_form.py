"""The bot intake form: its questions, how answers are checked, and the state machine (pure).

In a private chat with the bot, a prospect sends ``/start`` (or the configured command) and
the bot asks, one at a time: name, company, product interest, region, deal size, and the
phone number, which only Telegram's "share my phone number" button gives (a ``KeyboardButton``
with ``request_contact``; the customer's own contact comes back as ``message.contact``, and
only a contact whose ``user_id`` is the sender's is taken). Every question carries a reply
keyboard: choices where the field has them, the contact button for the phone, and
"⬅ Back" / "✖ Cancel" (``/back`` and ``/cancel`` work as typed commands too).

Decisions, written down:

- **Reply keyboards, not inline buttons.** ``request_contact`` exists only on reply
  keyboards, so one kind of keyboard serves the whole form, and every press is an ordinary
  message in the log (no callback queries to answer within Telegram's time limit).
- **A bad answer is asked again** with the reason (``IntakeQuestionAsked.problem``); nothing
  is stored for it.
- **Back** returns to the previous question and shows the answer given (as a button, to keep
  it with one tap). After an answer the form goes to the first question not yet answered, so
  correcting one field never makes the customer retype the others; when none is left, the
  form is complete.
- ``/start`` while the form is open asks the current question again.
- Values are normalised when taken: whitespace collapsed, a choice spelt as the choice, a
  deal size as a plain decimal number (``50k``, ``€50,000``, ``1.2m``...), a phone number as
  E.164 (``+`` and 7 to 15 digits).

:func:`step` is the whole machine: an open form's progress and one :data:`Input` in, the
:data:`Step` list out. ``streams.core.intake`` turns steps into events; :class:`IntakeState`
is what a thread remembers of its latest form, folded from those events by
:func:`evolve_form`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from streams.core.phones import e164
from streams.schema.events import (
    Customer,
    IntakeAbandoned,
    IntakeAnswered,
    IntakeAnswers,
    IntakeCompleted,
    IntakeQuestionAsked,
    IntakeStarted,
    IntakeWentBack,
)

BACK_BUTTON = "⬅ Back"
CANCEL_BUTTON = "✖ Cancel"
SHARE_PHONE_BUTTON = "📱 Share my phone number"
BACK_WORDS = frozenset({"/back", BACK_BUTTON.casefold()})
CANCEL_WORDS = frozenset({"/cancel", CANCEL_BUTTON.casefold()})
DEFAULT_REGIONS = ("EMEA", "Americas", "APAC")
DEAL_SIZE_MAX = Decimal(10) ** 12

FieldKind = Literal["text", "choice", "amount", "contact"]
FormStatus = Literal["open", "completed", "abandoned"]


# ----------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class FormField:
    key: str
    """One of :class:`~streams.schema.events.IntakeAnswers`' fields."""
    label: str
    question: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    min_length: int = 1
    max_length: int = 100


@dataclass(frozen=True)
class FormSpec:
    fields: tuple[FormField, ...]

    def index(self, key: str) -> int:
        for i, one in enumerate(self.fields):
            if one.key == key:
                return i
        raise KeyError(key)

    def field(self, key: str) -> FormField:
        return self.fields[self.index(key)]


def default_form(products: Sequence[str] = (),
                 regions: Sequence[str] = DEFAULT_REGIONS) -> FormSpec:
    """The form: product interest is free text unless ``products`` lists the choices; region
    is one of ``regions``."""
    return FormSpec((
        FormField("name", "Name", "Welcome! A few questions so the right person can help "
                  "you.\n\nWhat is your full name?", "text", min_length=2, max_length=80),
        FormField("company", "Company", "Which company are you with?", "text",
                  min_length=2, max_length=120),
        FormField("product", "Product interest", "Which product are you interested in?",
                  "choice" if products else "text", tuple(products), min_length=2),
        FormField("region", "Region", "Which region are you in?", "choice", tuple(regions)),
        FormField("deal_size", "Deal size", "Roughly what budget or deal size do you have "
                  "in mind? (for example 50k, 120000 or €1.2m)", "amount"),
        FormField("phone", "Phone", "Last one: please share your phone number with the "
                  "button below.", "contact"),
    ))


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Start:
    """The start command (a form is begun, or the open one's question asked again)."""


@dataclass(frozen=True)
class Back:
    pass


@dataclass(frozen=True)
class Cancel:
    pass


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class SharedContact:
    phone: str
    own: bool
    """Whether the contact is the sender's own (``contact.user_id == from.id``)."""


@dataclass(frozen=True)
class Unsupported:
    """A photo, a sticker, a location...: nothing a question can take."""

    kind: str


Input = Start | Back | Cancel | Text | SharedContact | Unsupported


def is_command(text: str | None, command: str) -> bool:
    """``text`` is ``command`` (``/start``, also ``/start@bot`` or ``/start payload``)."""
    if not text or not command:
        return False
    word = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return word.split("@", 1)[0].casefold() == command.casefold()


def classify(text: str | None, contact: SharedContact | None, content_kind: str,
             start_command: str) -> Input:
    """What a message means to an open form."""
    if contact is not None:
        return contact
    if text is None:
        return Unsupported(content_kind)
    folded = text.strip().casefold()
    if is_command(text, start_command):
        return Start()
    if folded in BACK_WORDS or is_command(text, "/back"):
        return Back()
    if folded in CANCEL_WORDS or is_command(text, "/cancel"):
        return Cancel()
    return Text(text)


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Ask:
    field: str
    problem: str | None = None


@dataclass(frozen=True)
class Answer:
    field: str
    value: str


@dataclass(frozen=True)
class GoBack:
    from_field: str
    to_field: str


@dataclass(frozen=True)
class Complete:
    answers: IntakeAnswers


@dataclass(frozen=True)
class Cancelled:
    at_field: str


Step = Ask | Answer | GoBack | Complete | Cancelled


def step(spec: FormSpec, asking: str, answers: Mapping[str, str], given: Input) -> list[Step]:
    """What ``given`` does to an open form that is asking for ``asking`` with ``answers``."""
    current = spec.field(asking)
    if isinstance(given, Start):
        return [Ask(asking, "The form is open already; here is where we are.")]
    if isinstance(given, Cancel):
        return [Cancelled(asking)]
    if isinstance(given, Back):
        at = spec.index(asking)
        if at == 0:
            return [Ask(asking, "This is the first question.")]
        previous = spec.fields[at - 1].key
        return [GoBack(asking, previous), Ask(previous)]
    value, problem = check(current, given)
    if problem is not None or value is None:
        return [Ask(asking, problem)]
    taken = {**answers, asking: value}
    out: list[Step] = [Answer(asking, value)]
    following = [f.key for f in spec.fields[spec.index(asking) + 1:] if f.key not in taken]
    earlier = [f.key for f in spec.fields if f.key not in taken]
    missing = following or earlier
    if missing:
        out.append(Ask(missing[0]))
    else:
        out.append(Complete(to_answers(taken)))
    return out


def to_answers(values: Mapping[str, str]) -> IntakeAnswers:
    return IntakeAnswers(name=values["name"], company=values["company"],
                         product=values["product"], region=values["region"],
                         deal_size=Decimal(values["deal_size"]), phone=values["phone"])


# ----------------------------------------------------------------------------- checking


def check(one: FormField, given: Input) -> tuple[str | None, str | None]:
    """``(value, None)`` for an answer the field takes, ``(None, problem)`` otherwise."""
    if one.kind == "contact":
        if isinstance(given, SharedContact):
            if not given.own:
                return None, ("That is someone else's contact. Please share your own number "
                              "with the button below.")
            phone = normalize_phone(given.phone)
            if phone is None:
                return None, "Telegram sent a phone number I cannot read. Please try again."
            return phone, None
        return None, f'Please use the "{SHARE_PHONE_BUTTON}" button below.'
    if not isinstance(given, Text):
        return None, "Please answer with a text message."
    text = " ".join(given.text.split())
    if text.startswith("/"):
        return None, "That looks like a command; please answer the question (or /cancel)."
    if one.kind == "choice":
        hit = next((c for c in one.choices if c.casefold() == text.casefold()), None)
        if hit is None:
            return None, f"Please pick one of: {', '.join(one.choices)}."
        return hit, None
    if one.kind == "amount":
        amount = parse_amount(text)
        if amount is None:
            return None, ("Please give an amount as a number, for example 50k, 120000 or "
                          "€1.2m.")
        return amount, None
    if not one.min_length <= len(text) <= one.max_length:
        return None, (f"Please answer in {one.min_length} to {one.max_length} characters.")
    if one.key == "name" and not any(ch.isalpha() for ch in text):
        return None, "Please give your name in letters."
    return text, None


_SUFFIX = {"k": Decimal(1000), "m": Decimal(1_000_000), "mm": Decimal(1_000_000),
           "mln": Decimal(1_000_000), "mio": Decimal(1_000_000),
           "thousand": Decimal(1000), "million": Decimal(1_000_000),
           "b": Decimal(10) ** 9, "bn": Decimal(10) ** 9, "billion": Decimal(10) ** 9}
_CODES = frozenset({"usd", "eur", "gbp", "chf", "jpy", "cad", "aud", "sgd", "inr"})
_CURRENCY = rf"(?:[$€£¥₽₹]|{'|'.join(sorted(_CODES))})"
_ROUGHLY = re.compile(r"^(?:about|around|approx\.?|approximately|roughly|circa|ca\.|~|≈)\s*")
_AMOUNT = re.compile(rf"{_CURRENCY}?\s*([0-9][0-9.,' ]*?)\s*([a-z]+)?\s*{_CURRENCY}?")


def parse_amount(text: str) -> str | None:
    """A positive amount of at most 10^12 as a plain decimal string (``"50000"``,
    ``"1250.5"``), or ``None``. Thousands separators (``,`` ``.`` ``'`` and spaces) and a
    decimal point are told apart the way people write them: the last separator is the
    decimal point when both kinds appear, or when it appears once not followed by exactly
    three digits."""
    match = _AMOUNT.fullmatch(_ROUGHLY.sub("", text.strip().casefold()))
    if match is None:
        return None
    digits, word = match.group(1).replace(" ", "").replace("'", ""), match.group(2)
    if word in _CODES:  # "50000usd": the currency, not a multiplier
        word = None
    if word is not None and word not in _SUFFIX:
        return None
    number = _decimal(digits)
    if number is None:
        return None
    amount = number * _SUFFIX[word] if word is not None else number
    if not Decimal(0) < amount <= DEAL_SIZE_MAX:
        return None
    return format(amount.quantize(Decimal("0.01")).normalize(), "f")


def _decimal(digits: str) -> Decimal | None:
    separators = [i for i, ch in enumerate(digits) if ch in ",."]
    if separators:
        last = separators[-1]
        kinds = {digits[i] for i in separators}
        tail = digits[last + 1:]
        decimal_point = len(kinds) == 2 or (len(separators) == 1 and len(tail) != 3)
        if decimal_point:
            digits = digits[:last].replace(",", "").replace(".", "") + "." + tail
        else:
            digits = digits.replace(",", "").replace(".", "")
    try:
        return Decimal(digits) if digits and digits != "." else None
    except InvalidOperation:
        return None


def normalize_phone(raw: str) -> str | None:
    """E.164 (``streams.core.phones``; the contact's number arrives already read with the
    default region, so this only refuses what is not a phone number)."""
    return e164(raw)


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class IntakeState:
    """A thread's latest intake form, folded from its events."""

    form_id: str
    number: int
    customer: Customer
    status: FormStatus = "open"
    asking: str = ""
    """The field of the question last asked."""
    answers: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    started_at: datetime | None = None
    last_activity_at: datetime | None = None
    """When telecase received the latest input (its events' ``recorded_at``, the envelope's
    ``received_at``, not the message's ``date``): an open form times out a set time after it,
    so a ``/start`` Telegram redelivers late is not timed out at once."""
    last_message_id: int = 0
    """The highest message id the form took (older ones arriving late are ignored)."""
    opened_ticket_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "open"


FormEvent = (IntakeStarted | IntakeQuestionAsked | IntakeAnswered | IntakeWentBack
             | IntakeCompleted | IntakeAbandoned)


def evolve_form(state: IntakeState | None, event: FormEvent) -> IntakeState:
    if isinstance(event, IntakeStarted):
        return IntakeState(form_id=event.ticket_id, number=event.number,
                           customer=event.customer, seq=event.seq,
                           started_at=event.occurred_at, last_activity_at=event.recorded_at,
                           last_message_id=event.source.message_id or 0)
    if state is None or state.form_id != event.ticket_id:
        raise ValueError(f"{event.type} for a form this thread is not running "
                         f"({event.ticket_id})")
    last = state.last_activity_at
    changes: dict[str, object] = {
        "seq": event.seq,
        "last_activity_at": event.recorded_at if last is None else max(last,
                                                                         event.recorded_at),
        "last_message_id": max(state.last_message_id, event.source.message_id or 0)}
    if isinstance(event, IntakeQuestionAsked):
        changes["asking"] = event.field
    elif isinstance(event, IntakeAnswered):
        changes["answers"] = {**state.answers, event.field: event.value}
    elif isinstance(event, IntakeWentBack):
        changes["asking"] = event.to_field
    elif isinstance(event, IntakeCompleted):
        changes.update(status="completed", opened_ticket_id=event.opened_ticket_id)
    elif isinstance(event, IntakeAbandoned):
        changes["status"] = "abandoned"
    return replace(state, **changes)  # type: ignore[arg-type]
