"""Runs :class:`~connectors.salesforce.opportunities.Opportunities` as a consumer of
``ticket.events`` with a group of its own (``salesforce-opportunities``), beside the Case
sync, which it waits for: a deal's Opportunity needs the ticket's Case (its customer).

A batch's position is committed once its Opportunities are written. A transient fault
(Salesforce unreachable, a Case not written yet) keeps the batch and tries it again after a
backoff (doubling up to ``max_backoff``; WARNING ``salesforce.opportunities.waiting``); the
upsert on the ticket id makes the retry write the same Opportunity. A record Salesforce
refuses (a stage the org does not offer, a validation rule) is logged as an ERROR
``salesforce.opportunity.refused`` with the event and Salesforce's reason, and a request
refused as a whole as ``salesforce.opportunities.failed``; the batch is then passed over, so
the rest of telecase runs on (the ticket's next step tries its stage again).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.opportunities import Opportunities
from connectors.salesforce.results import SyncResult
from streams.runtime.bus import Bus, Record
from streams.runtime.lag import consume
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent, UnknownEventError, decode_event

log = structlog.get_logger(__name__)

GROUP = "salesforce-opportunities"


class OpportunitiesRunner:
    def __init__(self, bus: Bus, names: TopicNames, deals: Opportunities, *,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        self.bus, self.names, self.deals = bus, names, deals
        self.max_backoff, self.first_backoff = max_backoff, first_backoff

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            events = [e for e in map(_event, records) if e is not None]
            if events and not await self._write(events, stop):
                return False  # stopping while waiting: the batch stays
            await self.bus.commit(GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=GROUP, batch_max=100)

    async def _write(self, events: list[TicketEvent], stop: asyncio.Event) -> bool:
        delay = self.first_backoff
        while not stop.is_set():
            result = SyncResult()
            try:
                await asyncio.to_thread(self.deals.apply, events, result)
            except TransientError as exc:
                log.warning("salesforce.opportunities.waiting", error=str(exc), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            except PermanentError as exc:
                log.error("salesforce.opportunities.failed", error=str(exc),
                          events=len(events), advice="run `telecase salesforce check`")
            for event_id, reason in result.rejected:
                log.error("salesforce.opportunity.refused", event_id=event_id, reason=reason)
            return True
        return False


def _event(record: Record) -> TicketEvent | None:
    try:
        return decode_event(record.value)
    except (UnknownEventError, ValueError):
        return None  # undecodable: the projector dead-letters it
