"""The events of a customer's message are built without pydantic's validation
(``streams.core.unvalidated``): each equals what validating the same fields gives, as an
object (its fields, their order, the fields set) and as JSON, for any message."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.core import ticket
from streams.core.routing import Routed, route
from streams.core.ticket import ReceiveTelegramMessage, decide, replaced
from streams.core.unvalidated import unvalidated, whole_builder
from streams.schema.events import TicketEvent, encode_event
from streams.schema.telegram import Update
from tests.telegram_factory import BOT_ID, Script, forum, private
from tests.unit.core.test_ticket_core import NOW, feed


def _validated(model: type[BaseModel], given: dict[str, Any]) -> BaseModel:
    return model.model_validate(given)


def facts(model: BaseModel) -> tuple[object, ...]:
    """What tells two instances apart: their type, fields (in order: the JSON's), the fields
    set, extra and private values, and the same of each model they hold."""
    return (type(model), model, list(vars(model)), model.model_fields_set,
            model.__pydantic_extra__, model.__pydantic_private__,
            [facts(v) for v in vars(model).values() if isinstance(v, BaseModel)])


people = st.fixed_dictionaries(
    {"id": st.integers(1, 2 ** 40), "is_bot": st.just(False),
     "first_name": st.text(max_size=12)},
    optional={"username": st.text(max_size=12), "last_name": st.text(max_size=12),
              "language_code": st.sampled_from(["en", "de", "pt-br"])})
extras = st.one_of(
    st.just({}),
    st.builds(lambda p: {"photo": [{"file_id": "a", "file_unique_id": "b"},
                                   {"file_id": p, "file_unique_id": "c", "file_size": 9}]},
              st.text(min_size=1, max_size=8)),
    st.just({"document": {"file_id": "d", "file_unique_id": "e", "file_name": "a.pdf"}}),
    st.builds(lambda own, phone: {"contact": {"phone_number": phone, "user_id": own}},
              st.one_of(st.none(), st.integers(1, 2 ** 40)),
              st.sampled_from(["+44 20 7946 0000", "020 7946 0000", "not a phone"])))


@settings(max_examples=150, deadline=None)
@given(creator=people, writers=st.lists(st.tuples(people, st.text(max_size=30), extras),
                                        min_size=1, max_size=5),
       region=st.sampled_from([None, "GB"]), edit=st.booleans(), where=st.sampled_from(
           ["forum", "general", "private"]))
def test_the_events_of_any_message_are_the_validated_models(
        creator: dict[str, Any], writers: list[tuple[dict[str, Any], str, dict[str, Any]]],
        region: str | None, edit: bool, where: str) -> None:
    chat = private(creator["id"]) if where == "private" else forum()
    s = Script(chat)
    updates = []
    thread = None
    if where == "forum":
        updates.append(s.create_topic(creator, "Inquiry", 100))
        thread = updates[0]["message"]["message_id"]
    for n, (who, text, extra) in enumerate(writers):
        sender = creator if where == "private" else who
        update = s.write(sender, text, 101 + n, thread)
        update["message"].update(extra)
        updates.append(update)
    if edit:
        updates.append(s.edit(updates[-1], "edited", 200))
    built = _decided(updates, region)
    with mock.patch.object(ticket, "unvalidated", _validated):
        validated = _decided(updates, region)
    assert [e.type for e in built] == [e.type for e in validated]
    assert any(type(e) in ticket._UNVALIDATED for e in built)
    for b, v in zip(built, validated, strict=True):
        assert facts(b) == facts(v)
        assert encode_event(b) == encode_event(v)


def _decided(updates: list[dict[str, Any]], region: str | None) -> list[TicketEvent]:
    states: dict[str, Any] = {}
    log: list[TicketEvent] = []
    for update in updates:
        routed = route(Update.model_validate(update), BOT_ID)
        assert isinstance(routed, Routed)
        state = states.get(routed.thread_key) or ticket.initial_state(routed.thread_key)
        events = decide(ReceiveTelegramMessage(update["update_id"], routed, NOW,
                                               phone_region=region), state)
        states[routed.thread_key] = ticket.fold(events, state)
        log += events
    return log


def test_a_seq_out_of_bounds_is_refused_as_validation_refused_it() -> None:
    """A stored ticket whose ``seq`` is below 0 (no fold writes one) still fails the
    event's ``seq >= 1``, as when every event was validated."""
    s = Script(forum())
    created = s.create_topic({"id": 11, "is_bot": False, "first_name": "Ann"}, "Hi", 100)
    states, _, _ = feed([created])
    (state,) = states.values()
    broken = replaced(state, {"tickets": (replaced(state.tickets[0], {"seq": -1}),)})
    message = s.write({"id": 11, "is_bot": False, "first_name": "Ann"}, "hello", 101,
                      created["message"]["message_id"])
    routed = route(Update.model_validate(message), BOT_ID)
    assert isinstance(routed, Routed)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        decide(ReceiveTelegramMessage(message["update_id"], routed, NOW), broken)


class _Checked(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()


class _Kept(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class _Listed(BaseModel):
    names: list[str] = Field(default_factory=list)


@pytest.mark.parametrize("model", [_Checked, _Kept, _Listed])
def test_a_model_whose_validation_changes_values_is_refused(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError, match="validate it"):
        unvalidated(model, {"name": " a "})
    with pytest.raises(TypeError, match="validate it"):  # refused once, when it is made
        whole_builder(model)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    size: int = 0


class _Open(BaseModel):
    name: str
    size: int = 0


def test_frozen_models_share_their_fields_set_and_no_instance_can_change_it() -> None:
    """A frozen model's instances share one fields set (pydantic changes an instance's set
    only on assignment, which a frozen model refuses, and ``model_copy`` copies it first); a
    model that can be assigned to gives each instance its own."""
    build = whole_builder(_Frozen, frozenset({"size"}))
    one, two = build({"name": "a", "size": 0}), build({"name": "b", "size": 0})
    assert one.model_fields_set is two.model_fields_set
    assert one.model_fields_set == _Frozen(name="a").model_fields_set == {"name"}
    with pytest.raises(ValidationError):
        one.size = 3  # type: ignore[misc]
    copied = one.model_copy(update={"size": 3})
    assert copied.model_fields_set == {"name", "size"}
    assert one.model_fields_set == two.model_fields_set == {"name"}
    assert one.model_dump(exclude_unset=True) == {"name": "a"}

    build_open = whole_builder(_Open, frozenset({"size"}))
    three, four = build_open({"name": "c", "size": 0}), build_open({"name": "d", "size": 0})
    assert three.model_fields_set is not four.model_fields_set
    three.size = 5
    assert three.model_fields_set == {"name", "size"} and four.model_fields_set == {"name"}
