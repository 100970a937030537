"""Inbound changes (issue 4): agents' CaseComments and Case Status/Owner changes, polled from
Salesforce into ``salesforce.changes`` as :class:`~streams.schema.salesforce.SalesforceChange`
records (``case_comment``, ``case_updated``), keyed like ``telegram.updates``.

Every ``interval`` seconds :class:`ChangePoller` runs three SOQL queries, each on a watermark of
its own (the greatest ``SystemModstamp`` it has read, by Salesforce's clock, never ours)::

    CaseComment WHERE SystemModstamp >= watermark - overlap AND Parent.Telecase_Ticket_Id__c != null
    Case        WHERE SystemModstamp >= watermark - overlap AND Telecase_Ticket_Id__c != null
    ContentVersion WHERE SystemModstamp >= watermark - overlap AND IsLatest = true
    (ORDER BY SystemModstamp, Id; every page through nextRecordsUrl)

- **Overlap and dedupe.** A record can become visible with a ``SystemModstamp`` a little older
  than one already read (a long transaction commits late), so each poll re-reads the last
  ``overlap`` seconds; what it already emitted there is recognised by ``change_id`` (an
  in-memory set holding only the overlap window) and not emitted again.
- **Echoes.** What telecase wrote itself is skipped: comments and Case updates made by the
  integration user (``integration_user_id``, or the ``User`` whose ``Username`` is
  ``integration_username``), and comments whose body ends with telecase's marker
  (``[tg:...]``, :mod:`connectors.salesforce.comments`: telecase's mirrored replies, should
  another user have written them). CaseComment takes no custom fields, so no field can say so.
  Unpublished comments (internal notes, ``IsPublished`` false) are skipped too: they
  must never reach a customer; except an agent's command (``/t <name>``, ``/kb <query>``,
  ``streams.core.agent_tools``), which agents should write as an internal comment and which
  never reaches a customer as it is. Limitation: a Case is judged by its *last* modifier, so an
  agent's Status/Owner change followed, within one poll, by a telecase write to the same Case is
  not seen (``CaseHistory`` or Change Data Capture would see it; a later issue).
- **Files** (issue 16): a third query reads new ContentVersions by ``SystemModstamp`` (not the
  integration user's: telecase's own attachments), then their ContentDocumentLinks (a link
  query must filter on ``ContentDocumentId`` or ``LinkedEntityId``) and which linked records
  are telecase Cases; each (version, Case) is a ``case_file`` change. An existing File shared
  onto an open Case later (a new link, no new version) is read by its link, on the same
  watermark (:mod:`connectors.salesforce.file_shares`).
- **Progress is durable before it counts.** The watermark moves past a page only after that
  page's records are appended (``RawLog.append`` returns when the log has them). On start it is
  recovered from the tail of ``salesforce.changes`` (:class:`LogWatermarks`): the newest
  ``SystemModstamp`` among the poller's own records, with the ``change_id`` s of the overlap
  window, so a restarted poller neither skips nor repeats. An empty tail: now minus
  ``lookback``. A crash between append and the next poll can only re-emit (same ``change_id``;
  the worker dedupes).
- **Pace.** ``interval`` seconds between polls, times ``pace()``: the limit guard's factor,
  above 1 while the org's daily API allocation runs low (``connectors.salesforce.limit_guard``).
  Reading agents' replies is essential: the poller slows down, it never stops for the guard.
- **Errors.** :class:`~connectors.errors.TransientError` (an outage, the daily limit, a locked
  row, an unreachable host, a login that failed, :mod:`connectors.salesforce.api`) keeps the
  watermark and
  retries after a backoff (``retry_after`` when given, at most ``max_backoff``): the poller stays
  up and catches up. An expired session is renewed (simple-salesforce logs in again by itself
  when it holds credentials, else ``login`` is called) and the call retried.
  :class:`~connectors.errors.PermanentError` (a query Salesforce refuses: a missing custom
  field, no access) ends :meth:`ChangePoller.run`: retrying cannot fix it. Credentials wrong
  at start stop the process in its bootstrap; a login failing later is waited out (at most one
  attempt per ``max_backoff`` once backed off).

Comment bodies are never logged (they are in the records, which is where they belong).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import Counter
from pydantic import ValidationError

from connectors.errors import PermanentError, TransientError
from connectors.raw_log import RawLog
from connectors.salesforce.api import SimpleSalesforceApi, waiting_policy
from connectors.salesforce.comments import has_marker
from connectors.salesforce.file_shares import shared_on_cases
from streams.core.agent_tools import is_command
from streams.runtime.bus import Bus, BusError
from streams.runtime.retry import retry_after_of
from streams.schema.salesforce import SalesforceChange, chat_id_of_ticket

log = structlog.get_logger("telecase.bootstrap.salesforce.changes")
POLLS = Counter("telecase_salesforce_change_polls_total", "Change queries run", ["query"])
EMITTED = Counter("telecase_salesforce_changes_total", "Salesforce changes appended to the log",
                  ["change"])
SKIPPED = Counter("telecase_salesforce_changes_skipped_total", "Salesforce records read and "
                  "not emitted", ["reason"])
# reasons: echo | duplicate | private | invalid_ticket | not_a_case
ERRORS = Counter("telecase_salesforce_change_poll_errors_total", "Failed polls", ["kind"])

Query = Literal["case_comment", "case_updated", "case_file"]
QUERIES: tuple[Query, ...] = ("case_comment", "case_updated", "case_file")

COMMENT_SOQL = (
    "SELECT Id, ParentId, CommentBody, IsPublished, CreatedById, CreatedBy.Name, CreatedDate, "
    "SystemModstamp, Parent.CaseNumber, Parent.Telecase_Ticket_Id__c "
    "FROM CaseComment WHERE SystemModstamp >= {since} AND Parent.Telecase_Ticket_Id__c != null "
    "ORDER BY SystemModstamp ASC, Id ASC")
CASE_SOQL = (
    "SELECT Id, CaseNumber, Status, IsClosed, OwnerId, Owner.Name, ContactId, LastModifiedById, "
    "LastModifiedBy.Name, SystemModstamp, Telecase_Ticket_Id__c FROM Case "
    "WHERE SystemModstamp >= {since} AND Telecase_Ticket_Id__c != null "
    "ORDER BY SystemModstamp ASC, Id ASC")
FILE_SOQL = (
    "SELECT Id, ContentDocumentId, Title, FileExtension, FileType, ContentSize, CreatedById, "
    "CreatedBy.Name, CreatedDate, SystemModstamp FROM ContentVersion "
    "WHERE SystemModstamp >= {since} AND IsLatest = true ORDER BY SystemModstamp ASC, Id ASC")
LINK_SOQL = ("SELECT ContentDocumentId, LinkedEntityId, SystemModstamp "
             "FROM ContentDocumentLink WHERE ContentDocumentId IN ({ids})")
FILE_CASE_SOQL = ("SELECT Id, CaseNumber, Telecase_Ticket_Id__c FROM Case "
                  "WHERE Id IN ({ids}) AND Telecase_Ticket_Id__c != null")
READ_ATTEMPTS = 5


# -- talking to Salesforce ---------------------------------------------------------------------

class ChangeQueries(Protocol):
    """The calls the poller makes: one query page, and the page a ``nextRecordsUrl`` names.
    Each answer is Salesforce's ``{totalSize, done, records[, nextRecordsUrl]}``."""

    def query_page(self, soql: str) -> dict[str, Any]: ...

    def query_next(self, next_records_url: str) -> dict[str, Any]: ...


class SalesforceChangeApi(SimpleSalesforceApi):
    """:class:`ChangeQueries` over simple-salesforce, with the error mapping and session
    renewal of :class:`~connectors.salesforce.api.SimpleSalesforceApi` (a login that fails
    is transient there: the poller outlives a login outage)."""

    def query_page(self, soql: str) -> dict[str, Any]:
        return dict(self._call("query", soql))

    def query_next(self, next_records_url: str) -> dict[str, Any]:
        return dict(self._call("query_more", next_records_url, identifier_is_url=True))


# -- where the poller stands -------------------------------------------------------------------

@dataclass
class PollerPosition:
    """Per query, the greatest ``SystemModstamp`` read; and the ``change_id`` s emitted within
    the overlap window (with their ``SystemModstamp``), so re-reading it repeats nothing."""

    watermarks: dict[Query, datetime] = field(default_factory=dict)
    seen: dict[str, datetime] = field(default_factory=dict)

    def advance(self, query: Query, stamp: datetime) -> None:
        current = self.watermarks.get(query)
        if current is None or stamp > current:
            self.watermarks[query] = stamp

    def forget_before(self, horizon: datetime) -> None:
        self.seen = {k: v for k, v in self.seen.items() if v >= horizon}


class WatermarkStore(Protocol):
    async def load(self) -> PollerPosition: ...


class LogWatermarks:
    """Recovers a :class:`PollerPosition` from the tail of ``salesforce.changes`` on any
    :class:`~streams.runtime.bus.Bus` (the embedded log or
    :class:`~streams.runtime.kafka.bus.KafkaBus`).

    Each partition is read backwards in chunks until one of the poller's records is older than
    the partition's newest by more than ``overlap`` (the poller appends in ``SystemModstamp``
    order, so older ones cannot matter), or ``scan_max`` records were read. ``case_linked``
    records (written by the outbound sync) are passed over."""

    def __init__(self, bus: Bus, topic: str, *, overlap: float = 60.0, scan_max: int = 5000,
                 chunk: int = 500) -> None:
        self.bus, self.topic = bus, topic
        self.overlap = timedelta(seconds=overlap)
        self.scan_max, self.chunk = scan_max, chunk

    async def load(self) -> PollerPosition:
        found: list[tuple[Query, str, datetime]] = []
        for partition in range(await self.bus.partitions(self.topic)):
            found.extend(await self._scan(partition))
        position = PollerPosition()
        for query, _, stamp in found:
            position.advance(query, stamp)
        for query, change_id, stamp in found:
            if stamp >= position.watermarks[query] - self.overlap:
                position.seen[change_id] = stamp
        return position

    async def _scan(self, partition: int) -> list[tuple[Query, str, datetime]]:
        found: list[tuple[Query, str, datetime]] = []
        newest: dict[Query, datetime] = {}
        oldest: dict[Query, datetime] = {}
        end = await self.bus.end_offset(self.topic, partition)
        low = max(0, end - self.scan_max)
        while end > low:
            start = max(low, end - self.chunk)
            for change in await self._read(partition, start, end):
                stamp = _stamp(change.record)
                if change.change == "case_linked" or stamp is None:
                    continue
                query: Query = change.change
                found.append((query, change.change_id, stamp))
                newest[query] = max(stamp, newest.get(query, stamp))
                oldest[query] = min(stamp, oldest.get(query, stamp))
            if all(q in newest and oldest[q] < newest[q] - self.overlap for q in QUERIES):
                break  # every query's overlap window of this partition is read
            end = start
        return found

    async def _read(self, partition: int, start: int, end: int) -> list[SalesforceChange]:
        out: list[SalesforceChange] = []
        offset, empty = start, 0
        while offset < end:
            records = await self.bus.read(self.topic, partition, offset, end - offset, wait=1.0)
            if not records:  # Kafka can answer nothing for a while (a leader moving)
                empty += 1
                if empty >= READ_ATTEMPTS:
                    raise BusError(f"{self.topic}[{partition}] gave no records at {offset} "
                                   f"(end {end})")
                continue
            for record in records:
                if record.offset < end:
                    with contextlib.suppress(ValidationError, ValueError):
                        out.append(SalesforceChange.model_validate_json(record.value))
            offset = records[-1].offset + 1
        return out


# -- the poller --------------------------------------------------------------------------------

class ChangePoller:
    """Polls Salesforce for agents' changes and appends them to ``raw_log``
    (``salesforce.changes``). Run it with ``await poller.run(stop_event)``; one
    :meth:`poll_once` is one round of both queries (tests call it directly)."""

    def __init__(self, api: ChangeQueries, raw_log: RawLog, *,
                 integration_user_id: str | None = None,
                 integration_username: str | None = None,
                 watermarks: WatermarkStore | None = None, interval: float = 30.0,
                 overlap: float = 60.0, lookback: float = 86400.0, max_backoff: float = 300.0,
                 clock: Callable[[], float] = time.time,
                 pace: Callable[[], float] = lambda: 1.0) -> None:
        """``pace``: the factor on ``interval`` before each next poll (the limit guard's
        :meth:`~connectors.salesforce.limit_guard.LimitGuard.poll_factor`: polls slow down
        while the org's daily API allocation runs low)."""
        if integration_user_id is None and integration_username is None:
            raise ValueError("give integration_user_id or integration_username: the poller "
                             "must recognise telecase's own writes")
        self.api, self.raw_log, self.watermarks = api, raw_log, watermarks
        self.integration_user_id = id15(integration_user_id)
        self.integration_username = integration_username
        self.interval, self.max_backoff = interval, max_backoff
        self.overlap, self.lookback = timedelta(seconds=overlap), timedelta(seconds=lookback)
        self.clock, self.pace = clock, pace
        self.position: PollerPosition | None = None
        self.emitted = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; transient failures back off and retry, a permanent one
        raises."""
        await run_polls(self.poll_once, stop, interval=self.interval, pace=self.pace,
                        max_backoff=self.max_backoff, name="salesforce.changes", errors=ERRORS)

    async def poll_once(self) -> int:
        """Both queries, every page; returns how many changes were appended."""
        if self.position is None:
            self.position = (await self.watermarks.load() if self.watermarks is not None
                             else PollerPosition())
            log.info("salesforce.changes.resumed", watermarks={
                k: v.isoformat() for k, v in self.position.watermarks.items()})
        if self.integration_user_id is None:
            self.integration_user_id = await self._integration_user()
        appended = 0
        for query in QUERIES:
            appended += await self._poll(query, self.position)
        return appended

    async def _integration_user(self) -> str:
        assert self.integration_username is not None
        name = self.integration_username.replace("\\", "\\\\").replace("'", "\\'")
        page = await asyncio.to_thread(self.api.query_page,
                                       f"SELECT Id FROM User WHERE Username = '{name}'")
        if not page.get("records"):
            raise PermanentError(f"no Salesforce user {self.integration_username!r}")
        user_id = id15(str(page["records"][0]["Id"]))
        assert user_id is not None
        return user_id

    def _since(self, query: Query, position: PollerPosition) -> datetime:
        mark = position.watermarks.get(query)
        if mark is None:
            return datetime.fromtimestamp(self.clock(), UTC) - self.lookback
        return mark - self.overlap

    async def _poll(self, query: Query, position: PollerPosition) -> int:
        POLLS.labels(query).inc()
        since = self._since(query, position)
        soql = {"case_comment": COMMENT_SOQL, "case_updated": CASE_SOQL,
                "case_file": FILE_SOQL}[query].format(since=_soql_datetime(since))
        page = await asyncio.to_thread(self.api.query_page, soql)
        appended = 0
        while True:
            rows = page.get("records") or []
            if query == "case_file":
                rows = await self._files_on_cases(rows)
            appended += await self._page(query, position, rows)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                break
            page = await asyncio.to_thread(self.api.query_next, next_url)
        if query == "case_file":  # Files shared from existing documents: new links only
            appended += await self._page(query, position, await shared_on_cases(
                self._query_all, _soql_datetime(since)))
        position.forget_before(min(position.watermarks.get(q, since) for q in QUERIES)
                               - self.overlap)
        return appended

    async def _page(self, query: Query, position: PollerPosition,
                    rows: list[dict[str, Any]]) -> int:
        observed = datetime.fromtimestamp(self.clock(), UTC)
        changes: list[SalesforceChange] = []
        stamps: list[datetime] = []
        for row in rows:
            stamp = _stamp(row)
            if stamp is None:
                continue
            stamps.append(stamp)
            reason = self._skip(query, row)
            if reason is not None:
                SKIPPED.labels(reason).inc()
                continue
            change = (_comment(row, observed, stamp) if query == "case_comment"
                      else _file(row, observed, stamp) if query == "case_file"
                      else _case(row, observed, stamp))
            if change is None or change.change_id in position.seen:
                SKIPPED.labels("invalid_ticket" if change is None else "duplicate").inc()
                continue
            changes.append(change)
            position.seen[change.change_id] = stamp
        if changes:
            try:
                await self.raw_log.append(changes)
            except BaseException:
                for change in changes:  # not durable: they must be emitted next time
                    position.seen.pop(change.change_id, None)
                raise
            for change in changes:
                EMITTED.labels(change.change).inc()
            self.emitted += len(changes)
            log.info("salesforce.changes.appended", query=query, count=len(changes))
        if stamps:
            position.advance(query, max(stamps))
        return len(changes)

    async def _files_on_cases(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """ContentVersions on telecase's Cases, one row per (version, Case) with the Case
        under ``Case``; a version on no telecase Case keeps its row with ``Case`` ``None``
        (it still moves the watermark). A ContentDocumentLink query must filter on
        ``ContentDocumentId`` or ``LinkedEntityId`` (Object Reference, ContentDocumentLink),
        hence the documents' ids; the links' ``LinkedEntityId`` is polymorphic, hence the
        Case query."""
        agents = [r for r in rows if id15(r.get("CreatedById")) != self.integration_user_id]
        if not agents:
            return rows
        links = await self._query_all(LINK_SOQL.format(ids=_id_list(
            {str(r["ContentDocumentId"]) for r in agents if r.get("ContentDocumentId")})))
        linked: dict[str, list[tuple[str, Any]]] = {}  # document -> (record, shared at)
        for link in links:
            linked.setdefault(str(link["ContentDocumentId"]), []).append(
                (str(link["LinkedEntityId"]), link.get("SystemModstamp")))
        entity_ids = {e for ids in linked.values() for e, _ in ids if e.startswith("500")}
        cases = {id15(str(c["Id"])): c for c in await self._query_all(
            FILE_CASE_SOQL.format(ids=_id_list(entity_ids)))} if entity_ids else {}
        out: list[dict[str, Any]] = []
        for row in rows:
            shares = linked.get(str(row.get("ContentDocumentId")), []) if row in agents else []
            on = [(cases[id15(e)], at) for e, at in shares if id15(e) in cases]
            out.extend([{**row, "Case": case, "SharedAt": at} for case, at in on]
                       or [{**row, "Case": None}])
        return out

    async def _query_all(self, soql: str) -> list[dict[str, Any]]:
        page = await asyncio.to_thread(self.api.query_page, soql)
        rows = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await asyncio.to_thread(self.api.query_next, page["nextRecordsUrl"])
            rows += page.get("records") or []
        return rows

    def _skip(self, query: Query, row: dict[str, Any]) -> str | None:
        if query == "case_file":
            if id15(row.get("CreatedById")) == self.integration_user_id:
                return "echo"
            return "not_a_case" if row.get("Case") is None else None
        if query == "case_comment":
            if id15(row.get("CreatedById")) == self.integration_user_id \
                    or has_marker(row.get("CommentBody")):
                return "echo"
            if row.get("IsPublished") is False and not is_command(row.get("CommentBody")):
                return "private"  # an internal comment holding a command is read (issue 7)
        elif id15(row.get("LastModifiedById")) == self.integration_user_id:
            return "echo"
        return None


async def run_polls(poll_once: Callable[[], Awaitable[object]], stop: asyncio.Event, *,
                    interval: float, pace: Callable[[], float], max_backoff: float, name: str,
                    errors: Counter) -> None:
    """Call ``poll_once`` every ``interval`` x ``pace()`` seconds until ``stop``: a
    :class:`~connectors.errors.TransientError` (or an unexpected fault: the log, a bug) backs
    off and retries, a :class:`~connectors.errors.PermanentError` raises. Logged as
    ``<name>.retry``/``.error``/``.failed``, counted in ``errors`` by kind."""
    policy = waiting_policy(max_backoff)
    attempt = 0
    while not stop.is_set():
        try:
            await poll_once()
            delay, attempt = interval * pace(), 0
        except TransientError as exc:
            errors.labels("transient").inc()
            attempt += 1
            delay = policy.wait(attempt, retry_after_of(exc))
            log.warning(f"{name}.retry", delay=delay, error=str(exc))
        except PermanentError as exc:
            errors.labels("permanent").inc()
            log.error(f"{name}.failed", error=str(exc))
            raise
        except Exception as exc:  # the log or a bug: keep the connector up, say so loudly
            errors.labels("unexpected").inc()
            attempt += 1
            delay = policy.wait(attempt)
            log.exception(f"{name}.error", delay=delay, error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


# -- records -----------------------------------------------------------------------------------

def _comment(row: dict[str, Any], observed: datetime,
             stamp: datetime) -> SalesforceChange | None:
    parent = row.get("Parent") or {}
    ticket = parent.get("Telecase_Ticket_Id__c")
    if not _is_ticket(ticket):
        return None
    return SalesforceChange(
        change="case_comment", change_id=f"comment:{row['Id']}", ticket_id=ticket,
        case_id=row["ParentId"], observed_at=observed,
        occurred_at=parse_datetime(row.get("CreatedDate")) or stamp,
        case_number=parent.get("CaseNumber"), comment_id=row["Id"],
        comment_body=row.get("CommentBody"), actor_id=row.get("CreatedById"),
        actor_name=(row.get("CreatedBy") or {}).get("Name"), record=row)


def _case(row: dict[str, Any], observed: datetime, stamp: datetime) -> SalesforceChange | None:
    ticket = row.get("Telecase_Ticket_Id__c")
    if not _is_ticket(ticket):
        return None
    return SalesforceChange(
        change="case_updated", change_id=f"case:{row['Id']}:{row['SystemModstamp']}",
        ticket_id=ticket, case_id=row["Id"], observed_at=observed, occurred_at=stamp,
        case_number=row.get("CaseNumber"), contact_id=row.get("ContactId"),
        status=row.get("Status"), is_closed=row.get("IsClosed"), owner_id=row.get("OwnerId"),
        owner_name=(row.get("Owner") or {}).get("Name"), actor_id=row.get("LastModifiedById"),
        actor_name=(row.get("LastModifiedBy") or {}).get("Name"), record=row)


def _file(row: dict[str, Any], observed: datetime, stamp: datetime) -> SalesforceChange | None:
    """A ``case_file`` change: ``row`` is a ContentVersion with its telecase Case under
    ``Case`` (:meth:`ChangePoller._files_on_cases`)."""
    case = row.get("Case") or {}
    if not _is_ticket(case.get("Telecase_Ticket_Id__c")):
        return None
    file = {"file_version_id": row["Id"], "file_title": row.get("Title"),
            "file_extension": row.get("FileExtension"), "file_type": row.get("FileType"),
            "file_size": row.get("ContentSize")}
    return SalesforceChange(
        change="case_file", change_id=f"file:{row['Id']}:{case['Id']}",
        ticket_id=case["Telecase_Ticket_Id__c"], case_id=case["Id"],
        case_number=case.get("CaseNumber"), observed_at=observed,
        occurred_at=parse_datetime(row.get("SharedAt") or row.get("CreatedDate")) or stamp,
        actor_id=row.get("CreatedById"), actor_name=(row.get("CreatedBy") or {}).get("Name"),
        record={k: v for k, v in row.items() if k != "Case"}, **file)


def _id_list(ids: set[str]) -> str:
    """A SOQL ``IN`` list of record ids (ids are alphanumeric: nothing to escape)."""
    return ", ".join(f"'{i}'" for i in sorted(ids) if i.isalnum())


def _is_ticket(value: Any) -> bool:
    try:
        chat_id_of_ticket(str(value))
    except ValueError:
        log.warning("salesforce.changes.not_a_ticket", ticket_id=str(value)[:80])
        return False
    return True


def id15(record_id: str | None) -> str | None:
    """Ids compare in their case-sensitive 15-character form (the API answers 18)."""
    return None if not record_id else record_id[:15]


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce datetime (``2026-01-05T09:30:00.000+0000``), or ``None``."""
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC) if value else None
    except ValueError:
        return None


def _stamp(row: dict[str, Any]) -> datetime | None:
    return parse_datetime(row.get("SystemModstamp"))


def _soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal, rounded down to the second (whole seconds are what SOQL
    documents; rounding down only re-reads a little more)."""
    whole = datetime.fromtimestamp(math.floor(moment.timestamp()), UTC)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")
