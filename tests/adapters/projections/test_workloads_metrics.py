"""Agent workloads and daily metrics: what assignments, replies, SLA signals and closings add up
to, counted once however often the events are delivered."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from projections.registry import PROJECTORS, apply_all
from projections.tables import agent_workloads, daily_metrics
from tests.adapters.projections.factory import T0, Story, positioned, sqlite_engine

WORKLOADS, METRICS = PROJECTORS["workloads"], PROJECTORS["metrics"]
DAY = date(2026, 5, 28)


def _workloads(engine: sa.Engine) -> dict[str, tuple[int, int, int]]:
    with engine.connect() as conn:
        return {r.agent_id: (r.open_tickets, r.assigned_total, r.closed_total)
                for r in conn.execute(sa.select(agent_workloads))}


def _metrics(engine: sa.Engine) -> dict[tuple[Any, str, str], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(daily_metrics)).mappings()
        return {(r["day"], r["queue"], r["agent_id"]): {
            k: v for k, v in r.items() if k not in ("day", "queue", "agent_id") and v}
            for r in rows}


def test_workloads_follow_assign_reassign_close_and_reopen(tmp_path: Path) -> None:
    one, two = Story("tg:-100:t1"), Story("tg:-100:t2")
    one.opened(), two.opened()
    one.assigned("ann"), two.assigned("ann")
    with sqlite_engine(tmp_path) as engine:
        offset = [0]

        def feed(*events: Any) -> None:
            with engine.begin() as conn:
                WORKLOADS.apply(conn, positioned(list(events), start=offset[0]), T0)
            offset[0] += len(events)

        feed(*one.events, *two.events)
        assert _workloads(engine) == {"ann": (2, 2, 0)}
        feed(two.later(minutes=3).assigned("bo", previous="ann", by="reassign"))
        assert _workloads(engine) == {"ann": (1, 2, 0), "bo": (1, 1, 0)}
        feed(one.later(minutes=9).closed())
        assert _workloads(engine) == {"ann": (0, 2, 1), "bo": (1, 1, 0)}
        feed(two.later(minutes=9).status("Closed", is_closed=True))
        feed(two.later(minutes=1).closed())  # closed already: nothing more
        assert _workloads(engine) == {"ann": (0, 2, 1), "bo": (0, 1, 1)}
        feed(two.later(minutes=1).reopened())
        assert _workloads(engine) == {"ann": (0, 2, 1), "bo": (1, 1, 1)}
        feed(two.later(minutes=1).assigned(None, previous="bo", reason="bo is off"))
        assert _workloads(engine) == {"ann": (0, 2, 1), "bo": (0, 1, 1)}
        with engine.connect() as conn:
            last = conn.execute(sa.select(agent_workloads.c.last_assigned_at)
                                .where(agent_workloads.c.agent_id == "bo")).scalar_one()
        assert last.replace(tzinfo=None) == (T0 + timedelta(minutes=3)).replace(tzinfo=None)


def test_workloads_count_each_event_once_under_redelivery(tmp_path: Path) -> None:
    s = Story()
    s.opened(), s.assigned("ann"), s.assigned("bo", previous="ann"), s.closed()
    with sqlite_engine(tmp_path) as engine:
        for start in (0, 0, 50):  # the batch twice, then re-derived at other offsets
            with engine.begin() as conn:
                WORKLOADS.apply(conn, positioned(s.events, start=start), T0)
        with engine.begin() as conn:  # and one event alone, once more
            WORKLOADS.apply(conn, positioned(s.events[1:2], start=90), T0)
        assert _workloads(engine) == {"ann": (0, 1, 0), "bo": (0, 1, 1)}


def _sla_ticket() -> Story:
    s = Story("tg:-100:t1")
    s.opened()
    s.later(seconds=30).sla_started()
    s.routed("sales")
    s.assigned("ann")
    s.later(minutes=10).breached()
    s.later(minutes=5).escalated(1)
    s.later(minutes=1).replied()
    s.met("first_response", timedelta(minutes=16), on_time=False)
    s.later(minutes=30).closed()
    s.met("resolution", timedelta(minutes=40))
    return s


def _plain_ticket() -> Story:
    """No SLA clocks: times are wall clock from the opening."""
    s = Story("tg:-100:t2")
    s.opened()
    s.routed("sales")
    s.assigned("bo")
    s.later(minutes=4).replied()
    s.later(minutes=1).replied()  # not a first response
    s.later(minutes=5).closed()
    s.later(minutes=1).reopened()
    s.later(minutes=10).closed()  # a second resolution
    return s


EXPECTED = {
    (DAY, "", ""): {"tickets_opened": 2},
    (DAY, "sales", ""): {"tickets_routed": 2},
    (DAY, "sales", "ann"): {"sla_breaches": 1, "escalations": 1, "first_responses": 1,
                            "first_response_seconds_total": 960.0,
                            "first_response_seconds_max": 960.0, "resolutions": 1,
                            "resolution_seconds_total": 2400.0},
    (DAY, "sales", "bo"): {"first_responses": 1, "first_response_seconds_total": 240.0,
                           "first_response_seconds_max": 240.0, "resolutions": 2,
                           "resolution_seconds_total": 600.0 + 1260.0},
}


def test_metrics_by_day_queue_and_agent(tmp_path: Path) -> None:
    events = _sla_ticket().events + _plain_ticket().events
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            assert METRICS.apply(conn, positioned(events), T0) == len(events)
        assert _metrics(engine) == EXPECTED


def test_metrics_are_idempotent_under_redelivery_and_batching(tmp_path: Path) -> None:
    sla, plain = _sla_ticket().events, _plain_ticket().events
    interleaved = [e for pair in zip(sla, plain, strict=False) for e in pair]
    interleaved += sla[len(plain):] + plain[len(sla):]
    with sqlite_engine(tmp_path) as engine:
        for i in range(0, len(interleaved), 3):  # small batches, each delivered twice
            batch = positioned(interleaved[i:i + 3], start=i)
            for _ in range(2):
                with engine.begin() as conn:
                    METRICS.apply(conn, batch, T0)
        with engine.begin() as conn:  # the whole log re-derived at other offsets
            assert METRICS.apply(conn, positioned(interleaved, start=500), T0) == 0
        assert _metrics(engine) == EXPECTED


def test_the_largest_first_response_wins_across_batches(tmp_path: Path) -> None:
    quick, slow = Story("tg:-100:t1"), Story("tg:-100:t2")
    for s, minutes in ((slow, 20), (quick, 2)):
        s.opened(), s.assigned("ann", queue="sales"), s.later(minutes=minutes).replied()
    with sqlite_engine(tmp_path) as engine:
        for i, events in enumerate((slow.events, quick.events)):
            with engine.begin() as conn:
                METRICS.apply(conn, positioned(events, start=10 * i), T0)
        row = _metrics(engine)[(DAY, "sales", "ann")]
    assert (row["first_responses"], row["first_response_seconds_max"],
            row["first_response_seconds_total"]) == (2, 1200.0, 1320.0)


def test_all_projectors_in_one_transaction(tmp_path: Path) -> None:
    events = _sla_ticket().events
    with sqlite_engine(tmp_path) as engine:
        with engine.begin() as conn:
            changed = apply_all(conn, positioned(events), T0)
        assert changed == {"cases": len(events), "audit": len(events),
                           "workloads": len(events), "metrics": len(events)}
        assert _workloads(engine) == {"ann": (0, 1, 1)}
