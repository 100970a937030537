"""The limit guard: how much of the org's daily API allocation is used, and what telecase may
still spend of it.

Salesforce meters REST and SOAP calls against one allocation per org over a rolling 24 hours,
shared by every integration and by the agents' own UI; once it is used up, calls can be
refused for every user of the org ("API Request Limits and Allocations",
https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html;
"System Overview: API Usage",
https://help.salesforce.com/s/articleView?id=xcloud.setup_system_overview_api.htm). Two
readings of the same number, and :class:`LimitGuard` takes both:

- **``Sforce-Limit-Info``**, a header on each REST answer (all but the Versions URI, which
  does not count): ``api-usage=N/M``, ``N`` calls used of the org's limit ``M``, sometimes
  followed by other fields (``; api-bursts=1/750``, ``; per-app-api-usage=...``) which are
  ignored ("Limit Info Header", REST API Developer Guide,
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm).
  ``N`` can exceed ``M`` (the documented example is ``110018/100000``). Every response
  telecase receives passes :meth:`LimitGuard.observe`
  (:func:`connectors.salesforce.http.watch_limit_info`), so the reading costs nothing.
- **The Limits resource**, ``GET /services/data/vXX.X/limits``: ``DailyApiRequests``
  ``{"Max": M, "Remaining": R}`` ("Limits", REST API Developer Guide,
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm;
  the integration user needs "View Setup and Configuration"). It is itself a counted call, so
  :func:`watch_limits` reads it only when no header has refreshed the reading for a while (an
  idle process: other clients keep spending), and once at start.

The level, from the share ``used / max``:

==================  ======================  ==============================================
level               share                   what telecase does
==================  ======================  ==============================================
``normal``          below ``conserve_at``   everything, at its usual pace
``conserve``        from ``conserve_at``    batches wait longer (:meth:`widen`) and the
                    (default 0.80)          change poller polls less often (:meth:`poll_factor`)
``essential_only``  from ``essential_at``   also no non-essential calls (:meth:`allows`):
                    (default 0.95)          reconciliation, Knowledge search, outreach
                                            look-ups, Opportunities (they wait), the
                                            CaseMilestone read (telecase's own deadlines
                                            stand meanwhile)
==================  ======================  ==============================================

Essential calls always continue: customers' messages and replies written onto the Case, and the
change poller reading agents' replies (less often). A level rises as soon as a reading crosses
its threshold and falls only once the share is ``hysteresis`` below it, so a reading hovering
on a threshold does not flap. Each change is logged once (``salesforce.api_limit.level``:
WARNING when rising, INFO when falling) and exported (``telecase_salesforce_api_guard_level``,
alert rules in ``deploy/prometheus/alerts.yml``).

Metrics (one org per process): ``telecase_salesforce_api_usage_used``, ``..._max``,
``..._ratio`` (the last reading) and ``telecase_salesforce_api_calls_held_total{kind}`` (rounds
or searches not made because the guard held them).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

import structlog
from prometheus_client import Counter, Gauge

from connectors.errors import TransientError

log = structlog.get_logger("telecase.salesforce.limits")

USED = Gauge("telecase_salesforce_api_usage_used", "API requests the Salesforce org used in the "
             "last 24 hours, all clients (Sforce-Limit-Info or /limits)")
MAX = Gauge("telecase_salesforce_api_usage_max", "The Salesforce org's daily API request "
            "allocation")
RATIO = Gauge("telecase_salesforce_api_usage_ratio", "Share of the Salesforce org's daily API "
              "allocation used")
LEVEL = Gauge("telecase_salesforce_api_guard_level", "The limit guard's level: 0 normal, "
              "1 conserve (wider batches, slower polls), 2 essential_only")
HELD = Counter("telecase_salesforce_api_calls_held_total", "Non-essential Salesforce work "
               "the limit guard held back", ["kind"])

CallKind = Literal["essential", "reconcile", "knowledge", "outreach", "opportunities",
                   "milestones"]
"""What a call is for; every kind but ``essential`` stops at ``essential_only``."""
NON_ESSENTIAL: frozenset[str] = frozenset({"reconcile", "knowledge", "outreach",
                                           "opportunities", "milestones"})
_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


class Level(IntEnum):
    NORMAL = 0
    CONSERVE = 1
    ESSENTIAL_ONLY = 2

    def __str__(self) -> str:
        return self.name.lower()


class LimitHeld(TransientError):
    """Non-essential work waits: the org's daily API allocation is nearly used up."""


@dataclass(frozen=True)
class Usage:
    """One reading: ``used`` of ``max`` calls, when (the guard's clock) and from where."""

    used: int
    max: int
    at: float
    source: Literal["header", "limits"]

    @property
    def ratio(self) -> float:
        return self.used / self.max


def parse_limit_info(value: str) -> tuple[int, int] | None:
    """``(used, max)`` from a ``Sforce-Limit-Info`` value, or ``None`` when it has no
    ``api-usage`` field (or a zero limit)."""
    found = _API_USAGE.search(value)
    if found is None or int(found.group(2)) <= 0:
        return None
    return int(found.group(1)), int(found.group(2))


def parse_limits(limits: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(used, max)`` from the Limits resource's answer (``DailyApiRequests``), or ``None``."""
    daily = limits.get("DailyApiRequests")
    if not isinstance(daily, Mapping):
        return None
    try:
        top, remaining = int(daily["Max"]), int(daily["Remaining"])
    except (KeyError, TypeError, ValueError):
        return None
    return (top - remaining, top) if top > 0 else None


class LimitGuard:
    """The org's API usage as last read, and the level it puts telecase at. Thread-safe:
    responses arrive on simple-salesforce's worker threads."""

    def __init__(self, *, conserve_at: float = 0.80, essential_at: float = 0.95,
                 slowdown: float = 4.0, hysteresis: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``slowdown``: how much longer batches linger and polls wait at ``conserve`` and
        above (:meth:`widen`, :meth:`poll_factor`)."""
        if not 0 < conserve_at <= essential_at:
            raise ValueError("need 0 < conserve_at <= essential_at")
        if slowdown < 1 or hysteresis < 0:
            raise ValueError("slowdown must be >= 1 and hysteresis >= 0")
        self.conserve_at, self.essential_at = conserve_at, essential_at
        self.slowdown, self.hysteresis, self.clock = slowdown, hysteresis, clock
        self._lock = threading.Lock()
        self._level = Level.NORMAL
        self._usage: Usage | None = None

    # -- readings --------------------------------------------------------------------------

    def observe(self, header: str | None) -> bool:
        """Take a ``Sforce-Limit-Info`` value in; ``False`` when it says nothing usable."""
        parsed = parse_limit_info(header) if header else None
        if parsed is not None:
            self.record(*parsed, source="header")
        return parsed is not None

    def observe_limits(self, limits: Mapping[str, Any]) -> bool:
        """Take the Limits resource's answer in; ``False`` without ``DailyApiRequests``."""
        parsed = parse_limits(limits)
        if parsed is not None:
            self.record(*parsed, source="limits")
        return parsed is not None

    def record(self, used: int, top: int, source: Literal["header", "limits"]) -> None:
        usage = Usage(max(0, used), top, self.clock(), source)
        with self._lock:
            before = self._level
            self._usage = usage
            self._level = self._next(before, usage.ratio)
            after = self._level
        USED.set(usage.used)
        MAX.set(usage.max)
        RATIO.set(usage.ratio)
        LEVEL.set(int(after))
        if after != before:
            (log.warning if after > before else log.info)(
                "salesforce.api_limit.level", guard_level=str(after), was=str(before),
                used=usage.used, max=usage.max, ratio=round(usage.ratio, 4), source=source)

    def _threshold(self, level: Level) -> float:
        return self.essential_at if level is Level.ESSENTIAL_ONLY else self.conserve_at

    def level_at(self, ratio: float) -> Level:
        """The level a share puts telecase at, before hysteresis."""
        if ratio >= self.essential_at:
            return Level.ESSENTIAL_ONLY
        return Level.CONSERVE if ratio >= self.conserve_at else Level.NORMAL

    def _next(self, current: Level, ratio: float) -> Level:
        rising = self.level_at(ratio)
        if rising >= current:
            return rising
        return min(current, self.level_at(ratio + self.hysteresis))

    # -- what it allows --------------------------------------------------------------------

    @property
    def usage(self) -> Usage | None:
        return self._usage

    def level(self) -> Level:
        return self._level

    def widen(self) -> float:
        """The factor by which batches may wait longer to grow (1.0 at ``normal``)."""
        return 1.0 if self._level is Level.NORMAL else self.slowdown

    def poll_factor(self) -> float:
        """The factor by which pollers wait longer between polls (1.0 at ``normal``)."""
        return 1.0 if self._level is Level.NORMAL else self.slowdown

    def allows(self, kind: CallKind) -> bool:
        """Whether a call of ``kind`` may be made now; a refusal is counted in
        ``telecase_salesforce_api_calls_held_total``."""
        if kind not in NON_ESSENTIAL or self._level is not Level.ESSENTIAL_ONLY:
            return True
        HELD.labels(kind).inc()
        return False

    def hold(self, kind: CallKind, retry_after: float = 60.0) -> None:
        """Raise :class:`LimitHeld` unless :meth:`allows` ``kind``."""
        if not self.allows(kind):
            raise LimitHeld(f"{kind} waits: the org used {self._share()} of its daily API "
                            "allocation", retry_after=retry_after)

    def _share(self) -> str:
        usage = self._usage
        return "?" if usage is None else f"{usage.used}/{usage.max}"

    def stale(self, max_age: float) -> bool:
        """No reading in the last ``max_age`` seconds (or none at all)."""
        usage = self._usage
        return usage is None or self.clock() - usage.at >= max_age


async def watch_limits(guard: LimitGuard, read_limits: Callable[[], Mapping[str, Any]],
                       interval: float, stop: asyncio.Event) -> None:
    """Read the Limits resource (``read_limits``, blocking: simple-salesforce's ``limits``)
    into ``guard`` at start and whenever no reading is younger than ``interval`` seconds,
    until ``stop``. A failed read (no permission, an outage) is logged and tried again after
    ``interval``; the headers keep the guard informed meanwhile."""
    while not stop.is_set():
        delay = interval
        if guard.stale(interval):
            try:
                if not guard.observe_limits(await asyncio.to_thread(read_limits)):
                    log.warning("salesforce.api_limit.no_daily_limit")
            except Exception as exc:  # any failure: the next round tries again
                log.warning("salesforce.api_limit.read_failed", error=type(exc).__name__,
                            detail=str(exc)[:200])
        elif (usage := guard.usage) is not None:  # a header is younger: wait until it ages
            delay = max(1.0, interval - (guard.clock() - usage.at))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
