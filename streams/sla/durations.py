"""Durations and fractions as a policy file writes them, and as reasons print them.

A duration is one or more ``<number><unit>`` parts, units ``w`` (7d), ``d`` (24h), ``h``, ``m``
and ``s``: ``"15m"``, ``"4h"``, ``"1h30m"``, ``"2d"``. In an SLA policy every duration is an
amount of *business* time on the team's calendar, so ``"2d"`` is 48 business hours (six days of
a 9-to-5 team), not two working days; write ``"16h"`` for "two working days of eight hours".
A fraction is a number (``0.8``) or a percentage string (``"80%"``).
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes. Raises ``ValueError`` with the expected form."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration like '15m', '4h', '1h30m' or '2d' "
                         "(units w, d, h, m, s)")
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(compact))
    return timedelta(seconds=round(seconds, 6))


def parse_fraction(value: float | int | str) -> float:
    """``"80%"`` or ``0.8`` -> 0.8."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"{value!r} is not a percentage like '80%' (or write 0.8)")
        try:
            return float(text[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage like '80%'") from None
    return float(value)


def format_duration(span: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``"1h30m"``; whole seconds, ``"0s"`` for zero."""
    sign = "-" if span < timedelta(0) else ""
    seconds = round(abs(span).total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts) or "0s")


def format_fraction(fraction: float) -> str:
    """0.8 -> ``"80%"``."""
    return f"{fraction * 100:g}%"
