"""Runs :class:`~connectors.salesforce.case_sync.CaseSync` as a consumer of ``ticket.events``
on a :class:`~streams.runtime.bus.Bus`.

Its position is a consumer group of its own, committed only after Salesforce accepted a batch.
A transient failure (a login refused or a session that cannot be renewed, a timeout or a lost
connection, 5xx, the daily limit, a locked row: :mod:`connectors.salesforce.api`) keeps the
batch and retries it after a backoff (``retry_after`` when Salesforce gives one): the backlog
waits in the log, nothing is dead-lettered, a WARNING (``salesforce.sync.waiting``) and
``telecase_salesforce_sync_waits_total{reason}`` say why, and the sync resumes by itself when
Salesforce answers again; the upserts and the write ledger make the retry harmless.
A ``PermanentError`` for a whole request (Salesforce refused the call itself) is narrowed down
by syncing the batch's events one at a time. Records Salesforce rejects go to the dead-letter topic
with its error, one letter per event (an owner Salesforce refuses dead-letters that
``ticket.assigned``, an escalation's refused Case field or comment that ``sla.escalated``).

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
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from connectors.errors import PermanentError, TransientError
from connectors.raw_log import RawLog
from connectors.retry import retry_after_of
from connectors.salesforce.api import waiting_policy
from connectors.salesforce.case_sync import CaseLink, CaseSync, SyncResult
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent, UnknownEventError, decode_event
from streams.schema.salesforce import SalesforceChange

GROUP = "salesforce-sync"
log = structlog.get_logger("telecase.bootstrap.salesforce.sync")
RETRIES = Counter("telecase_salesforce_sync_retries_total", "Batches retried after a "
                  "transient Salesforce failure")
WAITS = Counter("telecase_salesforce_sync_waits_total", "Transient Salesforce failures the "
                "sync waited out, by reason (auth, network, server, limit, lock, other)",
                ["reason"])
LINKS = Counter("telecase_salesforce_cases_linked_total", "case_linked records appended")


class SyncRunner:
    def __init__(self, bus: Bus, names: TopicNames, sync: CaseSync, *, batch_max: int = 500,
                 max_backoff: float = 60.0, links: RawLog | None = None) -> None:
        """``links``: where ``case_linked`` records go (``salesforce.changes``); ``None``: no
        link-back."""
        self.bus, self.names, self.sync = bus, names, sync
        self.batch_max, self.max_backoff = batch_max, max_backoff
        self.links = links
        self.synced = 0

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            if not await self._apply(records, stop):
                return False  # stopping while Salesforce was failing: the batch stays unsynced
            await self.bus.commit(GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=GROUP,
                      batch_max=self.batch_max)

    async def _apply(self, records: list[Record], stop: asyncio.Event) -> bool:
        events: list[TicketEvent] = []
        origin: dict[str, Record] = {}
        for rec in records:
            with contextlib.suppress(UnknownEventError, ValueError):
                event = decode_event(rec.value)  # undecodable: the projector dead-letters it
                events.append(event)
                origin[event.event_id] = rec
                origin.setdefault(event.ticket_id, rec)
        try:
            result = await self._sync(events, stop)
        except PermanentError as exc:
            # Salesforce refused the whole request: find the events it refuses by syncing
            # them one at a time, dead-letter those, and keep the rest.
            log.warning("salesforce.sync.refused_batch", count=len(events), error=str(exc))
            result = SyncResult()
            for event in events:
                try:
                    one = await self._sync([event], stop)
                except PermanentError as refused:
                    result.rejected.append((event.event_id, str(refused)))
                    continue
                if one is None:
                    return False
                result.rejected.extend(one.rejected)
                result.linked.update(one.linked)
        if result is None:
            return False
        if self.links is not None and result.linked:
            await self._link(self.links, result.linked)
        if result.rejected:
            now = datetime.now(UTC)
            letters = []
            lettered: set[tuple[int, int]] = set()
            for key, error in result.rejected:
                rec = origin[key]
                if (rec.partition, rec.offset) in lettered:
                    continue  # one event refused twice (two of its comments): one letter
                lettered.add((rec.partition, rec.offset))
                letter = DeadLetter(reason="salesforce_rejected", detail=error[:500],
                                    consumer=GROUP, topic=rec.topic, partition=rec.partition,
                                    offset=rec.offset, key=key,
                                    payload_b64=DeadLetter.encode_payload(rec.value),
                                    failed_at=now)
                letters.append(Outgoing(key.encode(), letter.model_dump_json().encode(),
                                        partition=0))
            await self.bus.append(self.names.dead_letters, letters)
            DEAD_LETTERS.labels(GROUP, "salesforce_rejected").inc(len(letters))
            log.warning("salesforce.sync.rejected", count=len(result.rejected))
        self.synced += len(events)
        return True

    async def _sync(self, events: list[TicketEvent], stop: asyncio.Event) -> SyncResult | None:
        """Sync ``events``, retrying transient failures with backoff (``None``: stopped
        while Salesforce was failing). A refusal (``PermanentError``) is raised."""
        policy = waiting_policy(self.max_backoff)
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(self.sync.apply, events)
            except TransientError as exc:
                RETRIES.inc()
                attempt += 1
                reason = getattr(exc, "reason", "other")
                WAITS.labels(reason).inc()
                delay = policy.wait(attempt, retry_after_of(exc))
                log.warning("salesforce.sync.waiting", reason=reason, delay=delay,
                            events=len(events), error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return None

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
