"""The SLA's cheap copy of a thread's state (``streams.core.service_level._copy``) is
``dataclasses.replace``: the states it copies keep what makes the two equal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.service_level import _copy, _store
from streams.core.ticket import ThreadState, TicketState
from streams.sla.snapshot import SlaSnapshot
from tests.unit.core.test_state_codec import BASE, POLICY

OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ticket(seq: int) -> TicketState:
    return TicketState("tg:1:1", "private_chat", 1, None, seq, "open", 1, "Hello", 1, None, 1,
                       OPENED, OPENED, messages={1: 0}, case_id="500x")


@pytest.mark.parametrize("state_type", [TicketState, ThreadState])
def test_the_states_are_plain_frozen_dataclasses_that_replace_only_initialises(
        state_type: Any) -> None:
    assert state_type.__dataclass_params__.frozen
    assert not hasattr(state_type, "__post_init__")
    assert not hasattr(state_type, "__slots__")
    fields = dataclasses.fields(state_type)  # InitVar pseudo-fields are not among them
    assert len(fields) == len(state_type.__dataclass_fields__)
    assert all(f.init for f in fields)


@given(st.integers(min_value=0, max_value=10**6), st.text(max_size=20))
def test_a_copy_equals_replace_and_leaves_the_original_as_it_was(seq: int, subject: str) -> None:
    ticket = _ticket(3)
    copied = _copy(ticket, seq=seq, subject=subject)
    assert copied == dataclasses.replace(ticket, seq=seq, subject=subject)
    assert type(copied) is TicketState
    assert (ticket.seq, ticket.subject) == (3, "Hello")
    thread = ThreadState("1", tickets=(ticket,))
    assert _copy(thread, tickets=(copied,)) == dataclasses.replace(thread, tickets=(copied,))
    assert thread.tickets == (ticket,)


def test_a_copy_is_frozen_like_the_original() -> None:
    copied = _copy(_ticket(3), seq=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copied.seq = 5  # type: ignore[misc]


def test_a_name_that_is_no_field_is_refused() -> None:
    with pytest.raises(AssertionError):
        _copy(_ticket(3), sqe=4)


@given(st.integers(min_value=1, max_value=4), st.data())
def test_storing_a_tickets_clocks_replaces_that_ticket_alone(count: int,
                                                            data: st.DataObject) -> None:
    """``_store`` (a thread of one ticket takes a shortcut) is the plain replace of the
    ticket whose clocks moved, the others kept as they were."""
    opened = BASE.tickets[0]
    assert opened.sla is not None
    tickets = tuple(dataclasses.replace(opened, ticket_id=f"tg:5:p:{n}", seq=n)
                    for n in range(1, count + 1))
    thread = dataclasses.replace(BASE, tickets=tickets)
    ticket = data.draw(st.sampled_from(tickets))
    sla = opened.sla.thaw(ticket.ticket_id, POLICY)
    stored = _store(thread, ticket, sla, [])
    plain = dataclasses.replace(thread, tickets=tuple(
        dataclasses.replace(t, sla=SlaSnapshot.freeze(sla)) if t is ticket else t
        for t in tickets))
    assert stored == plain
    assert all(a is b for a, b in zip(stored.tickets, tickets, strict=True) if b is not ticket)
