"""Runs :class:`~connectors.salesforce.case_sync.CaseSync` as a consumer of ``ticket.events``
on a :class:`~streams.runtime.bus.Bus`.

Its position is a consumer group of its own, committed only after Salesforce accepted a batch.
What can go wrong, and what the runner does (one stage, ``salesforce``, in every dead letter):

- **Transient** (a login refused or a session that cannot be renewed, a timeout or a lost
  connection, 5xx, the daily limit, a locked row: :mod:`connectors.salesforce.api`; or the
  runner's own infrastructure, such as the comment ledger's database:
  :func:`streams.runtime.quarantine.is_infrastructure`): the batch is kept and retried after a
  backoff (``retry_after`` when Salesforce gives one). The backlog waits in the log, nothing is
  dead-lettered, a WARNING (``salesforce.sync.waiting``) and
  ``telecase_salesforce_sync_waits_total{reason}`` say why, and the sync resumes by itself when
  Salesforce answers again; the upserts and the write ledger make the retry harmless.
- **The org is not set up** (:func:`org_setup_refusal`): Salesforce refuses a whole request
  for a reason that is about the org or the integration user, not about one record. The
  codes (Salesforce's ``ExceptionCode``/``StatusCode`` values; an error that affects the
  entire request is an API fault with an ``ExceptionCode``, "Core Data Types Used in API
  Calls", https://developer.salesforce.com/docs/platform/api/guide/sforce-api-calls-concepts-core-data-objects.html;
  REST answers them as ``errorCode``, "Status Codes and Error Responses",
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm):
  ``INVALID_FIELD`` (a field that does not exist or the user cannot see: "No such column";
  field-level security hides a field exactly so), ``INVALID_TYPE`` (an object the org lacks
  or the user may not use), ``INVALID_FIELD_FOR_INSERT_UPDATE`` (a field the user may read but
  not write), ``INSUFFICIENT_ACCESS_OR_READONLY`` / ``INSUFFICIENT_ACCESS`` (the user lacks the
  permission for the operation), ``NOT_FOUND`` on an upsert by external id (the REST guide's
  "Insert or Update (Upsert) a Record Using an External ID": an incorrect external ID field
  answers ``NOT_FOUND``), ``API_DISABLED_FOR_ORG`` / ``API_CURRENTLY_DISABLED`` (API access not
  enabled for the org or the user). Dead-lettering would send every event of the backlog to
  the dead-letter topic one by one for a fault of the setup; instead the batch is held like a
  transient fault (reason ``org_setup``), with a WARNING (``salesforce.sync.org_setup``) naming
  the refused field or object and "run `telecase salesforce check`", and the sync resumes by
  itself once the admin fixed the org (``telecase salesforce setup``).
- **Salesforce refuses records** (validation rule, required field, duplicate rule, a value a
  restricted picklist lacks...): the records go to the dead-letter topic with Salesforce's
  error, reason ``salesforce_rejected``, one letter per event (an owner Salesforce refuses
  dead-letters that ``ticket.assigned``, an escalation's refused Case field or comment that
  ``sla.escalated``). Another whole-request refusal is narrowed down by syncing the batch's
  events one at a time.
- **A bug** (anything else raised while syncing): the poison event is quarantined the way
  every stage does it (:mod:`streams.runtime.quarantine`): the batch is synced again one event
  at a time, and the event that fails alone is dead-lettered with reason ``sync_failed``, its
  origin and the traceback; the sync goes on with the next.

A restarted sync rebuilds its hold of the tickets that wait for a customer (held in memory:
:mod:`connectors.salesforce.holds`) from the log before a batch that names them, so their
first customer message finds its Case made, with no operator step.

Batching: a batch lingers a little while it grows, by time as well as size
(:mod:`connectors.salesforce.linger`: at most ``linger`` seconds from its oldest record's
append, never when the rate says it would not grow), so that at a low rate many messages
share the batch's two API calls; a limit guard's ``widen`` stretches the bound and the size.

Retries of the sync's dead letters (``telecase deadletter retry``) come as requests on the
dead-letter topic, which the runner follows with a group of its own and answers by re-syncing
the ticket from the log (:mod:`connectors.salesforce.resync`).

Link-back: given a ``links`` raw log (``salesforce.changes``), once Salesforce accepted a batch
the runner appends a ``case_linked`` :class:`~streams.schema.salesforce.SalesforceChange` (Case
id, CaseNumber, Contact or Lead id: :attr:`SyncResult.linked`) for every ticket whose
``ticket.opened`` the batch synced, whether the Case was created now or already existed (a
retry, a replay). The links are appended *before* the position is committed, so a crash can
only append a link again (same ``change_id``; the worker dedupes by value), never lose one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from connectors.errors import PermanentError, TransientError
from connectors.raw_log import RawLog
from connectors.salesforce.api import waiting_policy
from connectors.salesforce.case_sync import IGNORED, CaseLink, CaseSync, SyncResult
from connectors.salesforce.linger import Linger, unwidened
from connectors.salesforce.resync import (
    RESYNC_GROUP,
    ResyncRequest,
    current_view,
    decoded,
    history,
    ticket_records,
)
from streams.runtime.bus import Bus, Outgoing, Record, next_positions
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume, consume_all
from streams.runtime.quarantine import dead_letter, describe, format_traceback, is_infrastructure
from streams.runtime.retry import retry_after_of
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent, TicketOpened, UnknownEventError, decode_event
from streams.schema.salesforce import SalesforceChange

GROUP = "salesforce-sync"
STAGE = "salesforce"
"""The ``consumer`` of the sync's dead letters."""
log = structlog.get_logger("telecase.bootstrap.salesforce.sync")
RETRIES = Counter("telecase_salesforce_sync_retries_total", "Batches retried after a "
                  "transient Salesforce failure")
WAITS = Counter("telecase_salesforce_sync_waits_total", "Transient Salesforce failures the "
                "sync waited out, by reason (auth, network, server, limit, lock, org_setup, "
                "infrastructure, other)", ["reason"])
LINKS = Counter("telecase_salesforce_cases_linked_total", "case_linked records appended")

ORG_SETUP_CODES = frozenset({
    "INVALID_FIELD", "INVALID_TYPE", "INVALID_FIELD_FOR_INSERT_UPDATE",
    "INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS", "NOT_FOUND",
    "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"})
"""Whole-request refusals about the org's setup or the user's access (module docstring)."""
_REFUSED = re.compile(r"rejected the request: ([A-Z_]+): (.*)", re.DOTALL)
FIX = "run `telecase salesforce check`"


def org_setup_refusal(exc: PermanentError) -> str | None:
    """What Salesforce refused (the field or object it names, else its message) when ``exc``
    refused a whole request for a reason of the org's setup; ``None`` otherwise."""
    match = _REFUSED.search(str(exc))
    if match is None or match.group(1) not in ORG_SETUP_CODES:
        return None
    code, message = match.group(1), match.group(2).strip()
    names = re.findall(r"'([A-Za-z_][\w.]*)'", message)
    tail = re.search(r":\s*([A-Za-z_][\w.]*)\s*$", message)
    subject = " on ".join(names) if names else tail.group(1) if tail else message[:120]
    return f"{code}: {subject}"


@dataclass(frozen=True)
class _Poison:
    record: Record
    error: Exception


class SyncRunner:
    def __init__(self, bus: Bus, names: TopicNames, sync: CaseSync, *, batch_max: int = 500,
                 max_backoff: float = 60.0, links: RawLog | None = None,
                 linger: float = 0.0, widen: Callable[[], float] = unwidened) -> None:
        """``links``: where ``case_linked`` records go (``salesforce.changes``); ``None``: no
        link-back. ``linger``: how long a batch may wait to grow, seconds (0: never;
        :mod:`connectors.salesforce.linger`); ``widen``: a limit guard's factor on that bound
        and on ``batch_max`` (1.0: none)."""
        self.bus, self.names, self.sync = bus, names, sync
        self.batch_max, self.max_backoff = batch_max, max_backoff
        self.links = links
        self.linger = Linger(linger, batch_max, widen=widen)
        self.synced = 0
        self._one_at_a_time = asyncio.Lock()
        """A re-sync and a batch never write at the same time (see ``resync``)."""
        self._seen: set[str] = set()
        """Tickets looked up for a hold to restore since the start (each once)."""
        self._batch: list[Record] = []
        """The first record of the batch being applied (where the log is read up to)."""

    async def run(self, stop: asyncio.Event) -> None:
        """The sync of ``ticket.events`` and, beside it, the re-sync requests."""
        tasks = [asyncio.create_task(self._follow_events(stop), name="salesforce-sync"),
                 asyncio.create_task(self._follow_requests(stop), name="salesforce-resync")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # one of them failed: the stage stops, saying why
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _follow_events(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(records: list[Record]) -> bool:
            await self.linger.grow_any(self.bus, topic, positions, records, stop)
            async with self._one_at_a_time:
                if not await self._apply(records, stop):
                    return False  # stopping while Salesforce was failing: the batch stays
            await self.bus.commit(GROUP, topic, next_positions(records))
            return True

        await consume_all(self.bus, topic, positions, handle, stop, group=GROUP,
                          batch_max=self.batch_max)

    async def _follow_requests(self, stop: asyncio.Event) -> None:
        topic = self.names.dead_letters
        positions = await self.bus.committed(RESYNC_GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            for rec in records:
                request = ResyncRequest.parse(rec.value)
                if request is not None and not await self.resync(request, stop):
                    return False
            await self.bus.commit(RESYNC_GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=RESYNC_GROUP,
                      batch_max=100)

    async def resync(self, request: ResyncRequest, stop: asyncio.Event) -> bool:
        """Re-sync ``request``'s ticket from the log (:mod:`connectors.salesforce.resync`);
        ``False``: stopped while Salesforce was failing."""
        async with self._one_at_a_time:
            records = current_view(await ticket_records(self.bus, request))
            log.info("salesforce.sync.resync", letter=request.letter, ticket=request.ticket_id,
                     events=len(records))
            for start in range(0, len(records), self.batch_max):
                if not await self._apply(records[start:start + self.batch_max], stop):
                    return False
        return True

    async def _apply(self, records: list[Record], stop: asyncio.Event) -> bool:
        self._batch = records
        events: list[TicketEvent] = []
        origin: dict[str, Record] = {}
        for rec in records:
            with contextlib.suppress(UnknownEventError, ValueError):
                event = decode_event(rec.value)  # undecodable: the projector dead-letters it
                events.append(event)
                origin[event.event_id] = rec
                origin.setdefault(event.ticket_id, rec)
        poisoned: list[_Poison] = []
        try:
            result = await self._sync(events, stop)
        except PermanentError as exc:
            # Salesforce refused the whole request: find the events it refuses by syncing
            # them one at a time, dead-letter those, and keep the rest.
            log.warning("salesforce.sync.refused_batch", count=len(events), error=str(exc))
            result = await self._one_by_one(events, origin, poisoned, stop)
        except Exception as exc:  # a bug: find the event it is about (the quarantine rule)
            first, last = records[0], records[-1]
            log.warning("stage.batch_failed", stage=STAGE, topic=first.topic,
                        partition=first.partition, offsets=f"{first.offset}-{last.offset}",
                        error=describe(exc), action="handling its records one by one")
            result = await self._one_by_one(events, origin, poisoned, stop)
        if result is None:
            return False
        if self.links is not None and result.linked:
            await self._link(self.links, result.linked)
        await self._dead_letter(result, origin, poisoned)
        self.synced += len(events)
        return True

    async def _one_by_one(self, events: list[TicketEvent], origin: dict[str, Record],
                          poisoned: list[_Poison], stop: asyncio.Event) -> SyncResult | None:
        result = SyncResult()
        for event in events:
            try:
                one = await self._sync([event], stop)
            except PermanentError as refused:
                result.rejected.append((event.event_id, str(refused)))
                continue
            except Exception as exc:
                rec = origin[event.event_id]
                log.bind(stage=STAGE, topic=rec.topic, partition=rec.partition,
                         offset=rec.offset).error("stage.quarantined", error=describe(exc),
                                                  traceback=format_traceback(exc))
                poisoned.append(_Poison(rec, exc))
                continue
            if one is None:
                return None
            result.rejected.extend(one.rejected)
            result.linked.update(one.linked)
        return result

    async def _dead_letter(self, result: SyncResult, origin: dict[str, Record],
                           poisoned: list[_Poison]) -> None:
        now = datetime.now(UTC)
        letters = []
        lettered: set[tuple[int, int]] = set()
        for key, error in result.rejected:
            rec = origin[key]
            if (rec.partition, rec.offset) in lettered:
                continue  # one event refused twice (two of its comments): one letter
            lettered.add((rec.partition, rec.offset))
            letters.append(DeadLetter(
                reason="salesforce_rejected", detail=error[:500], consumer=STAGE,
                topic=rec.topic, partition=rec.partition, offset=rec.offset, key=key,
                payload_b64=DeadLetter.encode_payload(rec.value), failed_at=now))
        rejected = len(letters)
        letters.extend(dead_letter(p.record, STAGE, "sync_failed", p.error, now)
                       for p in poisoned)
        if not letters:
            return
        await self.bus.append(self.names.dead_letters, [
            Outgoing((x.key or "").encode(), x.model_dump_json().encode(), partition=0)
            for x in letters])
        if rejected:
            DEAD_LETTERS.labels(STAGE, "salesforce_rejected").inc(rejected)
            log.warning("salesforce.sync.rejected", count=len(result.rejected))
        if poisoned:
            DEAD_LETTERS.labels(STAGE, "sync_failed").inc(len(poisoned))

    async def _sync(self, events: list[TicketEvent], stop: asyncio.Event) -> SyncResult | None:
        """Sync ``events``, waiting out transient failures and an org not set up with
        backoff (``None``: stopped meanwhile). A refusal (``PermanentError``) or a bug is
        raised."""
        policy = waiting_policy(self.max_backoff)
        attempt = 0
        while True:
            try:
                await self._restore_holds(events)
                await self._restore_reports(events)
                return await asyncio.to_thread(self.sync.apply, events)
            except TransientError as exc:
                reason, retry_after = getattr(exc, "reason", "other"), retry_after_of(exc)
                attempt += 1
                delay = policy.wait(attempt, retry_after)
                log.warning("salesforce.sync.waiting", reason=reason, delay=delay,
                            events=len(events), error=str(exc))
            except PermanentError as exc:
                refused = org_setup_refusal(exc)
                if refused is None:
                    raise
                reason = "org_setup"
                attempt += 1
                delay = policy.wait(attempt, None)
                log.warning("salesforce.sync.org_setup", refused=refused, fix=FIX,
                            delay=delay, events=len(events),
                            advice=f"Salesforce refused {refused}: the org is not set up "
                                   f"for telecase or the integration user lacks access; {FIX}")
            except Exception as exc:
                if not is_infrastructure(exc):
                    raise
                reason = "infrastructure"
                attempt += 1
                delay = policy.wait(attempt, None)
                log.warning("salesforce.sync.waiting", reason=reason, delay=delay,
                            events=len(events), error=describe(exc))
            RETRIES.inc()
            WAITS.labels(reason).inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return None

    async def _restore_holds(self, events: list[TicketEvent]) -> None:
        """Hold again the tickets of ``events`` that waited for a customer when the sync
        restarted (:mod:`connectors.salesforce.holds`): tickets written here, not opened in
        the batch, not held, not looked up before, with no Case in Salesforce, whose events
        before the batch (read from the log) still wait for a customer."""
        batch, hold, cases = self._batch, self.sync.hold, self.sync.cases
        opened = {e.ticket_id for e in events if isinstance(e, TicketOpened)}
        tickets = ({e.ticket_id for e in events if not isinstance(e, IGNORED)} - opened
                   - hold.held.keys() - cases.case_ids.keys() - self._seen)
        if not batch or not tickets:
            return
        await asyncio.to_thread(cases.details, tickets)
        caseless = tickets - cases.case_ids.keys()
        if caseless:
            restored = hold.restore(await self._before_batch(caseless))
            if restored:
                log.info("salesforce.sync.hold_restored", tickets=sorted(restored))
        self._seen |= tickets

    async def _restore_reports(self, events: list[TicketEvent]) -> None:
        """Rebuild from the log the reportable state of tickets reopened in ``events`` that
        the report fold no longer (or never) held (closed tickets are pruned:
        :class:`~connectors.salesforce.case_report.ReportFold`)."""
        report = self.sync.cases.report
        tickets = report.unknown(events) if report is not None else set()
        if report is None or not tickets:
            return
        earlier = await self._before_batch(tickets)
        report.rebuild(earlier)
        log.info("salesforce.sync.report_rebuilt", tickets=sorted(tickets),
                 events=len(earlier))

    async def _before_batch(self, tickets: set[str]) -> list[TicketEvent]:
        """The events of ``tickets`` in the log before the batch being applied. A ticket's
        records are all on one partition: only the partitions where the batch holds them (or
        records without a key) are read, each up to the batch's first record there."""
        first: dict[int, Record] = {}
        for rec in self._batch:
            first.setdefault(rec.partition, rec)
        keys = {t.encode() for t in tickets}
        earlier: list[Record] = []
        for p in sorted({rec.partition for rec in self._batch
                         if rec.key is None or rec.key in keys}):
            rec = first[p]
            earlier += await history(self.bus, rec.topic, p, tickets, rec.offset)
        return decoded(earlier)

    # -- link-back ---------------------------------------------------------------------------

    @staticmethod
    async def _link(links: RawLog, linked: dict[str, CaseLink]) -> None:
        now = datetime.now(UTC)
        await links.append([SalesforceChange(
            change="case_linked", change_id=f"linked:{link.case_id}", ticket_id=ticket,
            case_id=link.case_id, case_number=link.case_number, contact_id=link.contact_id,
            lead_id=link.lead_id, observed_at=now, occurred_at=now)  # no record: written, not read
            for ticket, link in sorted(linked.items())])
        LINKS.inc(len(linked))
        log.info("salesforce.sync.linked", count=len(linked))
