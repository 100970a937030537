"""Query result paging: batches, query locators and ``nextRecordsUrl``.

A query answers at most one batch (2000 records unless the driver or a
``Sforce-Query-Options: batchSize=N`` header says otherwise). When more remain, the answer
has ``"done": false`` and ``nextRecordsUrl`` — a path relative to the instance,
``/services/data/v59.0/query/01gDn0000001AbCAAI-2000`` — which answers the next batch. The
rows are a snapshot taken when the query ran. A locator that was never issued, is fully
read, or has been idle for 15 minutes answers 400 ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulators.salesforce.errors import ApiError
from simulators.salesforce.ids import IdFactory
from simulators.salesforce.timefmt import SimClock

DEFAULT_BATCH = 2000
IDLE_SECONDS = 15 * 60


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]
    touched: float


class Cursors:
    """Open query locators of the org."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.page_size: int | None = None  # forced by the driver; else per request
        self._ids = IdFactory(start=1_000_000)
        self._open: dict[str, _Cursor] = {}

    def batch_size(self, header: str | None) -> int:
        """The batch size for a request (driver setting, else the header, else 2000)."""
        if self.page_size is not None:
            return self.page_size
        for option in (header or "").split(","):
            name, _, value = option.partition("=")
            if name.strip().lower() == "batchsize" and value.strip().isdigit():
                return max(200, min(DEFAULT_BATCH, int(value)))
        return DEFAULT_BATCH

    def first(self, total: int, rows: list[dict[str, Any]], *, batch: int, version: str,
              endpoint: str) -> dict[str, Any]:
        """The answer to a query: the first batch, keeping the rest behind a locator."""
        locator = None
        if len(rows) > batch:
            locator = self._ids.new("01g")
            self._open[locator] = _Cursor(rows, self.clock.now())
        return self._answer(total, rows, 0, batch, locator, version, endpoint)

    def more(self, token: str, *, batch: int, version: str, endpoint: str) -> dict[str, Any]:
        """The batch named by ``<locator>-<offset>``."""
        locator, _, offset_text = token.rpartition("-")
        cursor = self._open.get(locator)
        now = self.clock.now()
        if cursor is not None and now - cursor.touched > IDLE_SECONDS:
            del self._open[locator]
            cursor = None
        if cursor is None or not offset_text.isdigit() or int(offset_text) >= len(cursor.rows):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.touched = now
        return self._answer(len(cursor.rows), cursor.rows, int(offset_text), batch, locator,
                            version, endpoint)

    def _answer(self, total: int, rows: list[dict[str, Any]], start: int, batch: int,
                locator: str | None, version: str, endpoint: str) -> dict[str, Any]:
        end = start + batch
        done = end >= len(rows)
        answer: dict[str, Any] = {"totalSize": total, "done": done}
        if done:
            if locator is not None:
                self._open.pop(locator, None)
        else:
            answer["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        answer["records"] = rows[start:end]
        return answer
