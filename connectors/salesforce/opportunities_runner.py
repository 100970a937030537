"""Runs :class:`~connectors.salesforce.opportunities.Opportunities` as a consumer of
``ticket.events`` with a group of its own (``salesforce-opportunities``), beside the Case
sync, which it waits for: a deal's Opportunity needs the ticket's Case (its customer). The
loop is the ledgered runner's (:mod:`connectors.salesforce.ledgered`); the upsert on the
ticket id is what makes a retry write the same Opportunity.

A batch's position is committed once its Opportunities are written. A transient fault
(Salesforce unreachable, a Case not written yet) keeps the batch and tries it again after a
backoff (WARNING ``salesforce.opportunities.waiting``). A record Salesforce refuses (a stage
the org does not offer, a validation rule) is logged as an ERROR
``salesforce.opportunity.refused`` with the event and Salesforce's reason, and a request
refused as a whole as ``salesforce.opportunities.failed``; the batch is then passed over, so
the rest of telecase runs on (the ticket's next step tries its stage again).

The limit guard: Opportunities are not essential. With the org near its daily API limit
(``conserve``) batches linger longer and grow larger; at ``essential_only`` they wait until
the usage falls (the guard's ``opportunities`` kind), so customers' messages keep the calls
that are left.
"""

from __future__ import annotations

import asyncio

import structlog

from connectors.salesforce.ledgered import LedgeredRunner
from connectors.salesforce.limit_guard import LimitGuard
from connectors.salesforce.opportunities import Opportunities
from connectors.salesforce.results import SyncResult
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent

log = structlog.get_logger(__name__)

GROUP = "salesforce-opportunities"


class OpportunitiesRunner(LedgeredRunner):
    def __init__(self, bus: Bus, names: TopicNames, deals: Opportunities, *,
                 guard: LimitGuard | None = None, linger: float = 0.0,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        super().__init__(bus, names, self._write, group=GROUP, stage="opportunities",
                         guard=guard, kind="opportunities", linger=linger,
                         max_backoff=max_backoff, first_backoff=first_backoff)
        self.deals = deals

    async def _write(self, events: list[TicketEvent]) -> int:
        result = SyncResult()
        await asyncio.to_thread(self.deals.apply, events, result)
        for event_id, reason in result.rejected:
            log.error("salesforce.opportunity.refused", event_id=event_id, reason=reason)
        return len(events) - len(result.rejected)
