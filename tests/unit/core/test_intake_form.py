"""The bot intake form's state machine (``streams.core.intake_form``): property tests that no
sequence of answers, Back, Cancel and restarts yields an invalid Lead, that a corrected field
holds its new value, plus the checks of single answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.intake_form import (
    DEFAULT_REGIONS,
    Answer,
    Ask,
    Back,
    Cancel,
    Cancelled,
    Complete,
    GoBack,
    Input,
    SharedContact,
    Start,
    Text,
    Unsupported,
    classify,
    default_form,
    parse_amount,
    step,
)
from streams.schema.events import IntakeAnswers

FORM = default_form()
CHOICES = default_form(products=("Platform", "API"))
E164 = re.compile(r"\+\d{7,15}")

texts = st.one_of(
    st.sampled_from(["Ann Lee", "A", "", "   ", "/help", "12345", "Acme", "EMEA", "emea",
                     "Mars", "apac", "Americas", "50k", "0", "-5", "abc", "1.2m", "€50,000",
                     "x" * 200, "Widgets", "Platform", "api", "⬅ Back", "✖ Cancel"]),
    st.text(max_size=30))
inputs: st.SearchStrategy[Input] = st.one_of(
    texts.map(Text), st.just(Back()), st.just(Cancel()), st.just(Start()),
    st.builds(SharedContact, phone=st.sampled_from(["+15550100", "123", "0044 20 7946 0000",
                                                    "15550100", ""]),
              own=st.booleans()),
    st.just(Unsupported("photo")))


@dataclass
class Form:
    """An open form as the thread folds it: the question asked, the answers taken."""

    asking: str = FORM.fields[0].key
    answers: dict[str, str] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)
    outcome: Complete | Cancelled | None = None

    def feed(self, spec: object, given: Input) -> list[object]:
        steps = step(spec, self.asking, self.answers, given)  # type: ignore[arg-type]
        for done in steps:
            if isinstance(done, Ask | GoBack):
                self.asking = done.field if isinstance(done, Ask) else done.to_field
            elif isinstance(done, Answer):
                self.answers[done.field] = done.value
                self.history.append((done.field, done.value))
            else:
                self.outcome = done
        return steps


def valid_lead(answers: IntakeAnswers, spec: object = FORM) -> bool:
    regions = DEFAULT_REGIONS
    return (2 <= len(answers.name) <= 80 and any(c.isalpha() for c in answers.name)
            and not answers.name.startswith("/") and 2 <= len(answers.company) <= 120
            and bool(answers.product.strip()) and answers.region in regions
            and Decimal(0) < answers.deal_size <= Decimal(10) ** 12
            and E164.fullmatch(answers.phone) is not None)


@settings(max_examples=400, deadline=None)
@given(st.lists(inputs, max_size=40), st.booleans())
def test_no_sequence_of_inputs_yields_an_invalid_lead(sequence: list[Input],
                                                      choices: bool) -> None:
    spec = CHOICES if choices else FORM
    form = Form()
    for given_input in sequence:
        if form.outcome is not None:
            break
        steps = form.feed(spec, given_input)
        assert steps, "every input gets an answer (a question, or the end)"
        assert isinstance(steps[-1], Ask | Complete | Cancelled)
    if isinstance(form.outcome, Complete):
        answers = form.outcome.answers
        assert valid_lead(answers)
        if choices:
            assert answers.product in ("Platform", "API")
        # the Lead holds the last answer given to each field
        last = dict(form.history)
        assert answers.model_dump() == {**last, "deal_size": Decimal(last["deal_size"])}


VALID = {"name": "Ann Lee", "company": "Acme", "product": "Widgets", "region": "EMEA",
         "deal_size": "50k"}


def _answer(form: Form, key: str, value: str) -> None:
    given_input: Input = (SharedContact(value, own=True) if key == "phone" else Text(value))
    form.feed(FORM, given_input)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=len(FORM.fields) - 1), st.integers(min_value=1),
       st.sampled_from(["Zed Zulu", "Other Co", "Gadgets", "APAC", "2m"]))
def test_back_then_a_new_answer_replaces_the_field(reached: int, backs: int,
                                                   new: str) -> None:
    form = Form()
    for one in FORM.fields[:reached]:
        _answer(form, one.key, VALID.get(one.key, "+15550100"))
    assert form.asking == FORM.fields[reached].key
    backs = min(backs % reached + 1, reached)
    for _ in range(backs):
        form.feed(FORM, Back())
    target = FORM.fields[reached - backs]
    assert form.asking == target.key
    value = {"name": "Zed Zulu", "company": "Other Co", "product": "Gadgets",
             "region": "APAC", "deal_size": "2m"}.get(target.key, new)
    before = form.answers.get(target.key)
    _answer(form, target.key, value)
    assert form.answers[target.key] != before
    assert form.answers[target.key] == {"deal_size": "2000000"}.get(target.key, value)
    # the form goes on where nothing is answered yet: earlier answers are kept
    assert form.asking == FORM.fields[reached].key
    for one in FORM.fields[reached:]:
        _answer(form, one.key, VALID.get(one.key, "+15550100"))
    assert isinstance(form.outcome, Complete)
    assert getattr(form.outcome.answers, target.key) == (
        Decimal(2_000_000) if target.key == "deal_size" else value)


def test_back_on_the_first_question_and_start_ask_again() -> None:
    assert step(FORM, "name", {}, Back()) == [Ask("name", "This is the first question.")]
    [ask] = step(FORM, "company", {"name": "Ann"}, Start())
    assert isinstance(ask, Ask) and ask.field == "company" and ask.problem


def test_cancel_ends_the_form_at_any_question() -> None:
    for one in FORM.fields:
        assert step(FORM, one.key, {}, Cancel()) == [Cancelled(one.key)]


@pytest.mark.parametrize(("given_input", "problem"), [
    (SharedContact("+15550100", own=False), "someone else's contact"),
    (Text("+1 555 0100"), "Share my phone number"),
    (Unsupported("photo"), "Share my phone number"),
])
def test_the_phone_comes_only_from_the_customers_own_contact(given_input: Input,
                                                             problem: str) -> None:
    [ask] = step(FORM, "phone", {}, given_input)
    assert isinstance(ask, Ask) and ask.field == "phone" and problem in (ask.problem or "")


@pytest.mark.parametrize(("text", "amount"), [
    ("50k", "50000"), ("€50,000", "50000"), ("1.2m", "1200000"), ("50000 USD", "50000"),
    ("50.000", "50000"), ("12,5k", "12500"), ("1,234.56", "1234.56"), ("$ 1 200 000", "1200000"),
    ("2 bn", "2000000000"), ("about 50k", "50000"), ("~75k", "75000"),
    ("0", None), ("abc", None), ("-5", None), ("1e5", None), ("2000 bn", None), ("5 apples", None),
])
def test_amounts_as_people_write_them(text: str, amount: str | None) -> None:
    assert parse_amount(text) == amount


def test_buttons_and_commands_mean_the_same() -> None:
    assert classify("⬅ Back", None, "text", "/start") == Back()
    assert classify("/back", None, "text", "/start") == Back()
    assert classify("✖ Cancel", None, "text", "/start") == Cancel()
    assert classify("/cancel@desk_bot", None, "text", "/start") == Cancel()
    assert classify("/start ref42", None, "text", "/start") == Start()
    assert classify(None, None, "sticker", "/start") == Unsupported("sticker")
