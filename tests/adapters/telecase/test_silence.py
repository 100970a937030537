"""The silence decision (``telecase.ops.silence.SilenceWatch``): time is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.sla.calendar import BusinessCalendar
from streams.sla.policy import SlaPolicy
from telecase.ops.silence import SilenceWatch, business_calendar

MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OFFICE = SlaPolicy.from_toml("""
[sla]
default_tier = "standard"
[sla.teams.desk]
timezone = "UTC"
hours = { mon = ["09:00-17:00"], tue = ["09:00-17:00"] }
[sla.tiers.standard]
team = "desk"
first_response = "1h"
resolution = "1d"
""")
HOOK = {"url": "https://example.test/telegram", "pending_update_count": 0}


def watch(calendar: BusinessCalendar | None = None) -> SilenceWatch:
    w = SilenceWatch(timedelta(minutes=10), calendar or BusinessCalendar.always_open(),
                     MONDAY_9)
    assert w.observe(MONDAY_9, 5, HOOK) == ()
    return w


def test_no_updates_for_the_configured_business_time_is_silence() -> None:
    w = watch()
    assert w.observe(MONDAY_9 + timedelta(minutes=5), 6, HOOK) == ()
    assert w.observe(MONDAY_9 + timedelta(minutes=14), 6, HOOK) == ()
    assert w.observe(MONDAY_9 + timedelta(minutes=16), 6, HOOK) == ("no_updates",)
    assert w.observe(MONDAY_9 + timedelta(minutes=17), 7, HOOK) == ()  # flowing again


def test_outside_business_hours_quiet_is_not_silence() -> None:
    w = watch(business_calendar(OFFICE))
    evening = MONDAY_9 + timedelta(hours=7, minutes=55)  # 16:55
    assert w.observe(evening, 9, HOOK) == ()
    assert w.observe(evening + timedelta(hours=14), 9, HOOK) == ()  # 06:55 Tuesday
    assert w.observe(evening + timedelta(hours=16, minutes=10), 9, HOOK) == ("no_updates",)


def test_delivery_errors_a_growing_pending_count_and_a_failing_api_are_silence() -> None:
    w = watch()
    error = int((MONDAY_9 + timedelta(minutes=1)).timestamp())
    failing = {**HOOK, "last_error_date": error, "last_error_message": "Connection refused"}
    assert w.observe(MONDAY_9 + timedelta(minutes=2), 5, failing) == ("delivery_error",)
    assert w.observe(MONDAY_9 + timedelta(minutes=3), 6, failing) == ()  # one got through
    assert w.observe(MONDAY_9 + timedelta(minutes=4), 6,
                     {**HOOK, "pending_update_count": 1}) == ()
    assert w.observe(MONDAY_9 + timedelta(minutes=5), 6,  # 0, 1, 2: higher at each read
                     {**HOOK, "pending_update_count": 2}) == ("pending_growing",)
    assert w.observe(MONDAY_9 + timedelta(minutes=7), 6, None, "ConnectError") == (
        "webhook_info_failed",)
