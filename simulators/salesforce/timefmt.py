"""Salesforce's date and time formats, and the simulator's clock.

Salesforce writes datetimes as ``2026-01-05T09:30:00.000+0000`` (milliseconds, an offset
without a colon, always UTC in API answers) and dates as ``2026-01-05``. It accepts ISO 8601
on input (``Z``, ``+00:00``, ``+0000``, with or without fractions). SOQL datetime literals are
unquoted: ``2026-01-05T09:30:00Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_datetime(seconds: float) -> str:
    """``2026-01-05T09:30:00.123+0000`` for a unix time."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> float | None:
    """The unix time of an ISO 8601 / Salesforce datetime string, or ``None``."""
    match = _DATETIME.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = float(match.group(7)) if match.group(7) else 0.0
    zone = match.group(8) or "Z"
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    offset = 0
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return moment.timestamp() - offset + fraction


def normalize_datetime(text: str) -> str | None:
    """The Salesforce spelling of an ISO datetime (millisecond precision), or ``None``."""
    seconds = parse_datetime(text)
    return None if seconds is None else format_datetime(round(seconds, 3))


def normalize_date(text: str) -> str | None:
    """``YYYY-MM-DD`` if ``text`` is a valid date, else ``None``."""
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


class SimClock:
    """The org's notion of now: an injected clock plus an offset the driver can advance."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.offset = 0.0

    def now(self) -> float:
        return self._clock() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds
        return self.now()

    def stamp(self) -> str:
        """Now, spelled as a Salesforce datetime."""
        return format_datetime(self.now())
