"""Business-time arithmetic: weekends, holidays, time zones and DST, checked against a
minute-by-minute count and by algebraic properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sla.calendar import BusinessCalendar, Opening
from streams.sla.errors import CalendarError

H = timedelta(hours=1)
M = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE: dict[int, list[Opening]] = {wd: [(9 * H, 17 * H)] for wd in range(5)}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def office(holidays: tuple[date, ...] = ()) -> BusinessCalendar:
    return BusinessCalendar("Europe/Berlin", NINE_TO_FIVE, holidays)


def brute_force(cal: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Count open minutes one by one, reading the wall clock (minute-aligned inputs only)."""
    total, t = timedelta(0), a
    while t < b:
        local = t.astimezone(cal.tz)
        wall = timedelta(hours=local.hour, minutes=local.minute)
        if local.date() not in cal.holidays and any(
                start <= wall < end for start, end in cal.weekly[local.weekday()]):
            total += M
        t += M
    return total


# ----------------------------------------------------------------------------- examples


def test_within_one_day() -> None:
    cal = office()
    assert cal.add(berlin(2025, 3, 3, 10, 0), 2 * H) == berlin(2025, 3, 3, 12, 0)
    assert cal.elapsed(berlin(2025, 3, 3, 8, 0), berlin(2025, 3, 3, 18, 0)) == 8 * H


def test_start_outside_hours_begins_at_the_next_opening() -> None:
    cal = office()
    assert cal.add(berlin(2025, 3, 3, 6, 0), 15 * M) == berlin(2025, 3, 3, 9, 15)
    assert cal.add(berlin(2025, 3, 3, 17, 0), 15 * M) == berlin(2025, 3, 4, 9, 15)


def test_over_a_weekend() -> None:
    cal = office()
    friday_4pm = berlin(2025, 3, 7, 16, 0)
    assert cal.add(friday_4pm, 2 * H) == berlin(2025, 3, 10, 10, 0)
    assert cal.elapsed(friday_4pm, berlin(2025, 3, 10, 10, 0)) == 2 * H
    assert cal.elapsed(berlin(2025, 3, 8, 10, 0), berlin(2025, 3, 9, 23, 0)) == timedelta(0)


def test_lands_on_a_closing_time_not_the_next_opening() -> None:
    cal = office()
    assert cal.add(berlin(2025, 3, 3, 9, 0), 8 * H) == berlin(2025, 3, 3, 17, 0)


def test_holidays_are_closed_all_day() -> None:
    cal = office(holidays=(date(2025, 12, 24), date(2025, 12, 25), date(2025, 12, 26)))
    # Tuesday 23 Dec 16:00 + 2h: 1h on Tuesday, then Wed-Fri are holidays -> Monday 29th 10:00
    assert cal.add(berlin(2025, 12, 23, 16, 0), 2 * H) == berlin(2025, 12, 29, 10, 0)
    assert cal.elapsed(berlin(2025, 12, 23, 0, 0), berlin(2025, 12, 30, 0, 0)) == 16 * H


def test_time_zones_are_wall_clock_hours() -> None:
    tokyo = BusinessCalendar("Asia/Tokyo", NINE_TO_FIVE)
    new_york = BusinessCalendar("America/New_York", NINE_TO_FIVE)
    at = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # Tokyo 21:00, New York 07:00
    assert tokyo.add(at, H) == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)  # Tue 10:00 JST
    assert new_york.add(at, H) == datetime(2025, 3, 3, 15, 0, tzinfo=UTC)  # Mon 10:00 EST
    half_hour = BusinessCalendar("Asia/Kolkata", NINE_TO_FIVE)
    assert half_hour.add(at, H) == datetime(2025, 3, 4, 4, 30, tzinfo=UTC)  # Tue 10:00 IST


def test_dst_spring_forward_keeps_opening_hours_on_the_wall() -> None:
    cal = office()
    # Berlin springs forward on Sunday 30 March 2025: Friday 16:00 CET + 2h = Monday 10:00 CEST
    assert cal.add(berlin(2025, 3, 28, 16, 0), 2 * H) == datetime(2025, 3, 31, 8, 0, tzinfo=UTC)


def test_dst_changes_the_length_of_a_midnight_to_midnight_day() -> None:
    cal = BusinessCalendar.always_open("Europe/Berlin")
    sunday = BusinessCalendar("Europe/Berlin", {6: [(timedelta(0), 24 * H)]})
    spring, autumn = berlin(2025, 3, 30, 0, 0), berlin(2025, 10, 26, 0, 0)
    assert sunday.elapsed(spring, spring + timedelta(days=1)) == 23 * H
    assert sunday.elapsed(autumn, autumn + timedelta(days=1)) == 25 * H
    assert sunday.add(spring, 23 * H) == berlin(2025, 3, 31, 0, 0)
    assert cal.elapsed(autumn, berlin(2025, 10, 27, 0, 0)) == 25 * H


def test_an_opening_boundary_inside_the_dst_gap_is_when_the_gap_ends() -> None:
    # 02:30 does not exist on 30 March 2025 in Berlin; the wall clock jumps 02:00 -> 03:00
    cal = BusinessCalendar("Europe/Berlin", {6: [(2 * H + 30 * M, 4 * H)], 0: [(9 * H, 10 * H)]})
    assert cal.add(berlin(2025, 3, 30, 0, 0), 30 * M) == berlin(2025, 3, 30, 3, 30)
    assert cal.elapsed(berlin(2025, 3, 30, 0, 0), berlin(2025, 3, 31, 0, 0)) == H
    # Santiago springs forward at midnight: the day starts at 01:00
    santiago = BusinessCalendar.always_open("America/Santiago")
    day = BusinessCalendar("America/Santiago", {6: [(timedelta(0), 24 * H)]})
    start = datetime(2025, 9, 6, 23, 0, tzinfo=ZoneInfo("America/Santiago"))
    assert day.elapsed(start, start + timedelta(days=2)) == 23 * H
    assert santiago.elapsed(start, start.astimezone(UTC) + 48 * H) == 48 * H
    assert santiago.elapsed(start, start + timedelta(days=2)) == 47 * H  # wall-clock days


def test_dst_fall_back_counts_the_repeated_hour_once_per_occurrence() -> None:
    night = BusinessCalendar("Europe/Berlin", {6: [(timedelta(0), 6 * H)]})
    assert night.elapsed(berlin(2025, 10, 26, 0, 0), berlin(2025, 10, 27, 0, 0)) == 7 * H


@pytest.mark.parametrize(("tz", "start", "days"), [
    ("Europe/Berlin", datetime(2025, 3, 27, 7, 13, tzinfo=UTC), 9),
    ("Europe/Berlin", datetime(2025, 10, 22, 15, 1, tzinfo=UTC), 9),
    ("America/New_York", datetime(2025, 3, 7, 3, 0, tzinfo=UTC), 8),
    ("Australia/Sydney", datetime(2025, 4, 3, 0, 0, tzinfo=UTC), 7),
    ("America/Santiago", datetime(2025, 9, 4, 0, 0, tzinfo=UTC), 6),
])
def test_agrees_with_a_minute_by_minute_count(tz: str, start: datetime, days: int) -> None:
    weekly: dict[int, list[Opening]] = {
        0: [(8 * H, 12 * H), (13 * H, 18 * H)], 1: [(0 * H, 6 * H)], 2: [(9 * H, 24 * H)],
        3: [(0 * H, 24 * H)], 4: [(7 * H + 30 * M, 15 * H)], 6: [(0 * H, 24 * H)]}
    cal = BusinessCalendar(tz, weekly, [start.date() + timedelta(days=2)])
    end = start + timedelta(days=days)
    expected = brute_force(cal, start, end)
    assert cal.elapsed(start, end) == expected
    assert cal.add(start, expected) <= end
    assert cal.elapsed(start, cal.add(start, expected)) == expected


def test_long_durations_skip_whole_weeks_exactly() -> None:
    cal = office(holidays=(date(2025, 5, 1), date(2025, 12, 25)))
    start = berlin(2025, 1, 6, 9, 0)
    year = cal.elapsed(start, berlin(2026, 1, 5, 9, 0))
    assert year == (52 * 5 - 2) * 8 * H
    assert cal.add(start, year) == berlin(2026, 1, 2, 17, 0)


def test_always_open_is_plain_arithmetic() -> None:
    cal = BusinessCalendar.always_open("Europe/Berlin")
    assert cal.is_always_open
    a = berlin(2025, 3, 29, 12, 0)  # the night before clocks spring forward
    assert cal.add(a, 24 * H) == berlin(2025, 3, 30, 13, 0) == a.astimezone(UTC) + 24 * H
    assert cal.elapsed(a, berlin(2025, 3, 30, 18, 0)) == 29 * H


def test_rejects_naive_instants_negative_work_and_empty_weeks() -> None:
    cal = office()
    with pytest.raises(CalendarError, match="timezone-aware"):
        cal.add(datetime(2025, 3, 3, 9, 0), H)
    with pytest.raises(CalendarError, match="negative"):
        cal.add(berlin(2025, 3, 3, 9, 0), -H)
    with pytest.raises(CalendarError, match="at least one opening"):
        BusinessCalendar("UTC", {})
    with pytest.raises(CalendarError, match="within one day"):
        BusinessCalendar("UTC", {0: [(10 * H, 9 * H)]})


def test_elapsed_backwards_is_negative_and_add_zero_is_identity() -> None:
    cal = office()
    a, b = berlin(2025, 3, 3, 10, 0), berlin(2025, 3, 3, 12, 0)
    assert cal.elapsed(b, a) == -2 * H
    saturday = berlin(2025, 3, 8, 12, 0)
    assert cal.add(saturday, timedelta(0)) == saturday


# ----------------------------------------------------------------------------- properties

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
         "America/Santiago", "Pacific/Chatham", "Europe/London"]
minutes = st.integers(0, 24 * 60)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    weekly: dict[int, list[Opening]] = {}
    for wd in draw(st.sets(st.integers(0, 6), min_size=1)):
        bounds = sorted(draw(st.sets(minutes, min_size=2, max_size=6)))
        pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
        weekly[wd] = [(a * M, b * M) for a, b in pairs]
    holidays = draw(st.lists(st.dates(date(2024, 1, 1), date(2026, 12, 31)), max_size=20))
    return BusinessCalendar(draw(st.sampled_from(ZONES)), weekly, holidays)


instants = st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31),
                        timezones=st.sampled_from([UTC, *map(ZoneInfo, ZONES)]),
                        allow_imaginary=False).map(lambda d: d.replace(microsecond=0))
works = st.integers(0, 40 * 86_400).map(lambda s: timedelta(seconds=s))


@settings(max_examples=300, deadline=None)
@given(cal=calendars(), a=instants, work=works)
def test_elapsed_inverts_add(cal: BusinessCalendar, a: datetime, work: timedelta) -> None:
    assert cal.elapsed(a, cal.add(a, work)) == work


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=instants, work=works)
def test_elapsed_inverts_add_from_inside_business_hours(cal: BusinessCalendar, a: datetime,
                                                        work: timedelta) -> None:
    a = cal.add(a, timedelta(seconds=1))  # an instant inside an opening interval
    assert cal.elapsed(a, cal.add(a, work)) == work


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=instants, w1=works, w2=works)
def test_add_is_monotonic_and_composes(cal: BusinessCalendar, a: datetime, w1: timedelta,
                                       w2: timedelta) -> None:
    lo, hi = sorted((w1, w2))
    assert cal.add(a, lo) <= cal.add(a, hi)
    if w2 > timedelta(0):
        assert cal.add(cal.add(a, w1), w2) == cal.add(a, w1 + w2)


@settings(max_examples=200, deadline=None)
@given(cal=calendars(), a=instants, b=instants, c=instants)
def test_elapsed_is_additive(cal: BusinessCalendar, a: datetime, b: datetime,
                             c: datetime) -> None:
    a, b, c = sorted((a, b, c), key=lambda d: d.astimezone(UTC))
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert timedelta(0) <= cal.elapsed(a, b) <= b - a


@settings(max_examples=200, deadline=None)
@given(tz=st.sampled_from(ZONES), a=instants, work=works)
def test_always_open_equals_plain_addition(tz: str, a: datetime, work: timedelta) -> None:
    cal = BusinessCalendar.always_open(tz)
    week = BusinessCalendar(tz, {wd: [(timedelta(0), 12 * H), (12 * H, 24 * H)]
                                 for wd in range(7)})
    plain = (a.astimezone(UTC) + work)  # real time, not the wall clock of a's zone
    assert cal.add(a, work) == plain == week.add(a, work)
    assert cal.elapsed(a, plain) == work == week.elapsed(a, plain)
