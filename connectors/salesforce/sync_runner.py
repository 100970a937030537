"""Runs :class:`~connectors.salesforce.case_sync.CaseSync` as a consumer of ``ticket.events``
on a :class:`~streams.bus.Bus`.

Its position is a consumer group of its own, committed only after Salesforce accepted a batch.
A transient failure (outage, daily limit, lock) keeps the batch and retries it after a backoff
(``retry_after`` when Salesforce gives one): the backlog waits in the log, nothing is lost, and
the upserts make the retry harmless. Records Salesforce rejects go to the dead-letter topic
with its error.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from connectors.errors import TransientError
from connectors.salesforce.case_sync import CaseSync
from streams.bus import Bus, Outgoing, Record, consume
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent, UnknownEventError, decode_event
from streams.topics import TopicNames

GROUP = "salesforce-sync"
log = structlog.get_logger("telecase.salesforce.sync")
RETRIES = Counter("telecase_salesforce_sync_retries_total", "Batches retried after a "
                  "transient Salesforce failure")


class SyncRunner:
    def __init__(self, bus: Bus, names: TopicNames, sync: CaseSync, *, batch_max: int = 500,
                 max_backoff: float = 60.0) -> None:
        self.bus, self.names, self.sync = bus, names, sync
        self.batch_max, self.max_backoff = batch_max, max_backoff
        self.synced = 0

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            if not await self._apply(records, stop):
                return False  # stopping while Salesforce was failing: the batch stays unsynced
            await self.bus.commit(GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, batch_max=self.batch_max)

    async def _apply(self, records: list[Record], stop: asyncio.Event) -> bool:
        events: list[TicketEvent] = []
        origin: dict[str, Record] = {}
        for rec in records:
            with contextlib.suppress(UnknownEventError, ValueError):
                event = decode_event(rec.value)  # undecodable: the projector dead-letters it
                events.append(event)
                origin[event.event_id] = rec
                origin.setdefault(event.ticket_id, rec)
        backoff = 1.0
        while True:
            try:
                result = await asyncio.to_thread(self.sync.apply, events)
                break
            except TransientError as exc:
                RETRIES.inc()
                delay = min(exc.retry_after or backoff, self.max_backoff)
                log.warning("salesforce.sync.retry", delay=delay, error=str(exc))
                backoff = min(backoff * 2, self.max_backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return False
        if result.rejected:
            now = datetime.now(UTC)
            letters = []
            for key, error in result.rejected:
                rec = origin[key]
                letter = DeadLetter(reason="salesforce_rejected", detail=error[:500],
                                    consumer=GROUP, topic=rec.topic, partition=rec.partition,
                                    offset=rec.offset, key=key,
                                    payload_b64=DeadLetter.encode_payload(rec.value),
                                    failed_at=now)
                letters.append(Outgoing(key.encode(), letter.model_dump_json().encode(),
                                        partition=0))
            await self.bus.append(self.names.dead_letters, letters)
            log.warning("salesforce.sync.rejected", count=len(result.rejected))
        self.synced += len(events)
        return True
