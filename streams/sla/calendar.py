"""Business-time arithmetic: how much working time lies between two instants, and when a given
amount of working time will have elapsed.

A :class:`BusinessCalendar` is a time zone, weekly opening intervals in that zone's *wall clock*
(Monday 09:00-18:00, ...), and holidays (local dates on which it is closed all day). Business
time is real elapsed time inside opening intervals, so it is exact to the microsecond and a DST
change is handled by what the clock on the wall says: an opening of 09:00-17:00 is 8 hours on
any day, and 00:00-24:00 is 23 hours on the day clocks spring forward and 25 on the day they
fall back.

Wall times that do not exist (inside a spring-forward gap) are taken as the instant the gap
ends, i.e. the first instant whose wall clock reads at least that time; an ambiguous wall time
(inside the repeated hour of a fall-back) is its first occurrence. Both keep a day's opening
intervals in order and without overlap.

Cost: each local date's intervals and totals are computed once and memoised, whole weeks are
skipped with one cached sum each, so ``add`` and ``elapsed`` cost a few dictionary lookups per
call for the durations SLAs use, whatever the number of tickets. A calendar that is open around
the clock (24/7, no holidays) is plain datetime arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from streams.sla.errors import CalendarError

Opening = tuple[timedelta, timedelta]
"""An opening interval as wall-clock offsets from local midnight: ``0 <= start < end <= 24h``."""

DAY = timedelta(days=1)
ZERO = timedelta(0)
_ONE_SECOND = timedelta(seconds=1)
_CACHE_LIMIT = 100_000  # local dates memoised per calendar before the memo is cleared

Span = tuple[datetime, datetime]


def _merge(openings: Iterable[Opening], weekday: int) -> tuple[Opening, ...]:
    merged: list[Opening] = []
    for start, end in sorted(openings):
        if not ZERO <= start < end <= DAY:
            raise CalendarError(
                f"weekday {weekday}: opening {start}-{end} is not within one day (0 <= start < "
                "end <= 24h)")
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _utc(instant: datetime, name: str) -> datetime:
    """``instant`` in UTC. Everything here is computed in UTC: Python compares and subtracts
    two datetimes sharing a ``tzinfo`` by their wall clocks, which is wrong across DST."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CalendarError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


class BusinessCalendar:
    """Opening hours in a time zone, with holidays. Immutable once built; safe to share."""

    __slots__ = ("_always", "_days", "_weeks", "holidays", "tz", "weekly")

    def __init__(self, tz: tzinfo | str, weekly: Mapping[int, Iterable[Opening]],
                 holidays: Iterable[date] = ()) -> None:
        """``weekly`` maps a weekday (Monday is 0) to its opening intervals; a missing weekday
        is closed. Overlapping or touching intervals are merged."""
        self.tz: tzinfo = ZoneInfo(tz) if isinstance(tz, str) else tz
        unknown = set(weekly) - set(range(7))
        if unknown:
            raise CalendarError(f"weekdays are 0 (Monday) to 6 (Sunday), got {sorted(unknown)}")
        self.weekly: tuple[tuple[Opening, ...], ...] = tuple(
            _merge(weekly.get(wd, ()), wd) for wd in range(7))
        if not any(self.weekly):
            raise CalendarError("a business calendar needs at least one opening interval")
        self.holidays: frozenset[date] = frozenset(holidays)
        self._always = (not self.holidays
                        and all(day == ((ZERO, DAY),) for day in self.weekly))
        self._days: dict[date, tuple[tuple[Span, ...], timedelta]] = {}
        self._weeks: dict[date, timedelta] = {}

    @classmethod
    def always_open(cls, tz: tzinfo | str = "UTC") -> BusinessCalendar:
        """Open around the clock, every day (a 24/7 team): business time is real time."""
        return cls(tz, {wd: [(ZERO, DAY)] for wd in range(7)})

    @property
    def is_always_open(self) -> bool:
        return self._always

    def __repr__(self) -> str:
        return f"BusinessCalendar(tz={self.tz!s}, always_open={self._always})"

    # ------------------------------------------------------------------------- public

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The earliest instant at which ``work`` business time has elapsed since ``start``
        (in UTC). ``work`` of zero is ``start`` itself, even outside opening hours."""
        if start.tzinfo is not UTC:  # the clock passes UTC instants: skip the conversion
            start = _utc(start, "start")
        if work < ZERO:
            raise CalendarError(f"cannot add negative business time {work}")
        if work == ZERO:
            return start
        if self._always:
            return start + work
        remaining = work
        day = self._local_date(start)
        for opens, closes in self._spans(day):
            if closes <= start:
                continue
            opens = max(opens, start)
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        day += DAY
        while (week := self._week_total(day)) < remaining:
            remaining -= week
            day += 7 * DAY
        while (total := self._day_total(day)) < remaining:
            remaining -= total
            day += DAY
        for opens, closes in self._spans(day):
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise AssertionError("unreachable: the day's total covered the remaining work")

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time between two instants; negative when ``b`` is before ``a``."""
        if a.tzinfo is not UTC:
            a = _utc(a, "a")
        if b.tzinfo is not UTC:
            b = _utc(b, "b")
        if b < a:
            return -self.elapsed(b, a)
        if self._always:
            return b - a
        first, last = self._local_date(a), self._local_date(b)
        if first == last:
            return self._overlap(first, a, b)
        total = self._overlap(first, a, None) + self._overlap(last, None, b)
        day = first + DAY
        while day + 7 * DAY <= last:
            total += self._week_total(day)
            day += 7 * DAY
        while day < last:
            total += self._day_total(day)
            day += DAY
        return total

    def is_open(self, instant: datetime) -> bool:
        """Whether ``instant`` lies inside an opening interval (start inclusive, end exclusive)."""
        instant = _utc(instant, "instant")
        if self._always:
            return True
        return any(opens <= instant < closes
                   for opens, closes in self._spans(self._local_date(instant)))

    # ------------------------------------------------------------------------- days

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def _overlap(self, day: date, a: datetime | None, b: datetime | None) -> timedelta:
        total = ZERO
        for opens, closes in self._spans(day):
            lo = opens if a is None else max(opens, a)
            hi = closes if b is None else min(closes, b)
            if hi > lo:
                total += hi - lo
        return total

    def _day(self, day: date) -> tuple[tuple[Span, ...], timedelta]:
        cached = self._days.get(day)
        if cached is not None:
            return cached
        spans: list[Span] = []
        if day not in self.holidays:
            floor: datetime | None = None
            for start, end in self.weekly[day.weekday()]:
                opens, closes = self._instant(day, start), self._instant(day, end)
                if floor is not None:  # keep spans ordered whatever a DST gap did
                    opens, closes = max(opens, floor), max(closes, floor)
                if closes > opens:
                    spans.append((opens, closes))
                    floor = closes
        total = sum((closes - opens for opens, closes in spans), ZERO)
        if len(self._days) >= _CACHE_LIMIT:
            self._days.clear()
        result = (tuple(spans), total)
        self._days[day] = result
        return result

    def _spans(self, day: date) -> tuple[Span, ...]:
        return self._day(day)[0]

    def _day_total(self, day: date) -> timedelta:
        return self._day(day)[1]

    def _week_total(self, first: date) -> timedelta:
        cached = self._weeks.get(first)
        if cached is None:
            cached = sum((self._day_total(first + i * DAY) for i in range(7)), ZERO)
            if len(self._weeks) >= _CACHE_LIMIT:
                self._weeks.clear()
            self._weeks[first] = cached
        return cached

    def _instant(self, day: date, offset: timedelta) -> datetime:
        """The UTC instant at which the wall clock on ``day`` reads ``offset`` past midnight."""
        wall = datetime.combine(day, time(0)) + offset
        first = wall.replace(tzinfo=self.tz).astimezone(UTC)
        if first.astimezone(self.tz).replace(tzinfo=None) == wall:
            return first
        # A wall time in a spring-forward gap: the first instant whose wall clock reads at
        # least `wall` is the transition itself; find it to the second between the two
        # readings of `wall` (one per offset).
        other = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        lo, hi = min(first, other), max(first, other)
        while hi - lo > _ONE_SECOND:
            mid = lo + (hi - lo) // 2
            mid = mid.replace(microsecond=0)
            if mid <= lo:
                break
            if mid.astimezone(self.tz).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return hi
