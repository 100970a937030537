"""A clock tick fires a thread's SLA timers from its stored bytes (v4's clocks, nothing else
decoded: ``UpdateFolder._fire_stored``) exactly as it fires them on the decoded state: the
same events, byte for byte, and the same state stored; and it decodes the state whenever the
clocks alone cannot decide (an older version, clocks not started, an open intake form)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from streams.core.intake import IntakeRules
from streams.core.intake_form import IntakeState
from streams.core.ticket import ThreadState
from streams.runtime.fold import Folded, Position, UpdateFolder
from streams.runtime.state_codec import dump_thread, load_thread, stored_deadlines
from streams.schema.commands import Tick
from streams.schema.events import encode_event
from tests.unit.core.stored_versions import dump_v1, dump_v2, dump_v3
from tests.unit.core.test_state_codec import BASE, POLICY, instants, many, thread_states


class Decoded(dict[str, ThreadState]):
    """A store without stored bytes: every thread decoded (the plain way)."""

    def __init__(self, states: dict[str, ThreadState], due: list[str]) -> None:
        super().__init__(states)
        self.due = due

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return self.due


class Stored(Decoded):
    """A worker's store: the stored bytes at hand, decoded when asked."""

    def __init__(self, raw: dict[str, bytes], due: list[str]) -> None:
        super().__init__({}, due)
        self.raw, self.decoded = raw, 0

    def stored(self, thread_key: str) -> bytes | None:
        return self.raw.get(thread_key)

    def get(self, thread_key: str, default: object = None) -> ThreadState | None:
        raw = self.raw.get(thread_key)
        if raw is None:
            return None
        self.decoded += 1
        return load_thread(raw)


def _tick(folder: UpdateFolder, store: Decoded, at: datetime) -> Folded:
    return folder.fold(Tick(partition=0, at=at).to_bytes(), store,
                       Position("ticket.commands", 0, 7, "tick"), at)


def _written(folded: Folded) -> dict[str, tuple[ThreadState, tuple[int, int]]]:
    """Every state the tick leaves to store: decoded, with its deadline summary."""
    out = {s.thread_key: (s, stored_deadlines(dump_thread(s))) for s in folded.states}
    out.update({k: (load_thread(raw), stored_deadlines(raw)) for k, raw in folded.encoded})
    return out


def _same_tick(folder: UpdateFolder, states: list[ThreadState], at: datetime) -> Stored:
    states = list({s.thread_key: s for s in states}.values())
    keys = [s.thread_key for s in states]
    plain = _tick(folder, Decoded({s.thread_key: s for s in states}, keys), at)
    store = Stored({s.thread_key: dump_thread(s) for s in states}, keys)
    fast = _tick(folder, store, at)
    assert [encode_event(e) for e in fast.events] == [encode_event(e) for e in plain.events]
    assert _written(fast) == _written(plain)
    assert fast.dead_letter is None and plain.dead_letter is None
    return store


@many
@given(st.lists(thread_states(), max_size=6), instants)
def test_a_tick_fires_stored_clocks_as_it_fires_decoded_states(states: list[ThreadState],
                                                               at: datetime) -> None:
    _same_tick(UpdateFolder(sla_policy=POLICY), states, at)


OPENED = BASE.tickets[0].opened_at
hours = st.integers(0, 12 * 3600).map(lambda s: OPENED + timedelta(seconds=s))


@st.composite
def running(draw: st.DrawFn, number: int) -> ThreadState:
    """A thread of one to three tickets whose clocks run, each already fired up to an instant
    of its own (none, some or all of its warnings, breaches and escalations behind it)."""
    ticket = BASE.tickets[0]
    tickets = tuple(replace(ticket, ticket_id=f"tg:{number}:p:{n}",
                            seq=draw(st.integers(3, 50)))
                    for n in range(1, draw(st.integers(1, 3)) + 1))
    state = replace(BASE, thread_key=f"{number}:p", tickets=tickets)
    folder = UpdateFolder(sla_policy=POLICY)
    for at in sorted(draw(st.lists(hours, max_size=2))):
        folded = _tick(folder, Decoded({state.thread_key: state}, [state.thread_key]), at)
        state = folded.others[0] if folded.others else state
    return state


@many
@given(st.lists(st.integers(1, 20).flatmap(running), max_size=5), hours)
def test_clocks_part_fired_fire_on_alike(states: list[ThreadState], at: datetime) -> None:
    _same_tick(UpdateFolder(sla_policy=POLICY), states, at)


@many
@given(st.lists(thread_states(), max_size=6), instants)
def test_with_intake_forms_too(states: list[ThreadState], at: datetime) -> None:
    states = [s if s.intake is None else replace(s, intake=replace(
        s.intake, form_id=f"form:{s.thread_key.split(':')[0]}:{s.intake.number}"))
        for s in states]
    _same_tick(UpdateFolder(sla_policy=POLICY, intake=IntakeRules()), states, at)


def test_a_restart_fires_overdue_tickets_without_decoding_them() -> None:
    at = BASE.tickets[0].opened_at + timedelta(hours=2, minutes=1)  # past first response
    states = [replace(BASE, thread_key=f"{n}:p", tickets=(
        replace(BASE.tickets[0], ticket_id=f"tg:{n}:p:1"),)) for n in range(1, 4)]
    store = _same_tick(UpdateFolder(sla_policy=POLICY), states, at)
    assert store.decoded == 0
    folded = _tick(UpdateFolder(sla_policy=POLICY), store, at)
    assert [e.type for e in folded.events].count("sla.breached") == 3
    assert {k for k, _ in folded.encoded} == {s.thread_key for s in states}
    assert not folded.states


def test_what_the_clocks_cannot_decide_is_decoded() -> None:
    at = BASE.tickets[0].opened_at + timedelta(hours=2, minutes=1)
    ticket = BASE.tickets[0]
    not_started = replace(BASE, thread_key="2:p", tickets=(
        replace(ticket, ticket_id="tg:2:p:1", sla=None),))
    form = IntakeState(form_id="form:3:1", number=1, customer=ticket.customer,
                       status="open", started_at=at - timedelta(hours=3),
                       last_activity_at=at - timedelta(hours=3))
    with_form = replace(BASE, thread_key="3:p", intake=form, tickets=(
        replace(ticket, ticket_id="tg:3:p:1"),))
    folder = UpdateFolder(sla_policy=POLICY, intake=IntakeRules())
    for state in (not_started, with_form):
        store = _same_tick(folder, [state], at)
        assert store.decoded == 1, state.thread_key
    for old in (dump_v1, dump_v2, dump_v3):
        store = Stored({BASE.thread_key: old(BASE)}, [BASE.thread_key])
        folded = _tick(folder, store, at)
        assert store.decoded == 1 and not folded.encoded and folded.states


def test_a_thread_with_nothing_pending_is_left_alone() -> None:
    ticket = BASE.tickets[0]
    assert ticket.sla is not None
    quiet = replace(BASE, tickets=(replace(ticket, sla=replace(ticket.sla, next_at=None)),))
    alias = ThreadState(thread_key="9:t2", alias_of="9:t1")
    store = _same_tick(UpdateFolder(sla_policy=POLICY), [quiet, alias],
                       datetime(2090, 1, 1, tzinfo=UTC))
    assert store.decoded == 0


def test_the_events_a_tick_fires_record_its_instant_as_written() -> None:
    """A tick in UTC (what the workers send) is recorded in the standard library's zone, the
    same instant and JSON as pydantic's parse of it; a tick with another offset keeps it."""
    due = BASE.tickets[0].opened_at + timedelta(hours=2, minutes=1)
    plus_two = timezone(timedelta(hours=2))
    for at, written in ((due.astimezone(UTC), due.strftime("%Y-%m-%dT%H:%M:%SZ")),
                        (due.astimezone(plus_two),
                         due.astimezone(plus_two).strftime("%Y-%m-%dT%H:%M:%S+02:00"))):
        store = Stored({BASE.thread_key: dump_thread(BASE)}, [BASE.thread_key])
        folded = _tick(UpdateFolder(sla_policy=POLICY), store, at)
        assert folded.events
        for event in folded.events:
            assert event.recorded_at == at
            assert event.source.tick_at == at
            assert f'"recorded_at":"{written}"' in encode_event(event).decode()
            assert encode_event(event) == event.model_dump_json().encode()
            assert (event.recorded_at.tzinfo is UTC) == (at.utcoffset() == timedelta(0))
