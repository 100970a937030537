"""A worker's timer book hands a tick at most ``TICK_MAX_DUE`` due threads, earliest first,
and keeps asking for ticks until its backlog is empty: a restart with more timers overdue than
that fires them over several ticks, none lost or doubled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.ticket import ThreadState
from streams.runtime import timers
from streams.runtime.bus import partition_for
from streams.runtime.kafka.bus import kafka_partition
from streams.runtime.timers import TICK_MAX_DUE, Partitioner, TimerBook, due_threads, partition_of

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def book_with(overdue: int, monkeypatch: pytest.MonkeyPatch) -> TimerBook:
    monkeypatch.setattr(timers, "TICK_MAX_DUE", 3)
    deadlines = {f"{n}:p": START + timedelta(seconds=n) for n in range(overdue)}
    book = TimerBook(1, due=lambda state: deadlines.get(state.thread_key))
    book.build(0, [ThreadState(thread_key=key) for key in deadlines])
    return book


def test_a_backlog_fires_over_several_ticks_in_due_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    book = book_with(7, monkeypatch)
    at = START + timedelta(hours=1)
    handed: list[list[str]] = []
    more: list[bool] = []  # whether the tick folded wants the next one at once
    while book.wants_tick(0, at.timestamp()):
        handed.append(due_threads(book, {}, [], 0, at))
        more.append(book.tick_folded(0))
    assert handed == [["0:p", "1:p", "2:p"], ["3:p", "4:p", "5:p"], ["6:p"]]
    assert more == [True, True, False]
    assert book.backlog(0) == 0


def test_threads_decided_earlier_in_the_batch_and_due_fire_with_the_index_s(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread a batch changed before its tick is not in the index (it was taken out to be
    scheduled after the batch): it fires if due by the tick, once; with nothing decided
    earlier in the batch, the index's due threads alone."""
    book = book_with(2, monkeypatch)  # "0:p" and "1:p", both due
    at = START + timedelta(hours=1)
    deadlines = {"0:p": START, "5:p": START, "6:p": at + timedelta(seconds=1)}
    book.due = lambda state: deadlines.get(state.thread_key)
    pending = {key: ThreadState(thread_key=key) for key in ("0:p", "5:p", "6:p")}
    popped: list[str] = []
    assert due_threads(book, pending, popped, 0, at) == ["0:p", "1:p", "5:p"]
    assert popped == ["0:p", "1:p"]
    book.indexes[0].schedule("1:p", START)
    assert due_threads(book, {}, popped, 0, at) == ["1:p"]
    assert due_threads(book, {}, popped, 0, at) == []


def test_a_book_s_own_limit_a_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    book = book_with(5, monkeypatch)
    book.max_due = 4
    at = START + timedelta(hours=1)
    assert book.pop_due(0, at) == ["0:p", "1:p", "2:p", "3:p"]
    assert book.tick_folded(0) and book.pop_due(0, at) == ["4:p"]
    assert not book.tick_folded(0)


def test_a_thread_due_again_while_in_the_backlog_is_handed_once_per_tick(
        monkeypatch: pytest.MonkeyPatch) -> None:
    book = book_with(4, monkeypatch)
    at = START + timedelta(hours=1)
    assert book.pop_due(0, at) == ["0:p", "1:p", "2:p"]
    book.indexes[0].schedule("3:p", START)  # a message moved it while it waited
    popped: list[str] = []
    assert due_threads(book, {}, popped, 0, at) == ["3:p"]
    assert popped == ["3:p"]
    assert book.backlog(0) == 0 and not book.wants_tick(0, at.timestamp())


def test_moving_partitions_forgets_the_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    book = book_with(5, monkeypatch)
    book.pop_due(0, START + timedelta(hours=1))
    assert book.backlog(0) == 2
    book.invalidate()
    assert book.backlog(0) == 0 and not book.built(0)


@given(st.lists(st.integers(-10**12, 10**12), max_size=40, unique=True), st.integers(1, 5),
       st.sampled_from([partition_for, kafka_partition]), st.integers(1, 6),
       st.lists(st.integers(0, 90), max_size=5))
def test_a_thread_handed_to_a_tick_is_in_the_partition_its_key_hashes_to(
        chats: list[int], partitions: int, partitioner: Partitioner, remembered: int,
        minutes: list[int]) -> None:
    """The book remembers the partitions of the threads it handed out (a few, here) rather
    than hashing their keys again: always the partition the key hashes to."""
    keys = [f"{chat}:p" for chat in chats]
    deadlines = {key: START + timedelta(minutes=n % 97) for n, key in enumerate(keys)}
    book = TimerBook(partitions, partitioner, due=lambda state: deadlines[state.thread_key])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timers, "POPPED_PARTITIONS", remembered)
        for partition in range(partitions):
            book.build(partition, [ThreadState(thread_key=key) for key in keys
                                   if partition_of(key, partitions, partitioner) == partition])
        for minute in minutes:
            for partition in range(partitions):
                popped = book.pop_due(partition, START + timedelta(minutes=minute))
                for key in popped:
                    assert partition_of(key, partitions, partitioner) == partition
                assert len(popped) <= TICK_MAX_DUE
                # bounded: what it held and this tick's, or only this tick's once past the bound
                assert len(book.popped_partitions) <= max(remembered, len(popped))
            for key in keys:
                assert book.partition_of(key) == partition_of(key, partitions, partitioner)
