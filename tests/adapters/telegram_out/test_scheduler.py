"""The mirror's scheduler on its own: pure, time is an argument."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.telegram.reply_scheduler import Limits, Scheduler

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FREE = Limits(per_chat=10_000, per_group=10_000, overall=10_000, margin=0.0)

Push = tuple[int, int, int]  # chat, thread, deadline offset in seconds


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 50)),
                min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_earliest_deadline_first_and_log_order_within_a_thread(pushes: list[Push]) -> None:
    sched: Scheduler[int] = Scheduler(FREE)
    queues: dict[tuple[int, int | None], list[tuple[int, int]]] = {}
    for n, (chat, thread, offset) in enumerate(pushes):
        sched.push((chat, thread), n, T0 + timedelta(seconds=offset))
        queues.setdefault((chat, thread), []).append((offset, n))
    served: list[int] = []
    while (taken := sched.take(0.0)) is not None:
        key, item = taken
        heads = {k: q[0] for k, q in queues.items() if q}
        assert heads[key] == min(heads.values())  # earliest head deadline, ties in log order
        assert queues[key].pop(0)[1] == item  # a thread's own items in log order
        served.append(item)
        sched.done(key)
    assert sorted(served) == list(range(len(pushes))) and len(sched) == 0


def test_one_thread_in_flight_at_a_time_and_others_go_meanwhile() -> None:
    sched: Scheduler[str] = Scheduler(FREE)
    sched.push((1, None), "a1", T0)
    sched.push((1, None), "a2", T0)
    sched.push((2, None), "b1", T0 + timedelta(seconds=5))
    assert sched.take(0.0) == ((1, None), "a1")
    assert sched.take(0.0) == ((2, None), "b1")  # a2 waits for a1
    assert sched.take(0.0) is None
    sched.retry((1, None), not_before=10.0)  # a1 backs off: b's thread is not held up
    sched.done((2, None))
    assert sched.take(5.0) is None and sched.wake_at(5.0) == 10.0
    assert sched.take(10.0) == ((1, None), "a1")


@given(st.lists(st.floats(0.0, 0.5), min_size=5, max_size=40))
def test_per_chat_spacing(steps: list[float]) -> None:
    sched: Scheduler[int] = Scheduler(Limits(margin=0.0))
    for n in range(len(steps)):
        sched.push((42, None), n, T0)
    now, sent_at = 0.0, []
    for step in steps:
        now += step
        if (taken := sched.take(now)) is not None:
            sent_at.append(now)
            sched.done(taken[0])
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(sent_at))


def test_twenty_a_minute_per_group_across_its_topics() -> None:
    sched: Scheduler[int] = Scheduler(Limits(per_chat=100, margin=0.0))
    for n in range(30):
        sched.push((-100, n % 5), n, T0 + timedelta(seconds=n))
    now, sent_at = 0.0, []
    while now < 61.0:
        while (taken := sched.take(now)) is not None:
            sent_at.append(now)
            sched.done(taken[0])
        now = max(now + 0.01, sched.wake_at(now) or now)
    assert len([t for t in sent_at if t < 60.0]) == 20
    assert sent_at[20] == 60.0  # the first send leaves the window after exactly a minute


def test_thirty_a_second_overall() -> None:
    sched: Scheduler[int] = Scheduler(Limits(margin=0.0))
    for chat in range(1, 41):
        sched.push((chat, None), chat, T0)
    taken = []
    while (item := sched.take(0.0)) is not None:
        taken.append(item)
    assert len(taken) == 30 and sched.wake_at(0.0) == 1.0


def test_a_429_holds_the_chat_and_two_at_once_hold_everything() -> None:
    sched: Scheduler[str] = Scheduler(FREE)
    for chat in (1, 2, 3):
        sched.push((chat, None), f"c{chat}", T0)
    for _ in range(3):
        sched.take(0.0)
    assert sched.flood((1, None), until=5.0, now=0.0) is False
    assert sched.take(1.0) is None  # chat 1 waits
    sched.done((3, None))
    sched.push((3, None), "c3b", T0)
    assert sched.take(1.0) == ((3, None), "c3b")  # other chats go on
    assert sched.flood((2, None), until=8.0, now=1.0) is True  # two chats flooded: global
    sched.done((3, None))
    sched.push((3, None), "c3c", T0)
    assert sched.take(6.0) is None and sched.wake_at(6.0) == 8.0
    assert sched.take(8.0) is not None


def test_rekey_keeps_the_old_threads_queue_first() -> None:
    sched: Scheduler[str] = Scheduler(FREE)
    sched.push((-1, 10), "old1", T0)
    sched.push((-1, 10), "old2", T0)
    sched.push((-1, 20), "new1", T0)
    assert sched.take(0.0) == ((-1, 10), "old1")
    sched.rekey((-1, 10), (-1, 20))
    sched.prepend((-1, 20), "note", T0)
    sched.retry((-1, 20), 0.0)
    order = []
    while (taken := sched.take(0.0)) is not None:
        order.append(taken[1])
        sched.done(taken[0])
    assert order == ["note", "old1", "old2", "new1"]
