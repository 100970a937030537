"""Runs :class:`~connectors.salesforce.files.CaseFiles` as a consumer of ``ticket.events``
with a group of its own (``salesforce-files``), beside the sync
(:mod:`connectors.salesforce.sync_runner`); the loop is the ledgered runner's
(:mod:`connectors.salesforce.ledgered`).

The position is committed after every file of a batch is on its Case (or given up). A
transient fault (Salesforce or Telegram unreachable, a Case the sync has not written yet:
:class:`~connectors.salesforce.files.CasePending`) keeps the batch and retries it after a
backoff (doubling up to ``max_backoff``) with a WARNING ``salesforce.files.waiting``; the
ledger makes the retry write only what is missing. A request Salesforce refuses as a whole
(the integration user may not create ContentVersion, say) is logged as an ERROR
``salesforce.files.failed`` and the batch passed over, so the rest of telecase runs on.
A customer's file is essential work: the limit guard never holds it.
"""

from __future__ import annotations

from connectors.salesforce.files import CaseFiles
from connectors.salesforce.ledgered import LedgeredRunner
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent

GROUP = "salesforce-files"


class FilesRunner(LedgeredRunner):
    def __init__(self, bus: Bus, names: TopicNames, files: CaseFiles, *,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        super().__init__(bus, names, self._attach, group=GROUP, stage="files",
                         max_backoff=max_backoff, first_backoff=first_backoff)
        self.files = files

    async def _attach(self, events: list[TicketEvent]) -> int:
        return len(await self.files.attach(events))
