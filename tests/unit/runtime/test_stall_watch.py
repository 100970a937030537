"""The stall watch: a held partition with records waiting and an owed offset that has not moved
for the threshold is a stall; any progress, or nothing waiting, starts the wait again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.kafka.stall import StallWatch

P = ("telegram.updates", 0)


def test_waiting_records_without_progress_become_a_stall_after_the_threshold() -> None:
    watch = StallWatch(after=30)
    assert watch.stalled({P: 5}, {P: 9}, now=100) == []
    assert watch.stalled({P: 5}, {P: 9}, now=129.9) == []
    [stall] = watch.stalled({P: 5}, {P: 12}, now=130)  # more arrived: still the same wait
    assert (stall.partition, stall.owed, stall.end, stall.idle) == (P, 5, 12, 30)


def test_progress_or_an_empty_partition_starts_the_wait_again() -> None:
    watch = StallWatch(after=30)
    watch.stalled({P: 5}, {P: 9}, now=0)
    assert watch.stalled({P: 6}, {P: 9}, now=40) == []  # it moved
    assert watch.stalled({P: 6}, {P: 9}, now=69) == []
    assert len(watch.stalled({P: 6}, {P: 9}, now=70)) == 1
    watch.stalled({P: 9}, {P: 9}, now=71)  # caught up
    assert watch.stalled({P: 9}, {P: 10}, now=200) == []  # a new wait begins here


def test_a_partition_never_folded_or_given_away_is_not_judged() -> None:
    watch = StallWatch(after=1)
    watch.stalled({}, {P: 9}, now=0)
    assert watch.stalled({}, {P: 9}, now=10) == []  # no stored position to judge by
    watch.stalled({P: 1}, {P: 9}, now=0)
    watch.stalled({}, {}, now=1)  # revoked
    assert watch.stalled({P: 1}, {P: 9}, now=1.5) == []  # held again: the wait starts over


@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 10)), min_size=1, max_size=30),
       st.floats(1, 20))
def test_no_stall_is_reported_before_the_owed_offset_sat_still_for_the_threshold(
        steps: list[tuple[int, float]], after: float) -> None:
    watch = StallWatch(after=after)
    now, owed, still_since = 0.0, 0, 0.0
    for moved, gap in steps:
        now += gap
        if moved:
            owed += moved
            still_since = now
        for stall in watch.stalled({P: owed}, {P: owed + 5}, now):
            assert now - still_since >= after
            assert stall.owed == owed and stall.end == owed + 5
