"""The SLA events the clock's warnings, breaches and met targets become are built without
pydantic's validation (``streams.core.unvalidated.whole_builder``): each equals what
``model_validate`` of the same fields gives, as an object and as JSON."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from streams.core.service_level import _EVENT_OF, _signal_events
from streams.core.ticket import TicketState
from streams.schema.events import (
    Actor,
    SlaBreached,
    SlaMet,
    SlaWarning,
    SourceRef,
    TicketEvent,
    decode_event,
    encode_event,
)
from streams.sla.signals import (
    Escalation,
    FirstResponseMet,
    FirstResponseWarning,
    ResolutionMet,
    ResolutionWarning,
    SlaSignal,
)

OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ACTOR = Actor(kind="system", display_name="telecase SLA clock")


def _ticket(seq: int) -> TicketState:
    return TicketState("tg:1:p:1", "private_chat", 1, None, seq, "open", 0, "Hello", 1, None,
                       1, OPENED, OPENED, messages={1: 0})


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=3))]))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))


@st.composite
def signals(draw: st.DrawFn) -> SlaSignal:
    kind = draw(st.sampled_from(list(_EVENT_OF)))
    common = {"ticket_id": "tg:1:p:1", "key": draw(st.text(max_size=30)), "at": draw(instants),
              "reason": draw(st.text(max_size=80)), "tier": draw(st.text(max_size=12)),
              "team": draw(st.text(max_size=12)), "target": draw(durations)}
    if kind in (FirstResponseWarning, ResolutionWarning):
        common["threshold"] = draw(st.floats(0, 1, allow_nan=False))
    if kind in (FirstResponseMet, ResolutionMet):
        common["elapsed"] = draw(durations)
        common["on_time"] = draw(st.booleans())
    return typing.cast(SlaSignal, kind(**common))


def _validated(ticket: TicketState, signal: SlaSignal, seq: int, recorded_at: datetime,
               source: SourceRef) -> TicketEvent:
    """What ``_signal_events`` built before: the model validated from the same fields."""
    fields: dict[str, object] = {
        "event_id": f"{ticket.ticket_id}#{seq}", "ticket_id": ticket.ticket_id, "seq": seq,
        "occurred_at": signal.at, "recorded_at": recorded_at, "source": source,
        "actor": _ACTOR, "signal": signal.key, "tier": signal.tier, "team": signal.team,
        "reason": signal.reason, "clock": _EVENT_OF[type(signal)][0],
        "target": signal.target}  # type: ignore[union-attr]
    if isinstance(signal, FirstResponseWarning | ResolutionWarning):
        return SlaWarning.model_validate({**fields, "threshold": signal.threshold})
    if isinstance(signal, FirstResponseMet | ResolutionMet):
        return SlaMet.model_validate({**fields, "elapsed": signal.elapsed,
                                      "on_time": signal.on_time})
    return SlaBreached.model_validate(fields)


@given(st.lists(signals(), min_size=1, max_size=4), st.integers(1, 10**6), instants,
       st.one_of(st.none(), instants))
def test_each_event_is_the_validated_model(fired: list[SlaSignal], seq: int,
                                           recorded_at: datetime,
                                           tick_at: datetime | None) -> None:
    ticket = _ticket(seq)
    source = SourceRef(kind="clock", tick_at=tick_at)
    built = _signal_events(ticket.ticket_id, fired, seq, recorded_at, source)
    assert len(built) == len(fired)
    for n, (event, signal) in enumerate(zip(built, fired, strict=True), start=1):
        expected = _validated(ticket, signal, seq + n, recorded_at, source)
        assert type(event) is type(expected)
        assert event == expected
        assert list(vars(event)) == list(vars(expected))  # the fields' order: the JSON's
        assert event.model_fields_set == expected.model_fields_set
        assert event.__pydantic_extra__ == expected.__pydantic_extra__
        assert event.__pydantic_private__ == expected.__pydantic_private__
        assert encode_event(event) == encode_event(expected)
        assert event.model_dump(exclude_unset=True) == expected.model_dump(exclude_unset=True)
        assert decode_event(encode_event(event)) == expected


def test_every_signal_but_the_escalation_is_built_unvalidated() -> None:
    kinds = set(typing.get_args(SlaSignal))
    assert set(_EVENT_OF) == kinds - {Escalation}
    for kind in kinds:  # looked up by type: a subclass would be missed
        assert not kind.__subclasses__()
