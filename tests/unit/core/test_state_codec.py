"""Stored thread states: every version decodes to the state it was written from, and a worker's
timer index built from the stored bytes' deadline summaries (nothing decoded) is the index it
built from the decoded states. (A tick's firing from v4's clocks: test_stored_firing.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from bench.timers import POLICY as TWO_TIMERS
from streams.core.intake import IntakeRules
from streams.core.intake_form import IntakeState
from streams.core.ticket import ThreadState, TicketState
from streams.runtime.fold import Position, UpdateFolder
from streams.runtime.state_codec import (
    NO_DEADLINE,
    StoredStateError,
    dump_thread,
    load_thread,
    stored_clocks,
    stored_deadlines,
    with_clocks,
)
from streams.runtime.timers import TimerBook
from streams.schema.envelope import RawTelegramUpdate
from streams.sla.policy import SlaPolicy
from streams.sla.snapshot import SlaSnapshot
from tests.unit.core.stored_versions import dump_v1, dump_v2, dump_v3

POLICY = SlaPolicy.from_toml(TWO_TIMERS)
_V1: TypeAdapter[ThreadState] = TypeAdapter(ThreadState)
VERSIONS = {"v4": dump_thread, "v3": dump_v3, "v2": dump_v2, "v1": dump_v1}


def _opened() -> ThreadState:
    """A private chat's thread with one ticket and its SLA clocks, as the real fold leaves it."""
    class Store(dict[str, ThreadState]):
        def due_threads(self, partition: int, at: datetime) -> list[str]:
            return []

    update = {"update_id": 1, "message": {
        "message_id": 1, "date": 1_790_000_000, "from": {"id": 5, "is_bot": False,
                                                         "first_name": "Ann"},
        "chat": {"id": 5, "type": "private", "first_name": "Ann"}, "text": "Hello"}}
    raw = RawTelegramUpdate(bot_id=7000000001, source="webhook",
                            received_at=datetime.fromtimestamp(1_790_000_000, UTC),
                            update=update).to_bytes()
    folded = UpdateFolder(sla_policy=POLICY).fold(
        raw, Store(), Position("telegram.updates", 0, 0, None), datetime.now(UTC))
    assert folded.thread is not None and folded.thread.tickets[0].sla is not None
    return folded.thread


BASE = _opened()
instants = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1),
                        timezones=st.just(UTC))
texts = st.text(max_size=12)


@st.composite
def tickets(draw: st.DrawFn, number: int) -> TicketState:
    base = BASE.tickets[0]
    assert base.sla is not None
    sla = draw(st.one_of(st.none(), st.builds(
        lambda next_at, as_of, fired: replace(base.sla, next_at=next_at, as_of=as_of,
                                              fired=fired),
        st.none() | instants, instants, st.lists(texts, max_size=3).map(tuple))))
    return replace(
        base, ticket_id=f"{base.ticket_id[:-1]}{number}", sla=sla,
        status=draw(st.sampled_from(["open", "closed"])), outbound=draw(st.booleans()),
        opened_at=draw(instants), seq=draw(st.integers(0, 10**6)),
        subject=draw(texts), last_message_at=draw(st.none() | instants),
        messages=draw(st.dictionaries(st.integers(0, 10**9), st.integers(0, 10**9),
                                      max_size=4)),
        agent_messages=draw(st.frozensets(st.integers(0, 10**9), max_size=3)),
        comments=draw(st.frozensets(texts, max_size=3)),
        case_id=draw(st.none() | texts), first_response_at=draw(st.none() | instants))


forms = st.builds(
    IntakeState, form_id=texts, number=st.integers(0, 99),
    customer=st.just(BASE.tickets[0].customer),
    status=st.sampled_from(["open", "abandoned", "completed"]),
    answers=st.dictionaries(texts, texts, max_size=3), started_at=st.none() | instants,
    last_activity_at=st.none() | instants)


@st.composite
def thread_states(draw: st.DrawFn) -> ThreadState:
    count = draw(st.integers(0, 3))
    return replace(
        BASE, thread_key=draw(st.sampled_from(["5:p", "6:p", "-1009:t4", "-1009:t5"])),
        tickets=tuple(draw(tickets(n + 1)) for n in range(count)),
        recent_updates=tuple(draw(st.lists(st.integers(0, 10**9), max_size=3))),
        alias_of=draw(st.none() | st.just("-1009:t3")), intake=draw(st.none() | forms))


many = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@many
@given(thread_states())
def test_a_state_decodes_to_itself_from_every_version(state: ThreadState) -> None:
    for dump in VERSIONS.values():
        assert load_thread(dump(state)) == state


@many
@given(thread_states())
def test_the_summary_reads_the_same_from_every_version(state: ThreadState) -> None:
    assert stored_deadlines(dump_thread(state)) == stored_deadlines(dump_v1(state))
    assert stored_deadlines(dump_v2(state)) == stored_deadlines(dump_v1(state))
    assert stored_deadlines(dump_v3(state)) == stored_deadlines(dump_v1(state))


@many
@given(thread_states())
def test_the_codec_writes_and_reads_as_the_adapters_methods(state: ThreadState) -> None:
    """The codec calls the adapter's validator and serializer without its wrappers; v4's
    JSON after the clocks is the adapter's without the tickets' ``sla``."""
    data = dump_thread(state)
    body = _V1.dump_json(state, exclude_defaults=True,
                         exclude={"tickets": {"__all__": {"sla"}}})
    assert data.endswith(body)
    assert load_thread(data) == _V1.validate_json(dump_v1(state))
    assert load_thread(dump_v2(state)) == _V1.validate_json(dump_v2(state)[17:])
    assert load_thread(dump_v1(state)) == _V1.validate_json(dump_v1(state))


@many
@given(thread_states())
def test_the_clocks_read_alone_are_the_decoded_states(state: ThreadState) -> None:
    data = dump_thread(state)
    stored = stored_clocks(data)
    assert stored is not None
    assert stored.clocks == tuple((t.ticket_id, t.seq, None if t.sla is None else t.sla.row())
                                  for t in state.tickets)
    assert all(row is None or SlaSnapshot.from_row(row) == t.sla
               for (_, _, row), t in zip(stored.clocks, state.tickets, strict=True))
    assert (stored.sla_due, stored.form_activity) == stored_deadlines(data)
    assert all(stored_clocks(dump(state)) is None for dump in (dump_v3, dump_v2, dump_v1))


@many
@given(thread_states(), st.data())
def test_clocks_written_back_are_the_state_written_whole(state: ThreadState,
                                                         data: st.DataObject) -> None:
    """``with_clocks`` writes what ``dump_thread`` writes for the state with those clocks
    (but for the ``seq`` left behind in the JSON, which the clocks' overrule)."""
    state = replace(state, alias_of=None)  # an alias thread is never fired
    stored = stored_clocks(dump_thread(state))
    assert stored is not None
    if any(t.sla is None for t in state.tickets):
        with pytest.raises(ValueError):
            with_clocks(stored, stored.clocks)
        return
    moved = tuple(replace(t, seq=data.draw(st.integers(t.seq, t.seq + 9)),
                          sla=replace(t.sla, next_at=data.draw(st.none() | instants)))
                  for t in state.tickets if t.sla is not None)
    after = replace(state, tickets=moved)
    written = with_clocks(stored, [(t.ticket_id, t.seq, t.sla.row()) for t in moved
                                   if t.sla is not None])
    assert load_thread(written) == after
    assert stored_deadlines(written) == stored_deadlines(dump_thread(after))
    again, whole = stored_clocks(written), stored_clocks(dump_thread(after))
    assert again is not None and whole is not None
    assert again[:3] == whole[:3]  # the summary and the clocks; the JSON's seq is stale


@pytest.mark.parametrize("dump", [dump_thread, dump_v3], ids=["v4", "v3"])
@pytest.mark.parametrize("cut", [1, 17, 20, 30])
def test_truncated_bytes_are_refused(dump: Callable[[ThreadState], bytes], cut: int) -> None:
    data = dump(BASE)
    with pytest.raises((StoredStateError, ValueError)):
        load_thread(data[:cut])


@pytest.mark.parametrize("dump", [dump_thread, dump_v3], ids=["v4", "v3"])
def test_clocks_of_other_tickets_are_refused(dump: Callable[[ThreadState], bytes]) -> None:
    data = dump(BASE)
    other = data.replace(BASE.tickets[0].ticket_id.encode(), b"tg:9:p:9", 1)
    with pytest.raises(StoredStateError):
        load_thread(other)


def _datetimes(value: object) -> list[datetime]:
    """Every datetime in a state, in a fixed order."""
    if isinstance(value, datetime):
        return [value]
    if is_dataclass(value):
        return [d for f in fields(value) for d in _datetimes(getattr(value, f.name))]
    if isinstance(value, BaseModel):
        return [d for name in type(value).model_fields for d in _datetimes(getattr(value, name))]
    if isinstance(value, tuple | list):
        return [d for item in value for d in _datetimes(item)]
    if isinstance(value, dict):
        return [d for item in value.values() for d in _datetimes(item)]
    return []


def _zoned(seconds: st.SearchStrategy[int]) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.none() | st.just(UTC) | st.builds(
                            lambda minutes, seconds: timezone(timedelta(minutes=minutes,
                                                                        seconds=seconds)),
                            st.integers(-23 * 60 - 59, 23 * 60 + 59), seconds))


zoned = _zoned(st.integers(0, 59))
on_the_minute = _zoned(st.just(0))
"""Offsets of whole minutes: RFC 3339's, which v3's and v4's clocks are written in (an offset
with seconds, which only local mean times of the 19th century have, is written to the
minute)."""


@many
@given(thread_states(), st.tuples(zoned, zoned, zoned, on_the_minute))
def test_datetimes_read_as_pydantic_reads_them_in_the_standard_librarys_zones(
        state: ThreadState, instants: tuple[datetime, ...]) -> None:
    """The codec reads datetimes with ``datetime.fromisoformat``: the same instants, naive
    where pydantic's are, at the same offsets, in any zone and at any microsecond."""
    ticket = replace(BASE.tickets[0], opened_at=instants[0], last_message_at=instants[1],
                     received_at=instants[2])
    assert ticket.sla is not None
    ticket = replace(ticket, sla=replace(ticket.sla, as_of=instants[3]))
    for tried in (state, replace(state, tickets=(*state.tickets, ticket))):
        plain = _V1.validate_json(dump_v1(tried))
        for dump in VERSIONS.values():
            read = load_thread(dump(tried))
            assert read == plain
            ours, theirs = _datetimes(read), _datetimes(plain)
            assert len(ours) == len(theirs)
            for mine, pydantics in zip(ours, theirs, strict=True):
                assert mine == pydantics and mine.utcoffset() == pydantics.utcoffset()
                assert mine.tzinfo is None or type(mine.tzinfo) is timezone
            assert dump_thread(read) == dump_thread(plain)


def test_a_datetime_written_as_a_number_is_refused() -> None:
    body = _V1.dump_json(BASE, exclude_defaults=True).replace(b'"opened_at":"', b'"x":"', 1)
    body = body.replace(b'"x":"', b'"opened_at":1790000000,"y":"', 1)
    assert _V1.validate_json(body).tickets[0].opened_at.year == 2026  # pydantic: epoch seconds
    with pytest.raises(ValidationError):
        load_thread(body)


FOLDERS = {
    "sla": UpdateFolder(sla_policy=POLICY),
    "forms": UpdateFolder(intake=IntakeRules(timeout=timedelta(minutes=7, microseconds=3))),
    "both": UpdateFolder(sla_policy=POLICY, intake=IntakeRules()),
}


@pytest.mark.parametrize("folder", FOLDERS.values(), ids=FOLDERS.keys())
def test_the_index_from_stored_bytes_is_the_index_from_decoded_states(
        folder: UpdateFolder) -> None:
    @many
    @given(st.lists(thread_states(), max_size=12), st.integers(1, 4), st.booleans(),
           st.data())
    def check(states: list[ThreadState], partitions: int, old: bool,
              data: st.DataObject) -> None:
        stored = {s.thread_key: (dump_v1 if old else dump_thread)(s) for s in states}
        decoded = {key: load_thread(raw) for key, raw in stored.items()}  # last one per key
        by_states = TimerBook.for_folder(folder, partitions)
        for p in range(partitions):
            by_states.build(p, [s for s in decoded.values()
                                if by_states.partition_of(s.thread_key) == p])
        by_bytes = TimerBook.for_folder(folder, partitions)
        by_bytes.build_stored(stored.items(), range(partitions))
        # the partitions a recovered table knows for some keys: the same index, unhashed
        known = {key: by_states.partition_of(key) for key in stored if data.draw(st.booleans())}
        by_known = TimerBook.for_folder(folder, partitions)
        by_known.build_stored(stored.items(), range(partitions), known.get)
        for book in (by_bytes, by_known):
            assert book.indexes.keys() == by_states.indexes.keys()
            for p, index in by_states.indexes.items():
                assert len(book.indexes[p]) == len(index)
                for key in stored:
                    assert book.indexes[p].due_of(key) == index.due_of(key)

    check()


@pytest.mark.parametrize("folder", FOLDERS.values(), ids=FOLDERS.keys())
def test_scheduling_from_stored_bytes_is_scheduling_the_states(folder: UpdateFolder) -> None:
    @many
    @given(st.lists(thread_states(), max_size=12), st.lists(thread_states(), max_size=12),
           st.integers(1, 4))
    def check(first: list[ThreadState], then: list[ThreadState], partitions: int) -> None:
        by_states = TimerBook.for_folder(folder, partitions)
        by_bytes = TimerBook.for_folder(folder, partitions)
        for book in (by_states, by_bytes):
            book.build_stored(((s.thread_key, dump_thread(s)) for s in first),
                              range(partitions))
        by_states.schedule(then)
        by_bytes.schedule_stored((s.thread_key, dump_thread(s)) for s in then)
        for p, index in by_states.indexes.items():
            assert len(by_bytes.indexes[p]) == len(index)
            for state in first + then:
                assert by_bytes.indexes[p].due_of(state.thread_key) == index.due_of(
                    state.thread_key)

    check()


def test_an_alias_thread_has_no_deadline() -> None:
    state = ThreadState(thread_key="1:t5", alias_of="1:t4")
    assert stored_deadlines(dump_thread(state)) == (NO_DEADLINE, NO_DEADLINE)


def test_bytes_of_no_known_version_are_refused() -> None:
    with pytest.raises(StoredStateError):
        load_thread(b"\x07garbage")


def test_a_known_partition_is_taken_as_it_is() -> None:
    book = TimerBook.for_folder(FOLDERS["sla"], 4)
    hashed = book.partition_of(BASE.thread_key)
    other = (hashed + 1) % 4
    book.build_stored([(BASE.thread_key, dump_thread(BASE))], range(4), {BASE.thread_key:
                                                                           other}.get)
    assert len(book.indexes[other]) == 1 and len(book.indexes[hashed]) == 0


def test_a_built_partition_is_not_rebuilt() -> None:
    book = TimerBook.for_folder(FOLDERS["sla"], 1)
    book.build(0, [])
    assert book.build_stored([], [0]) == {}
    assert len(book.indexes[0]) == 0
