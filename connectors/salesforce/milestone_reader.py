"""Salesforce as the SLA clock of record (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``): the open
Case Milestones of telecase's open Cases read back, and each target that changed written to
``salesforce.changes`` as a :class:`~streams.schema.milestones.SalesforceMilestone` for the
worker to adopt (``streams.core.service_level.adopt_target``: the ticket's warnings, breach and
escalation then follow Salesforce's ``TargetDate``).

Every ``interval`` seconds (``TELECASE_SALESFORCE_MILESTONE_INTERVAL``, times the limit guard's
``poll_factor``) :class:`MilestoneReader` runs one query, every page of it::

    SELECT Id, CaseId, TargetDate, IsViolated, MilestoneType.Name,
           Case.Telecase_Ticket_Id__c FROM CaseMilestone
    WHERE IsCompleted = false AND Case.IsClosed = false
      AND Case.Telecase_Ticket_Id__c != null AND MilestoneType.Name IN (<the two names>)

so the open Cases are batched by the query itself (CaseMilestone's ``CaseId`` has the
relationship name ``Case``, and ``MilestoneTypeId`` ``MilestoneType``: Object Reference,
"CaseMilestone",
https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-casemilestone.html):
one API call per round for up to 2,000 milestones. ``IsViolated`` turns true as time passes
without ``SystemModstamp`` moving, so the open milestones are read whole each round (no
watermark). Completed milestones are not read: telecase completes them itself
(:mod:`connectors.salesforce.milestones`).

- **Only what changed is written**: a milestone whose ``TargetDate`` and ``IsViolated`` are
  what the reader last wrote for it is passed over. What it last wrote is recovered at start
  from the tail of ``salesforce.changes`` (:class:`LogMilestones`, the log itself: no ledger),
  so a restart writes nothing again; a milestone older than the tail read is written once more,
  which the worker recognises (the clock already follows that target: no event). Only the
  milestones open in the last round are remembered (a completed one, or one of a closed Case,
  is forgotten, so the memory follows the open Cases, not every Case ever read); one seen
  again (its Case reopened) is written once more, and the worker passes over it the same way.
- **The limit guard**: polls slow down with it (``poll_factor``); at ``essential_only`` a round
  is skipped (``allows``: the guard's ``allows("milestones")``, counted in
  ``telecase_salesforce_api_calls_held_total{kind="milestones"}`` and
  ``telecase_salesforce_milestone_reads_total{outcome="held"}``): telecase's own deadlines
  stand meanwhile, the ones it last adopted included.
- **Errors**: as the change poller's (:mod:`connectors.salesforce.change_poller`): transient
  faults back off and retry, a permanent one (no access to CaseMilestone, Entitlement
  Management off) ends :meth:`MilestoneReader.run`.

Metrics: ``telecase_salesforce_milestone_reads_total{outcome}`` (``read``, ``held``),
``telecase_salesforce_milestone_read_errors_total{kind}`` (``transient``, ``permanent``,
``unexpected``), ``telecase_salesforce_milestones_total{outcome}`` (``written``,
``unchanged``, ``unknown_type``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from pydantic import ValidationError

from connectors.raw_log import RawLog
from connectors.salesforce.api import soql_quote
from connectors.salesforce.change_poller import ChangeQueries, parse_datetime, run_polls
from connectors.salesforce.milestones import MilestoneNames
from streams.runtime.bus import Bus
from streams.schema.milestones import SalesforceMilestone

log = structlog.get_logger("telecase.salesforce.milestones")
READS = Counter("telecase_salesforce_milestone_reads_total", "Rounds of the CaseMilestone read "
                "(Salesforce the SLA clock of record)", ["outcome"])  # read | held
ERRORS = Counter("telecase_salesforce_milestone_read_errors_total", "Failed CaseMilestone "
                 "reads", ["kind"])
MILESTONES = Counter("telecase_salesforce_milestones_total", "Open CaseMilestones read: "
                     "written to the log (a new target or violation) or not", ["outcome"])

MILESTONE_SOQL = (
    "SELECT Id, CaseId, TargetDate, IsViolated, MilestoneType.Name, "
    "Case.Telecase_Ticket_Id__c FROM CaseMilestone WHERE IsCompleted = false "
    "AND Case.IsClosed = false AND Case.Telecase_Ticket_Id__c != null "
    "AND MilestoneType.Name IN ({names}) ORDER BY Id")

Said = tuple[datetime, bool]
"""What was written for a milestone: its ``TargetDate`` and ``IsViolated``."""


class LogMilestones:
    """What the reader last wrote for each milestone, from the last ``scan_max`` records of
    each partition of ``salesforce.changes``."""

    def __init__(self, bus: Bus, topic: str, *, scan_max: int = 20000,
                 chunk: int = 1000) -> None:
        self.bus, self.topic, self.scan_max, self.chunk = bus, topic, scan_max, chunk

    async def load(self) -> dict[str, Said]:
        said: dict[str, Said] = {}
        for partition in range(await self.bus.partitions(self.topic)):
            end = await self.bus.end_offset(self.topic, partition)
            offset = max(0, end - self.scan_max)
            while offset < end:
                records = await self.bus.read(self.topic, partition, offset,
                                              min(self.chunk, end - offset), wait=1.0)
                if not records:
                    break  # Kafka may answer nothing for a while: the worker dedupes anyway
                for record in records:
                    if b'"salesforce.milestone"' not in record.value:
                        continue
                    with contextlib.suppress(ValidationError, ValueError):
                        m = SalesforceMilestone.model_validate_json(record.value)
                        said[m.milestone_id] = (m.target_at, m.violated)
                offset = records[-1].offset + 1
        return said


class MilestoneReader:
    """Reads the open milestones and appends the changed ones to ``raw_log``; run it with
    ``await reader.run(stop)``, or call :meth:`read_once` (tests)."""

    def __init__(self, api: ChangeQueries, raw_log: RawLog, *,
                 names: MilestoneNames | None = None, known: LogMilestones | None = None,
                 interval: float = 60.0, max_backoff: float = 300.0,
                 pace: Callable[[], float] = lambda: 1.0,
                 allows: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.time) -> None:
        self.api, self.raw_log, self.known = api, raw_log, known
        names = names or MilestoneNames()
        self.clocks = {names.first_response: "first_response", names.resolution: "resolution"}
        self.interval, self.max_backoff = interval, max_backoff
        self.pace, self.allows, self.clock = pace, allows, clock
        self.said: dict[str, Said] | None = None
        self.soql = MILESTONE_SOQL.format(names=", ".join(soql_quote(n)
                                                         for n in sorted(self.clocks)))

    async def run(self, stop: asyncio.Event) -> None:
        await run_polls(self.read_once, stop, interval=self.interval, pace=self.pace,
                        max_backoff=self.max_backoff, name="salesforce.milestones",
                        errors=ERRORS)

    async def read_once(self) -> int:
        """One round; returns how many milestones were written."""
        if not self.allows():
            READS.labels("held").inc()
            return 0
        if self.said is None:
            self.said = await self.known.load() if self.known is not None else {}
        page = await asyncio.to_thread(self.api.query_page, self.soql)
        rows = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await asyncio.to_thread(self.api.query_next, page["nextRecordsUrl"])
            rows += page.get("records") or []
        READS.labels("read").inc()
        observed = datetime.fromtimestamp(self.clock(), UTC)
        changed = [m for m in (self._milestone(row, observed) for row in rows) if m is not None]
        if changed:
            await self.raw_log.append(changed)  # durable before it counts as said
            for m in changed:
                self.said[m.milestone_id] = (m.target_at, m.violated)
            log.info("salesforce.milestones.written", count=len(changed))
        open_now = {str(row["Id"]) for row in rows}  # every page read: the whole open set
        self.said = {k: v for k, v in self.said.items() if k in open_now}
        MILESTONES.labels("written").inc(len(changed))
        return len(changed)

    def _milestone(self, row: dict[str, Any], observed: datetime) -> SalesforceMilestone | None:
        assert self.said is not None
        name = str((row.get("MilestoneType") or {}).get("Name") or "")
        clock = self.clocks.get(name)
        target = parse_datetime(row.get("TargetDate"))
        ticket = (row.get("Case") or {}).get("Telecase_Ticket_Id__c")
        if clock is None or target is None or not ticket:
            MILESTONES.labels("unknown_type").inc()
            return None
        violated = bool(row.get("IsViolated"))
        if self.said.get(str(row["Id"])) == (target, violated):
            MILESTONES.labels("unchanged").inc()
            return None
        return SalesforceMilestone(
            ticket_id=str(ticket), case_id=str(row.get("CaseId")), milestone_id=str(row["Id"]),
            milestone_type=name, clock=clock, target_at=target, violated=violated,
            observed_at=observed, record=row)
