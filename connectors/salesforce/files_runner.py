"""Runs :class:`~connectors.salesforce.files.CaseFiles` as a consumer of ``ticket.events``
with a group of its own (``salesforce-files``), beside the sync
(:mod:`connectors.salesforce.sync_runner`).

The position is committed after every file of a batch is on its Case (or given up). A
transient fault (Salesforce or Telegram unreachable, a Case the sync has not written yet:
:class:`~connectors.salesforce.files.CasePending`) keeps the batch and retries it after a
backoff (doubling up to ``max_backoff``) with a WARNING ``salesforce.files.waiting``; the
ledger makes the retry write only what is missing. A request Salesforce refuses as a whole
(the integration user may not create ContentVersion, say) is logged as an ERROR
``salesforce.files.failed`` and the batch passed over, so the rest of telecase runs on.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.files import CaseFiles
from streams.runtime.bus import Bus, Record
from streams.runtime.lag import consume
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent, UnknownEventError, decode_event

log = structlog.get_logger(__name__)

GROUP = "salesforce-files"


class FilesRunner:
    def __init__(self, bus: Bus, names: TopicNames, files: CaseFiles, *,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        self.bus, self.names, self.files = bus, names, files
        self.max_backoff, self.first_backoff = max_backoff, first_backoff
        self.attached = 0

    async def run(self, stop: asyncio.Event) -> None:
        topic = self.names.ticket_events
        positions = await self.bus.committed(GROUP, topic)

        async def handle(partition: int, records: list[Record]) -> bool:
            if not await self._attach(_decoded(records), stop):
                return False  # stopping while waiting: the batch stays
            await self.bus.commit(GROUP, topic, {partition: records[-1].offset + 1})
            return True

        await consume(self.bus, topic, positions, handle, stop, group=GROUP, batch_max=100)

    async def _attach(self, events: list[TicketEvent], stop: asyncio.Event) -> bool:
        delay = self.first_backoff
        while not stop.is_set():
            try:
                self.attached += len(await self.files.attach(events))
                return True
            except PermanentError as exc:  # Salesforce refused the whole request
                log.error("salesforce.files.failed", error=str(exc), events=len(events),
                          advice="run `telecase salesforce check`")
                return True
            except TransientError as exc:
                log.warning("salesforce.files.waiting", error=str(exc), retry_in=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.max_backoff)
        return False


def _decoded(records: list[Record]) -> list[TicketEvent]:
    events = []
    for rec in records:
        with contextlib.suppress(UnknownEventError, ValueError):
            events.append(decode_event(rec.value))  # undecodable: the projector dead-letters it
    return events
