"""The limit guard's levels, from ``Sforce-Limit-Info`` values and the Limits resource's
answer (no I/O: readings are handed in, time is a fake clock)."""

from __future__ import annotations

import structlog
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from connectors.salesforce.limit_guard import (
    Level,
    LimitGuard,
    LimitHeld,
    parse_limit_info,
    parse_limits,
)


def test_the_header_is_read_as_salesforce_documents_it() -> None:
    assert parse_limit_info("api-usage=18/5000") == (18, 5000)
    assert parse_limit_info("api-usage=10018/100000; api-bursts=1/750") == (10018, 100000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x); api-usage=25/5000") == (
        25, 5000)
    assert parse_limit_info("api-usage=110018/100000") == (110018, 100000)  # over the limit
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None
    assert parse_limit_info("api-usage=5/0") is None
    assert parse_limit_info("garbage") is None


def test_the_limits_resource_is_read_from_daily_api_requests() -> None:
    assert parse_limits({"DailyApiRequests": {"Max": 15000, "Remaining": 14998},
                         "DataStorageMB": {"Max": 5, "Remaining": 5}}) == (2, 15000)
    assert parse_limits({"DataStorageMB": {"Max": 5, "Remaining": 5}}) is None
    assert parse_limits({"DailyApiRequests": {"Max": "x"}}) is None


def test_levels_rise_at_each_threshold_and_say_what_is_allowed() -> None:
    guard = LimitGuard(conserve_at=0.8, essential_at=0.95, slowdown=4.0)
    assert guard.level() is Level.NORMAL and guard.usage is None
    assert (guard.widen(), guard.poll_factor(), guard.allows("reconcile")) == (1.0, 1.0, True)

    assert guard.observe("api-usage=799/1000")
    assert guard.level() is Level.NORMAL
    guard.observe("api-usage=800/1000")
    assert guard.level() is Level.CONSERVE
    assert (guard.widen(), guard.poll_factor()) == (4.0, 4.0)
    assert all(guard.allows(k) for k in ("essential", "reconcile", "knowledge", "outreach"))

    guard.observe_limits({"DailyApiRequests": {"Max": 1000, "Remaining": 50}})
    assert guard.level() is Level.ESSENTIAL_ONLY and str(guard.level()) == "essential_only"
    assert guard.allows("essential")
    assert not any(guard.allows(k) for k in ("reconcile", "knowledge", "outreach"))
    assert (guard.widen(), guard.poll_factor()) == (4.0, 4.0)


def test_a_held_kind_raises_a_transient_error_and_is_counted() -> None:
    guard = LimitGuard()
    before = REGISTRY.get_sample_value("telecase_salesforce_api_calls_held_total",
                                       {"kind": "knowledge"}) or 0.0
    guard.hold("knowledge")  # normal: nothing held
    guard.observe("api-usage=990/1000")
    try:
        guard.hold("knowledge", retry_after=30.0)
    except LimitHeld as exc:
        assert exc.retry_after == 30.0 and "990/1000" in str(exc)
    else:
        raise AssertionError("knowledge was not held")
    assert REGISTRY.get_sample_value("telecase_salesforce_api_calls_held_total",
                                     {"kind": "knowledge"}) == before + 1


def test_the_usage_is_exported() -> None:
    guard = LimitGuard()
    guard.observe("api-usage=850/1000")
    sample = REGISTRY.get_sample_value
    assert sample("telecase_salesforce_api_usage_used") == 850
    assert sample("telecase_salesforce_api_usage_max") == 1000
    assert sample("telecase_salesforce_api_usage_ratio") == 0.85
    assert sample("telecase_salesforce_api_guard_level") == 1


def test_each_level_change_is_logged_once() -> None:
    guard = LimitGuard(hysteresis=0.02)
    with structlog.testing.capture_logs() as logs:
        for used in (100, 810, 820, 830, 960, 970, 940, 920, 500, 400):
            guard.observe(f"api-usage={used}/1000")
    changes = [(e["log_level"], e["was"], e["guard_level"]) for e in logs
               if e["event"] == "salesforce.api_limit.level"]
    assert changes == [("warning", "normal", "conserve"),
                       ("warning", "conserve", "essential_only"),
                       ("info", "essential_only", "conserve"),
                       ("info", "conserve", "normal")]


def test_a_level_falls_only_clear_of_its_threshold() -> None:
    guard = LimitGuard(conserve_at=0.8, essential_at=0.95, hysteresis=0.02)
    guard.observe("api-usage=960/1000")
    guard.observe("api-usage=940/1000")  # under 95%, within 2 points: still essential only
    assert guard.level() is Level.ESSENTIAL_ONLY
    guard.observe("api-usage=929/1000")
    assert guard.level() is Level.CONSERVE
    guard.observe("api-usage=785/1000")
    assert guard.level() is Level.CONSERVE
    guard.observe("api-usage=779/1000")
    assert guard.level() is Level.NORMAL


def test_stale_means_no_reading_within_the_age() -> None:
    now = [1000.0]
    guard = LimitGuard(clock=lambda: now[0])
    assert guard.stale(300)
    guard.observe("api-usage=1/1000")
    now[0] += 299
    assert not guard.stale(300)
    now[0] += 1
    assert guard.stale(300)
    assert not guard.observe("no usage here") and guard.stale(300)  # nothing usable: as before


shares = st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=40)


@given(shares, st.floats(min_value=0.05, max_value=1.0), st.floats(min_value=0.0, max_value=0.5))
def test_the_level_always_lies_between_the_bare_levels_of_share_and_share_plus_hysteresis(
        used: list[int], conserve_at: float, gap: float) -> None:
    """Whatever order readings come in: the level is at least what the last share says, and at
    most what it says once the hysteresis is added (never stuck higher, never lower)."""
    guard = LimitGuard(conserve_at=conserve_at, essential_at=min(1.0, conserve_at + gap))
    for n in used:
        guard.observe(f"api-usage={n}/1000")
        ratio = n / 1000
        assert guard.level_at(ratio) <= guard.level() <= guard.level_at(ratio + guard.hysteresis)
        assert guard.allows("reconcile") == (guard.level() < Level.ESSENTIAL_ONLY)
        assert guard.allows("essential")
        assert (guard.widen() > 1.0) == (guard.level() > Level.NORMAL)


@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=40))
def test_rising_usage_only_ever_raises_the_level(used: list[int]) -> None:
    guard = LimitGuard()
    levels = []
    for n in sorted(used):
        guard.observe(f"api-usage={n}/1000")
        levels.append(guard.level())
    assert levels == sorted(levels)
    assert levels[-1] == guard.level_at(max(used) / 1000)
