"""Get Updated / Get Deleted: ``GET sobjects/T/updated?start=&end=`` and ``.../deleted``.

These are what simple-salesforce's ``SFType.updated(start, end)`` and ``.deleted(...)`` call.
As in Salesforce, ``start`` and ``end`` are rounded down to the minute, the window ends at
``latestDateCovered`` (``end``, or now when ``end`` is later — so a change shows up once its
minute has passed), ``start`` may not be more than 30 days ago and must precede ``end`` by
at least a minute (else 400 ``INVALID_REPLICATION_DATE``). A change is judged by
``SystemModstamp``; ``updated`` lists live records, ``deleted`` the recycle bin with each
record's ``deletedDate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulators.salesforce.errors import ApiError
from simulators.salesforce.routing import ApiRequest, ApiResponse, resource
from simulators.salesforce.store import Record
from simulators.salesforce.timefmt import format_datetime, parse_datetime

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

MAX_AGE_SECONDS = 30 * 24 * 3600


@resource("GET", "sobjects/{sobject}/updated")
def updated(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    start, latest = _window(org, req)
    records = _changed(org, p["sobject"], start, latest, deleted=False)
    return ApiResponse(200, {"ids": [r.id for r in records],
                             "latestDateCovered": format_datetime(latest)})


@resource("GET", "sobjects/{sobject}/deleted")
def deleted(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    start, latest = _window(org, req)
    records = _changed(org, p["sobject"], start, latest, deleted=True)
    earliest = _minute(org.clock.now() - MAX_AGE_SECONDS)
    return ApiResponse(200, {
        "deletedRecords": [{"id": r.id, "deletedDate": r.fields["SystemModstamp"]}
                           for r in records],
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(latest)})


def _window(org: Org, req: ApiRequest) -> tuple[float, float]:
    bounds = []
    for name in ("start", "end"):
        text = req.query.get(name)
        if not text:
            raise ApiError(400, "MISSING_ARGUMENT", f"{name} not specified")
        moment = parse_datetime(text)
        if moment is None:
            raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid dateTime")
        bounds.append(_minute(moment))
    start, end = bounds
    now = org.clock.now()
    if start < now - MAX_AGE_SECONDS:
        raise ApiError(400, "INVALID_REPLICATION_DATE",
                       "startDate cannot be more than 30 days ago")
    if end - start < 60:
        raise ApiError(400, "INVALID_REPLICATION_DATE",
                       "startDate must chronologically precede endDate by more than one minute")
    return start, min(end, _minute(now))


def _changed(org: Org, sobject: str, start: float, latest: float, *,
             deleted: bool) -> list[Record]:
    changed = []
    for record in org.store.all(sobject, include_deleted=True):
        stamp = parse_datetime(record.fields["SystemModstamp"]) or 0.0
        if record.deleted == deleted and start <= stamp < latest:
            changed.append(record)
    return changed


def _minute(moment: float) -> float:
    return moment - moment % 60
