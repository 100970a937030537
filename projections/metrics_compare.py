"""Baselines (issue 17 item 5): a pilot's service figures against the time before it, from the
``cases`` projection (``telecase metrics compare``).

A ticket belongs to the period its opening falls in (``[start, end)``, UTC). For each period:

- ``tickets``: tickets opened;
- ``responded`` and ``first_response_avg``/``_median`` (seconds): tickets with an agent reply,
  wall-clock seconds from the opening to the first one (the ``cases`` row's
  ``first_response_at``; outreach is not a response);
- ``resolved`` and ``resolution_avg``/``_median`` (seconds): tickets closed (now), seconds
  from the opening to the closing;
- ``escalated``: tickets that reached escalation level 1 or more;
- ``breached``: tickets with a breached first-response or resolution clock.

``--pilot CHAT`` keeps the tickets of that Telegram chat only. The dashboard shows the same
comparison (``GET /dashboard/api/compare``), over the tickets its viewer may see (``where``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from statistics import mean, median
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from projections.tables import cases


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Figures:
    tickets: int
    responded: int
    first_response_avg: float | None
    first_response_median: float | None
    resolved: int
    resolution_avg: float | None
    resolution_median: float | None
    escalated: int
    breached: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(rows: Iterable[Mapping[str, Any]], period: Period,
            pilot: int | None = None) -> Figures:
    """The period's figures from ``cases`` rows."""
    chosen = [r for r in rows if period.holds(r["opened_at"])
              and (pilot is None or r["chat_id"] == pilot)]
    frt = [(r["first_response_at"] - r["opened_at"]).total_seconds() for r in chosen
           if r["first_response_at"] is not None]
    res = [(r["closed_at"] - r["opened_at"]).total_seconds() for r in chosen
           if r["closed_at"] is not None]
    return Figures(
        tickets=len(chosen), responded=len(frt),
        first_response_avg=mean(frt) if frt else None,
        first_response_median=median(frt) if frt else None,
        resolved=len(res), resolution_avg=mean(res) if res else None,
        resolution_median=median(res) if res else None,
        escalated=sum(1 for r in chosen if r["escalation_level"] > 0),
        breached=sum(1 for r in chosen if r["first_response_breached_at"] is not None
                     or r["resolution_breached_at"] is not None))


def periods(before: date, after: date, until: date | None = None) -> tuple[Period, Period]:
    """The baseline ``[before, after)`` and the compared period from ``after`` to ``until``
    (excluded; default: as many days as the baseline), as UTC days. ``ValueError`` when
    ``before`` is not earlier than ``after``, or ``until`` not later."""
    start, rollout = (datetime.combine(d, time(), UTC) for d in (before, after))
    end = datetime.combine(until, time(), UTC) if until else rollout + (rollout - start)
    if start >= rollout:
        raise ValueError("before must be earlier than after")
    if end <= rollout:
        raise ValueError("until must be later than after")
    return Period(start, rollout), Period(rollout, end)


def comparison_json(before: Period, after: Period, old: Figures, new: Figures,
            pilot: int | None) -> dict[str, Any]:
    """Both periods with their bounds and figures (``metrics compare --json``, the
    dashboard's ``/api/compare``)."""
    return {"before": {"start": before.start.isoformat(), "end": before.end.isoformat(),
                       **old.as_dict()},
            "after": {"start": after.start.isoformat(), "end": after.end.isoformat(),
                      **new.as_dict()}, "pilot": pilot}


def compare(conn: Connection, before: Period, after: Period, pilot: int | None = None,
            where: ColumnElement[bool] | None = None) -> tuple[Figures, Figures]:
    """Both periods' figures, read from the ``cases`` table (only the rows ``where`` keeps,
    when given)."""
    columns = [cases.c.opened_at, cases.c.chat_id, cases.c.first_response_at,
               cases.c.closed_at, cases.c.escalation_level,
               cases.c.first_response_breached_at, cases.c.resolution_breached_at]
    query = select(*columns).where(cases.c.opened_at >= min(before.start, after.start),
                                   cases.c.opened_at < max(before.end, after.end))
    if pilot is not None:
        query = query.where(cases.c.chat_id == pilot)
    if where is not None:
        query = query.where(where)
    rows = [_utc(dict(r)) for r in conn.execute(query).mappings()]
    return figures(rows, before, pilot), figures(rows, after, pilot)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite gives naive datetimes back: they are UTC."""
    return {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
            for k, v in row.items()}
