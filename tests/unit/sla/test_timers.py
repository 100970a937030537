"""The due-time index (``streams.sla.timers``) against a plain dict model: any sequence of
schedules and pops gives the same keys in the same order, each due key exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sla import timers
from streams.sla.timers import TimerIndex, epoch_seconds

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)


class Model:
    """What the index promises, the slow obvious way."""

    def __init__(self) -> None:
        self.due: dict[str, tuple[float, int]] = {}
        self.sequence = 0

    def schedule(self, key: str, due: float | None) -> None:
        if due is None:
            self.due.pop(key, None)
        else:
            self.due[key] = (due, self.sequence)
            self.sequence += 1

    def pop_due(self, now: float) -> list[str]:
        ready = sorted((v, k) for k, v in self.due.items() if v[0] <= now)
        for _, key in ready:
            del self.due[key]
        return [key for _, key in ready]

    def next_due(self) -> float | None:
        return min((due for due, _ in self.due.values()), default=None)


keys = st.sampled_from([f"tg:{i}" for i in range(12)])
dues = st.one_of(st.none(), st.integers(0, 40).map(float))
ops = st.lists(st.one_of(st.tuples(st.just("schedule"), keys, dues),
                         st.tuples(st.just("many"), st.lists(st.tuples(keys, dues), max_size=8)),
                         st.tuples(st.just("pop"), st.integers(-1, 45).map(float))),
               max_size=80)


Ops = list[tuple[str, str, float | None] | tuple[str, list[tuple[str, float | None]]]
          | tuple[str, float]]


@settings(max_examples=400, deadline=None)
@given(ops=ops)
def test_matches_the_model(ops: Ops) -> None:
    check_against_the_model(ops)


@settings(max_examples=150, deadline=None)
@given(ops=ops)
def test_backlogs_split_in_bulk_match_the_model(ops: Ops) -> None:
    """With the one-by-one budget at one key, every pop of two or more takes the bulk path."""
    original = timers._BULK_MIN
    timers._BULK_MIN = 1
    try:
        check_against_the_model(ops)
    finally:
        timers._BULK_MIN = original


def check_against_the_model(ops: Ops) -> None:
    index: TimerIndex[str] = TimerIndex()
    model = Model()
    popped: list[str] = []
    for op in ops:
        if op[0] == "schedule":
            _, key, due = op
            assert isinstance(key, str) and not isinstance(due, list)
            index.schedule(key, due)
            model.schedule(key, due)
        elif op[0] == "many":
            _, batch = op
            assert isinstance(batch, list)
            index.schedule_many(batch)
            for key, due in batch:
                model.schedule(key, due)
        else:
            _, now = op
            assert isinstance(now, float)
            got = index.pop_due(now)
            assert got == model.pop_due(now)
            assert len(got) == len(set(got))
            popped += got
        assert len(index) == len(model.due)
        assert index.next_due() == model.next_due()
    # everything left pops exactly once, in due order, and the index ends empty
    assert index.pop_due(1e9) == model.pop_due(1e9)
    assert len(index) == 0 and index.next_due() is None and index.pop_due(1e9) == []


@settings(max_examples=200, deadline=None)
@given(plan=st.lists(st.tuples(keys, dues), max_size=60))
def test_rebuild_equals_scheduling_one_by_one(plan: list[tuple[str, float | None]]) -> None:
    built: TimerIndex[str] = TimerIndex(plan)
    scheduled: TimerIndex[str] = TimerIndex()
    for key, due in plan:
        scheduled.schedule(key, due)
    assert len(built) == len(scheduled)
    assert built.pop_due(1e9) == scheduled.pop_due(1e9)


def test_rescheduling_earlier_and_later_and_removing() -> None:
    index: TimerIndex[str] = TimerIndex()
    index.schedule("a", T0 + timedelta(minutes=10))
    index.schedule("b", T0 + timedelta(minutes=5))
    index.schedule("a", T0 + timedelta(minutes=1))       # earlier
    assert index.next_due() == epoch_seconds(T0 + timedelta(minutes=1))
    index.schedule("b", T0 + timedelta(minutes=20))      # later
    assert index.pop_due(T0 + timedelta(minutes=15)) == ["a"]
    assert index.pop_due(T0 + timedelta(minutes=15)) == []
    index.schedule("b", None)                            # removed
    assert len(index) == 0 and index.pop_due(T0 + timedelta(days=1)) == []


def test_datetimes_and_epoch_seconds_mix_and_naive_datetimes_are_refused() -> None:
    index: TimerIndex[str] = TimerIndex()
    index.schedule("a", T0)
    index.schedule("b", T0.timestamp() - 1)
    assert index.pop_due(T0) == ["b", "a"]
    with pytest.raises(ValueError, match="timezone-aware"):
        index.schedule("c", datetime(2025, 3, 3, 10, 0))


def test_churn_keeps_the_heap_bounded() -> None:
    index: TimerIndex[int] = TimerIndex((k, float(k)) for k in range(2_000))
    for round_ in range(50):
        for k in range(2_000):
            index.schedule(k, float(k + round_))
        assert index.heap_size <= 2 * len(index) + 1
    assert len(index) == 2_000
    assert index.pop_due(10_000.0) == list(range(2_000))

