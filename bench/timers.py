"""``telecase bench timers``: one worker's SLA timers at scale, on the real SLA core.

In this process, what a worker holds for its open tickets: one :class:`SlaState` per ticket in a
dict, and a :class:`TimerIndex` of their due times. The policy is one tier worked around the clock
(first response 2h, resolution 8h, no warnings or escalations), so every ticket has exactly two
live timers, its first-response and resolution deadlines, and due times can be placed on the
wall clock exactly. Three figures, with the issue's targets:

- ``memory``: RSS growth (``VmRSS``) from before the tickets exist to when all ``tickets`` states
  and the index are built, in MB and bytes per ticket (target <= 1 GB for 1,000,000), and the
  same per ticket measured with ``tracemalloc`` on a small sample (the Python objects only);
- ``firing``: ``rate * seconds`` tickets come due at ``rate`` per second in a window that starts
  ``lead`` seconds after setup (their first-response deadlines; every other ticket's are hours
  away). One loop sleeps until the index's next due time, pops the due tickets, calls ``fire``
  with the wall-clock time and reschedules each ticket at its next due time. Lateness is the
  instant ``fire`` returned minus the signal's deadline: p50/p99/max (target p99 <= 1 s), with
  fires per second achieved, and a check that every due timer fired exactly once;
- ``restart``: the worker restarts after downtime: the time to rebuild the index from the
  states (as a recovering worker does) and fire every overdue timer (target <= 10 s), twice from
  the same states: a downtime past every ticket's first-response deadline (one overdue timer
  per ticket, the other still pending), and one past every deadline (both overdue).

The cyclic garbage collector is paused while the states are built and the built heap is then
frozen (``gc.freeze``), as a worker does after loading its states: otherwise each full
collection walks every ticket's objects and shows up as lateness. The tickets that come due are
built last, after that, so the window can start ``lead`` seconds after setup.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.sla.clock import SlaState, due, fire, start
from streams.sla.policy import SlaPolicy, TicketFacts
from streams.sla.timers import TimerIndex

POLICY = """
[sla]
default_tier = "standard"
warn_at = []
[sla.teams.desk]
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "2h"
resolution = "8h"
"""
"""Two timers per ticket (first response, resolution) on an always-open calendar."""

_OPENED_WITHIN = timedelta(hours=1)
"""Tickets that do not fire during the run opened within the last hour: their first response
is due in more than an hour."""


def _ticket(i: int) -> TicketFacts:
    """Ticket ``i``: a forum topic (50 topics per forum chat), keyed like the ticket core's ids."""
    chat = -1001000000000 - i // 50
    return TicketFacts(f"tg:{chat}:{i % 50 + 2}", "forum_topic", chat)


def _rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _percentiles_ms(seconds: list[float]) -> dict[str, float | int | None]:
    """p50/p99/max in milliseconds (nearest rank), and how many samples."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    values = sorted(s * 1000 for s in seconds)
    return {"p50": round(statistics.median(values), 2),
            "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
            "max": round(values[-1], 2), "samples": len(values)}


def _sample_bytes_per_ticket(policy: SlaPolicy, tickets: int, opened: datetime) -> float:
    """Python-object bytes per ticket (state, key, dict slot, index entry) by ``tracemalloc``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        states: dict[str, SlaState] = {}
        for i in range(tickets):
            facts = _ticket(i)
            states[facts.ticket_id] = start(facts, policy, opened - timedelta(microseconds=i))
        index: TimerIndex[str] = TimerIndex((k, due(s)) for k, s in states.items())
        used = tracemalloc.get_traced_memory()[0] - before
        del states, index
    finally:
        tracemalloc.stop()
    return used / tickets


def run(tickets: int = 1_000_000, rate: int = 2000, seconds: float = 10.0, *,
        lead: float = 1.0, sample: int = 10_000) -> dict[str, Any]:
    """Build ``tickets`` open tickets, fire ``rate * seconds`` of them at ``rate``/s on the wall
    clock, then restart with every timer overdue; the figures as a JSON-ready dict."""
    if tickets < 1 or rate < 1 or seconds <= 0:
        raise ValueError("tickets, rate and seconds must be positive")
    if seconds >= _OPENED_WITHIN.total_seconds():
        raise ValueError("the firing window must be shorter than an hour")
    policy = SlaPolicy.from_toml(POLICY)
    terms = policy.terms(policy.default_tier)
    firing = min(tickets, int(rate * seconds))
    sample_bytes = _sample_bytes_per_ticket(policy, min(sample, tickets),
                                            datetime.now(UTC))

    # ------------------------------------------------------------------ setup and memory
    gc.collect()
    rss_before = _rss_bytes()
    setup_started = time.perf_counter()
    states: dict[str, SlaState] = {}
    gc.disable()
    try:
        now = datetime.now(UTC)
        spread = _OPENED_WITHIN / max(1, tickets - firing)
        for i in range(firing, tickets):  # opened within the last hour: nothing due soon
            facts = _ticket(i)
            states[facts.ticket_id] = start(facts, policy, now - (i - firing) * spread)
        index_started = time.perf_counter()
        index: TimerIndex[str] = TimerIndex((k, due(s)) for k, s in states.items())
        index_s = time.perf_counter() - index_started
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()
    # the tickets that come due, opened last (their deadlines are on the wall clock):
    # first response due at window_start + j / rate
    window_start = time.time() + lead + firing * 100e-6
    for j in range(firing):
        facts = _ticket(j)
        deadline = datetime.fromtimestamp(window_start + j / rate, UTC)
        state = states[facts.ticket_id] = start(facts, policy, deadline - terms.first_response)
        index.schedule(facts.ticket_id, due(state))
    setup_s = time.perf_counter() - setup_started
    rss_after = _rss_bytes()
    growth = None if rss_before is None or rss_after is None else rss_after - rss_before
    setup_overran = time.time() > window_start

    try:
        firing_figures = _fire_window(states, index, window_start, firing, rate)
        del index
        snapshot = dict(states)  # the states as they were, for the second restart
        first_overdue = _restart(states, overdue=tickets - firing_figures["fired"],
                                 past=terms.first_response)
        all_overdue = _restart(snapshot, overdue=2 * tickets - firing_figures["fired"],
                               past=terms.resolution)
    finally:
        gc.unfreeze()
    return {
        "tickets": tickets,
        "timers_per_ticket": 2,
        "policy": "one tier on a 24/7 team: first response 2h, resolution 8h",
        "setup_s": round(setup_s, 2),
        "memory": {
            "rss_growth_mb": None if growth is None else round(growth / 2**20, 1),
            "bytes_per_ticket": None if growth is None else round(growth / tickets),
            "rss_after_mb": None if rss_after is None else round(rss_after / 2**20, 1),
            "tracemalloc_bytes_per_ticket": round(sample_bytes),
            "tracemalloc_sample_tickets": min(sample, tickets),
            "index_build_s": round(index_s, 3),
            "target_mb": 1024,
        },
        "firing": {**firing_figures, "setup_overran_window": setup_overran},
        "restart": {"first_response_overdue": first_overdue, "all_overdue": all_overdue,
                    "target_s": 10},
    }


def _fire_window(states: dict[str, SlaState], index: TimerIndex[str], window_start: float,
                 firing: int, rate: int) -> dict[str, Any]:
    """The timer loop over the firing window, on the wall clock."""
    window_end = window_start + (firing - 1) / rate + 1.0  # nothing else is due for an hour
    lateness: list[float] = []
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    last_done: float | None = None
    while True:
        next_due = index.next_due()
        if next_due is None or next_due > window_end:
            break
        delay = next_due - time.time()
        if delay > 0:
            time.sleep(delay)
        now = time.time()
        now_dt = datetime.fromtimestamp(now, UTC)
        for key in index.pop_due(now):
            state, signals = fire(states[key], now_dt)
            done = time.time()
            states[key] = state
            index.schedule(key, due(state))
            for signal in signals:
                lateness.append(done - signal.at.timestamp())
                if (key, signal.key) in seen:
                    duplicates += 1
                seen.add((key, signal.key))
            last_done = done
    expected = {(_ticket(j).ticket_id, "first_response_breached") for j in range(firing)}
    span = (last_done - window_start) if last_done is not None else 0.0
    return {
        "rate": rate,
        "due": firing,
        "fired": len(lateness),
        "fired_exactly_once": seen == expected and duplicates == 0,
        "missed": len(expected - seen),
        "duplicates": duplicates,
        "unexpected": len(seen - expected),
        "fires_per_s": round(len(lateness) / span, 1) if span > 0 else None,
        "lateness_ms": _percentiles_ms(lateness),
        "target_p99_ms": 1000,
    }


def _restart(states: dict[str, SlaState], overdue: int, past: timedelta) -> dict[str, Any]:
    """A restart after a downtime that ends just after every ticket's deadline for ``past``
    (first response: one timer per ticket overdue; resolution: both). Rebuild the index from
    the states, then fire everything due; ``overdue`` is how many timers that should be."""
    latest_opening = max(s.started_at for s in states.values())
    now = latest_opening + past + timedelta(minutes=1)
    started = time.perf_counter()
    index: TimerIndex[str] = TimerIndex((k, due(s)) for k, s in states.items())
    rebuilt = time.perf_counter()
    fired = 0
    while keys := index.pop_due(now):
        for key in keys:
            state, signals = fire(states[key], now)
            states[key] = state
            fired += len(signals)
        index.schedule_many((key, due(states[key])) for key in keys)
    finished = time.perf_counter()
    return {
        "overdue_timers": overdue,
        "fired": fired,
        "still_pending": len(index),
        "index_rebuild_s": round(rebuilt - started, 2),
        "fire_s": round(finished - rebuilt, 2),
        "total_s": round(finished - started, 2),
    }
