"""Entitlements and Case Milestones (issue 17 item 1): telecase's SLA in Salesforce's terms.

The policy maps each SLA tier to an Entitlement (``[sla.tiers.<name>] entitlement``, its
``Name`` or its Id, :class:`streams.sla.policy.Tier`). Then:

- ``sla.started`` (the tier chosen) → the Case's ``EntitlementId``. The log chooses a
  ticket's tier once; a later ``sla.started`` (the log re-derived under a changed policy)
  writes its tier's Entitlement over the old one. The org's entitlement process creates the
  Case's milestones (CaseMilestone has no ``create()``: Object Reference, "CaseMilestone",
  supported calls ``query()``, ``retrieve()``, ``update()``,
  https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-casemilestone.html).
- the ticket's first agent reply (not outreach) → the open ``First Response`` milestone's
  ``CompletionDate`` = the moment of the reply; ``ticket.closed``/``topic.closed`` → the
  open ``Resolution`` milestone's (names: ``first_response`` and ``resolution`` of
  :class:`MilestoneNames`). Salesforce cannot see either moment: both happen in Telegram.

An Entitlement named but not found, or a Case without the milestone, writes nothing (a
WARNING names it). Completing twice is harmless: only open milestones are queried.
telecase's clock is the clock of record by default: Salesforce's milestones follow it. With
``TELECASE_SLA_CLOCK_OF_RECORD=salesforce`` the open milestones' ``TargetDate`` and
``IsViolated`` are read back (:mod:`connectors.salesforce.milestone_reader`) and telecase's
clocks follow them (``sla.target_adopted``); the milestones are still completed here, and
reconciliation reports what disagrees (:mod:`connectors.salesforce.deadline_check`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from connectors.salesforce.api import SalesforceApi, Writer, record_error, soql_quote
from connectors.salesforce.results import SyncResult
from streams.schema.events import (
    AgentReplied,
    SlaStarted,
    TicketClosed,
    TicketEvent,
    TopicClosed,
)

log = structlog.get_logger(__name__)
TICKET_ID = "Telecase_Ticket_Id__c"
_ENTITLEMENT_ID = re.compile(r"^550[0-9A-Za-z]{12}([0-9A-Za-z]{3})?$")


@dataclass(frozen=True)
class MilestoneNames:
    """The MilestoneType names telecase completes."""

    first_response: str = "First Response"
    resolution: str = "Resolution"


class Milestones:
    """Sets ``EntitlementId`` and completes milestones for a batch."""

    def __init__(self, api: SalesforceApi, writer: Writer, entitlements: dict[str, str],
                 names: MilestoneNames = MilestoneNames()) -> None:
        self.api, self.writer, self.names = api, writer, names
        self.entitlements = dict(entitlements)
        self.ids: dict[str, str] = {}
        """Entitlement name or Id -> Id, as learned."""
        self.responded: set[str] = set()

    def apply(self, events: Sequence[TicketEvent], case_ids: dict[str, str],
              result: SyncResult) -> None:
        starts = [e for e in events if isinstance(e, SlaStarted)
                  and e.tier in self.entitlements]
        self._set_entitlements(starts, result)
        done: list[tuple[str, str, str]] = []  # (event id, case id, milestone name)
        for e in events:
            case_id = case_ids.get(e.ticket_id)
            if case_id is None:
                continue
            if (isinstance(e, AgentReplied) and e.via != "outreach"
                    and e.ticket_id not in self.responded):
                self.responded.add(e.ticket_id)
                done.append((e.event_id, case_id, self.names.first_response))
            elif isinstance(e, TicketClosed | TopicClosed):
                done.append((e.event_id, case_id, self.names.resolution))
        stamps = {e.event_id: e.occurred_at for e in events}
        self._complete(done, stamps, result)

    def _set_entitlements(self, starts: list[SlaStarted], result: SyncResult) -> None:
        if not starts:
            return
        self._resolve({self.entitlements[e.tier] for e in starts})
        rows = []
        for e in starts:
            wanted = self.entitlements[e.tier]
            found = self.ids.get(wanted)
            if found is None:
                log.warning("salesforce.entitlement_missing", tier=e.tier, entitlement=wanted)
                continue
            rows.append((e.event_id, {TICKET_ID: e.ticket_id, "EntitlementId": found}))
        for key, answer in self.writer.send("Case", rows, TICKET_ID).items():
            if not answer.get("success"):
                result.rejected.append((key, record_error(answer)[1]))

    def _resolve(self, wanted: set[str]) -> None:
        for w in wanted:
            if _ENTITLEMENT_ID.match(w):
                self.ids.setdefault(w, w)
        names = sorted(w for w in wanted if w not in self.ids)
        if not names:
            return
        rows = self.api.query_many([f"SELECT Id, Name FROM Entitlement WHERE Name IN "
                                    f"({','.join(soql_quote(n) for n in names)})"])[0]
        for row in rows:
            self.ids[row["Name"]] = row["Id"]

    def _complete(self, done: list[tuple[str, str, str]], stamps: dict[str, Any],
                  result: SyncResult) -> None:
        if not done:
            return
        cases = sorted({case for _, case, _ in done})
        types = sorted({name for _, _, name in done})
        [types_rows, open_rows] = self.api.query_many([
            "SELECT Id, Name FROM MilestoneType WHERE Name IN "
            f"({','.join(soql_quote(t) for t in types)})",
            "SELECT Id, CaseId, MilestoneTypeId FROM CaseMilestone WHERE IsCompleted = false "
            f"AND CaseId IN ({','.join(soql_quote(c) for c in cases)})"])
        type_ids = {row["Name"]: row["Id"] for row in types_rows}
        open_ones = {(row["CaseId"], row["MilestoneTypeId"]): row["Id"] for row in open_rows}
        updates: list[dict[str, Any]] = []
        keys: list[str] = []
        for event_id, case_id, name in done:
            milestone = open_ones.pop((case_id, type_ids.get(name, "")), None)
            if milestone is None:
                continue  # no such milestone on the Case, or already completed
            updates.append({"Id": milestone,
                            "CompletionDate": stamps[event_id].isoformat()})
            keys.append(event_id)
        if not updates:
            return
        for key, answer in zip(keys, self.api.update_collection("CaseMilestone", updates),
                               strict=True):
            if not answer.get("success"):
                result.rejected.append((key, record_error(answer)[1]))
