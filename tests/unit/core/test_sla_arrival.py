"""The SLA start goes by arrival (issue 16 item 4), in the pure core: a forum topic's start
grace counts from when telecase received its opening (``TicketState.received_at``), so a topic
redelivered late still waits for its first message; the clocks run from the opening's date
unless it arrived more than ``ARRIVAL_SKEW`` late, then from its arrival; a state stored
before ``received_at`` was kept loads and counts from the date as before."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from streams.core.service_level import START_GRACE, fire_due, next_due
from streams.core.ticket import ThreadState, evolve, initial_state
from streams.runtime.state_codec import load_thread
from streams.schema.events import (
    Actor,
    Customer,
    SlaBreached,
    SlaStarted,
    SourceRef,
    TicketOpened,
)
from streams.sla.replay import ARRIVAL_SKEW, clock_start
from tests.unit.core.test_service_level import POLICY  # first response 10 min

DATE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SOURCE = SourceRef(kind="clock")
delays = st.timedeltas(min_value=timedelta(seconds=-5), max_value=timedelta(days=3))
"""How late telecase received the topic's creation (a little early: clocks differ)."""


def topic_opened(received_at: datetime) -> ThreadState:
    opened = TicketOpened(
        event_id="tg:-1001:t50#1", ticket_id="tg:-1001:t50", seq=1, occurred_at=DATE,
        recorded_at=received_at, source=SourceRef(kind="telegram", chat_id=-1001),
        channel="forum_topic", chat_id=-1001, thread_id=50, thread_key="-1001:t50",
        subject="Pricing", subject_message_id=50, customer_message_id=50,
        customer=Customer(telegram_user_id=501, first_name="Ann"),
        actor=Actor(kind="customer", id="501"))
    return evolve(initial_state("-1001:t50"), opened)


def started(state: ThreadState, now: datetime) -> list[SlaStarted]:
    events, _ = fire_due(state, now, POLICY, now, SOURCE)
    return [e for e in events if isinstance(e, SlaStarted)]


@given(delay=delays, early=st.timedeltas(min_value=timedelta(microseconds=1),
                                        max_value=START_GRACE))
def test_the_grace_counts_from_arrival(delay: timedelta, early: timedelta) -> None:
    arrival = DATE + delay
    state = topic_opened(arrival)
    assert next_due(state) == arrival + START_GRACE
    assert started(state, arrival + START_GRACE - early) == []  # still waiting
    [start] = started(state, arrival + START_GRACE)
    assert start.occurred_at == (DATE if delay <= ARRIVAL_SKEW else arrival)
    assert start.occurred_at == clock_start(DATE, arrival) >= DATE
    assert start.first_response_target == timedelta(minutes=10)


@given(delay=delays, after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)))
def test_a_late_opening_never_breaches_before_it_arrived_plus_the_target(
        delay: timedelta, after: timedelta) -> None:
    arrival = DATE + delay
    now = arrival + START_GRACE + after
    events, _ = fire_due(topic_opened(arrival), now, POLICY, now, SOURCE)
    breaches = {e.signal: e.occurred_at for e in events if isinstance(e, SlaBreached)}
    start = clock_start(DATE, arrival)
    due = start + timedelta(minutes=10)
    assert breaches.get("first_response_breached") == (due if now >= due else None)
    if delay > ARRIVAL_SKEW:  # late: the customer's wait counts from the arrival
        assert all(at >= arrival + timedelta(minutes=10) for at in breaches.values())


@given(delay=delays)
def test_a_state_stored_before_received_at_counts_from_the_date(delay: timedelta) -> None:
    state = topic_opened(DATE + delay)
    old = replace(state, tickets=tuple(replace(t, received_at=None) for t in state.tickets))
    assert next_due(old) == DATE + START_GRACE
    [start] = started(old, DATE + START_GRACE)
    assert start.occurred_at == DATE


def test_a_v1_stored_state_without_received_at_loads() -> None:
    from pydantic import TypeAdapter

    from streams.core.ticket import TicketState
    body = json.loads(TypeAdapter(ThreadState).dump_json(topic_opened(DATE)))
    for ticket in body["tickets"]:
        del ticket["received_at"]
    loaded = load_thread(json.dumps(body).encode())
    assert isinstance(loaded.tickets[0], TicketState)
    assert loaded.tickets[0].received_at is None
    assert next_due(loaded) == DATE + START_GRACE
