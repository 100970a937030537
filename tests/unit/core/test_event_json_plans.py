"""``encode_event`` writes an event by msgspec where msgspec writes pydantic's bytes
(``streams.schema.events.fast_json``): on random values of every event type with a plan, the
bytes are ``model_dump_json``'s; what a plan cannot vouch for falls back to pydantic's
serializer. (Encoded events decode back: test_event_encoding.)"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_core import TzInfo

from streams.schema.events import (
    Actor,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    SourceRef,
    encode_event,
)
from streams.schema.events.codec import _PLANS, EVENT_TYPES
from streams.schema.events.fast_json import Fallback, plan_of

offsets = st.builds(lambda minutes, seconds: timezone(timedelta(minutes=minutes,
                                                                seconds=seconds)),
                    st.integers(-23 * 60 - 59, 23 * 60 + 59), st.just(0) | st.integers(0, 59))
pydantic_offsets = offsets.map(lambda tz: TzInfo(int(tz.utcoffset(None).total_seconds())))
"""The same offsets as pydantic holds a parsed instant's (the ``TzInfo`` of a tick's instant,
in every event it fires; ``fast_json`` remembers such offsets)."""
instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.none() | st.just(UTC) | offsets | pydantic_offsets)
"""Naive, UTC, and any offset, with seconds too (msgspec would round those: pydantic writes
them)."""
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def values(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type, as pydantic would hold them."""
    if annotation is str:
        return texts
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2 ** 70), 2 ** 70)
    if annotation is float:
        return st.floats() | st.sampled_from([0.5, 0.8, 1e22, 1e-7, 2.0])
    if annotation is type(None):
        return st.none()
    if annotation is datetime:
        return instants
    if annotation is timedelta:
        return st.timedeltas() | st.sampled_from([timedelta(hours=2), timedelta(0)])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin is tuple:
        return st.lists(values(args[0]), max_size=3).map(tuple)
    if origin in (types.UnionType, typing.Union):
        return st.one_of([values(a) for a in args])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return models(annotation)
    raise AssertionError(f"no strategy for {annotation!r}")


def models(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    fields = {name: values(f.annotation) for name, f in model.model_fields.items()}

    def valid(raw: dict[str, Any]) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError:
            assume(False)

    return st.fixed_dictionaries(fields).map(valid)


PLANNED = [cls for cls in EVENT_TYPES if cls in _PLANS]


def test_the_restart_s_events_and_most_others_have_plans() -> None:
    assert {SlaWarning, SlaBreached, SlaMet, SlaStarted, SlaEscalated} <= set(PLANNED)
    assert len(PLANNED) >= len(EVENT_TYPES) - 4
    assert all(plan_of(cls) is _PLANS[cls] for cls in PLANNED)


@pytest.mark.parametrize("model", PLANNED, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_planned_event_is_written_as_pydantic_writes_it(model: type[BaseModel],
                                                           data: st.DataObject) -> None:
    event = data.draw(models(model))
    written = encode_event(event)  # type: ignore[arg-type]
    assert written == event.model_dump_json().encode()
    assert encode_event(event) == written  # again, with the nested models remembered


def _breach(**changes: Any) -> SlaBreached:
    at = datetime(2026, 12, 7, 11, 21, 6, tzinfo=UTC)
    fields: dict[str, Any] = {
        "event_id": "tg:1:p:1#4", "ticket_id": "tg:1:p:1", "seq": 4, "occurred_at": at,
        "recorded_at": at, "source": SourceRef(kind="clock", tick_at=at),
        "actor": Actor(kind="system", display_name="telecase SLA clock"),
        "signal": "first_response_breached", "tier": "standard", "team": "desk",
        "reason": "no agent reply", "clock": "first_response", "target": timedelta(hours=2)}
    return SlaBreached.model_validate({**fields, **changes})


def test_what_a_plan_cannot_vouch_for_is_written_by_pydantic() -> None:
    plan = _PLANS[SlaBreached]
    plan(_breach())  # the plain case: msgspec's
    odd = timezone(timedelta(hours=2, seconds=30))
    for event in (_breach(occurred_at=datetime(2026, 1, 1, tzinfo=odd)),
                  _breach(source=SourceRef(kind="clock", tick_at=datetime(2026, 1, 1,
                                                                          tzinfo=odd)))):
        with pytest.raises(Fallback):
            plan(event)
        assert encode_event(event) == event.model_dump_json().encode()
    extra = _breach()
    object.__setattr__(extra, "__dict__", {**extra.__dict__, "unknown": 1})
    with pytest.raises(Fallback):
        plan(extra)
    assert encode_event(extra) == _breach().model_dump_json().encode()
    swapped = _breach()  # as many fields, one of them unknown to the model
    fields = {**swapped.__dict__, "unknown": 1}
    del fields["team"]
    object.__setattr__(swapped, "__dict__", fields)
    with pytest.raises(Fallback):
        plan(swapped)


def test_fields_held_in_another_order_are_written_in_it_as_pydantic_writes_them() -> None:
    shuffled = _breach()
    object.__setattr__(shuffled, "__dict__", dict(reversed(shuffled.__dict__.items())))
    assert encode_event(shuffled) == shuffled.model_dump_json().encode()
    assert encode_event(shuffled).startswith(b'{"target":"PT2H"')


def test_models_shared_by_events_are_written_once_and_the_same() -> None:
    """A tick's events share one ``source`` and one ``actor``: from the second event on, their
    JSON is the one written for the first, and every event's bytes stay pydantic's; a shared
    instance the plan cannot vouch for still sends each event to pydantic."""
    at = datetime(2026, 12, 7, 11, 21, 6, tzinfo=UTC)
    source = SourceRef(kind="clock", tick_at=at)
    actor = Actor(kind="system", display_name="telecase SLA clock")
    events = [_breach(source=source, actor=actor, seq=n, event_id=f"tg:1:p:1#{n}")
              for n in range(4, 8)]
    assert [encode_event(e) for e in events] == [
        e.model_dump_json().encode() for e in events]
    nested = plan_of(SourceRef)
    assert nested is not None
    nested(source)
    assert nested(source) == msgspec.Raw(source.model_dump_json().encode())
    other = SourceRef(kind="clock", tick_at=at + timedelta(seconds=1))
    assert isinstance(nested(other), dict)  # another instance: converted again
    assert nested(other) == msgspec.Raw(other.model_dump_json().encode())  # and written anew

    odd = SourceRef(kind="clock", tick_at=datetime(2026, 1, 1, tzinfo=timezone(
        timedelta(hours=2, seconds=30))))
    shared = [_breach(source=odd, seq=n) for n in (4, 5, 6)]
    for event in shared:
        with pytest.raises(Fallback):
            _PLANS[SlaBreached](event)
        assert encode_event(event) == event.model_dump_json().encode()
