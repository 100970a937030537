"""Salesforce as the clock of record: the open CaseMilestones of telecase's Cases read back from
the simulated org (one query a round), and only a changed target or violation written to
``salesforce.changes``; a restarted reader finds what it wrote in the log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from connectors.raw_log import BusRawLog, RawEnvelope
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.change_poller import SalesforceChangeApi, parse_datetime
from connectors.salesforce.limit_guard import LimitGuard
from connectors.salesforce.milestone_reader import LogMilestones, MilestoneReader
from simulators.salesforce import SalesforceDriver
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import SlaStarted
from streams.schema.milestones import SalesforceMilestone
from tests.adapters.salesforce.test_case_report import TICKET, at
from tests.adapters.salesforce.test_case_sync import conversation, customer

NAMES = TopicNames()


class Counting(SalesforceChangeApi):
    """The reader's API, counting its calls."""

    calls = 0

    def query_page(self, soql: str) -> dict[str, Any]:
        self.calls += 1
        return super().query_page(soql)


class Collected:
    def __init__(self) -> None:
        self.records: list[SalesforceMilestone] = []

    async def append(self, envelopes: Sequence[RawEnvelope]) -> None:
        self.records += [e for e in envelopes if isinstance(e, SalesforceMilestone)]


async def org_with_milestones(sf: Any, driver: SalesforceDriver, tickets: int) -> list[str]:
    process = await driver.define_entitlement_process(
        "Enterprise SLA", {"First Response": 10, "Resolution": 120, "Onboarding": 30})
    await driver.create("Entitlement", {"Name": "Enterprise Support",
                                        "SlaProcessId": process["id"]})
    sync = CaseSync(SimpleSalesforceApi(sf), entitlements={"enterprise": "Enterprise Support"})
    ids = [TICKET.replace("t5", f"t{5 + n}") for n in range(tickets)]
    for n, ticket in enumerate(ids):
        events = [*conversation(ticket, customer(11 + n, f"c{n}"), 1),
                  SlaStarted(event_id=f"{ticket}#3", ticket_id=ticket, seq=3,
                             tier="enterprise", team="support", rule=None, reason="tier rule",
                             first_response_target=timedelta(minutes=15),
                             resolution_target=timedelta(hours=2), next_due_at=None,
                             **at(0.1))]
        assert (await asyncio.to_thread(sync.apply, events)).rejected == []
    return ids


async def test_open_milestones_are_read_in_one_call_and_written_when_they_change(
        sf: Any, driver: SalesforceDriver) -> None:
    tickets = await org_with_milestones(sf, driver, 3)
    api, out = Counting(sf), Collected()
    reader = MilestoneReader(api, out)
    assert await reader.read_once() == 6  # two of three milestones each: Onboarding is none
    assert api.calls == 1
    assert {(m.ticket_id, m.clock) for m in out.records} == {
        (t, c) for t in tickets for c in ("first_response", "resolution")}
    first = next(m for m in out.records if m.clock == "first_response")
    created = parse_datetime(first.record["TargetDate"])
    assert first.target_at == created and not first.violated
    assert await reader.read_once() == 0  # nothing changed: nothing written
    await driver.advance_clock(11 * 60)
    assert await reader.read_once() == 3  # the first responses are violated now
    assert {(m.clock, m.violated) for m in out.records[6:]} == {("first_response", True)}
    assert api.calls == 3


async def test_completed_milestones_and_closed_cases_are_not_read(
        sf: Any, driver: SalesforceDriver) -> None:
    [ticket] = await org_with_milestones(sf, driver, 1)
    case = (await asyncio.to_thread(
        sf.query, f"SELECT Id FROM Case WHERE Telecase_Ticket_Id__c = '{ticket}'"))["records"][0]
    [fr] = (await asyncio.to_thread(
        sf.query, "SELECT Id FROM CaseMilestone WHERE MilestoneType.Name = 'First Response'"
    ))["records"]
    now = await driver.now()
    await asyncio.to_thread(sf.CaseMilestone.update, fr["Id"], {"CompletionDate": now})
    out = Collected()
    assert await MilestoneReader(SalesforceChangeApi(sf), out).read_once() == 1
    assert [m.clock for m in out.records] == ["resolution"]
    await asyncio.to_thread(sf.Case.update, case["Id"], {"Status": "Closed"})
    assert await MilestoneReader(SalesforceChangeApi(sf), Collected()).read_once() == 0


async def test_the_reader_remembers_only_the_milestones_still_open(
        sf: Any, driver: SalesforceDriver) -> None:
    """Its memory follows the open Cases: a completed milestone, or one of a closed Case, is
    forgotten (not kept for every Case ever read)."""
    [ticket] = await org_with_milestones(sf, driver, 1)
    reader = MilestoneReader(SalesforceChangeApi(sf), Collected())
    assert await reader.read_once() == 2 and reader.said is not None
    assert len(reader.said) == 2
    [fr] = (await asyncio.to_thread(
        sf.query, "SELECT Id FROM CaseMilestone WHERE MilestoneType.Name = 'First Response'"
    ))["records"]
    await asyncio.to_thread(sf.CaseMilestone.update, fr["Id"],
                            {"CompletionDate": await driver.now()})
    assert await reader.read_once() == 0
    assert fr["Id"] not in reader.said and len(reader.said) == 1
    case = (await asyncio.to_thread(
        sf.query, f"SELECT Id FROM Case WHERE Telecase_Ticket_Id__c = '{ticket}'"))["records"][0]
    await asyncio.to_thread(sf.Case.update, case["Id"], {"Status": "Closed"})
    assert await reader.read_once() == 0 and reader.said == {}


async def test_a_restarted_reader_writes_nothing_it_wrote_before(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    await org_with_milestones(sf, driver, 2)
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=2)
    try:
        raw = BusRawLog(log, NAMES.salesforce_changes)
        assert await MilestoneReader(SalesforceChangeApi(sf), raw).read_once() == 4
        again = MilestoneReader(SalesforceChangeApi(sf), raw,
                                known=LogMilestones(log, NAMES.salesforce_changes))
        assert await again.read_once() == 0
        await driver.advance_clock(11 * 60)
        assert await again.read_once() == 2
    finally:
        await log.close()


async def test_the_limit_guard_holds_a_round_at_essential_only(
        sf: Any, driver: SalesforceDriver) -> None:
    await org_with_milestones(sf, driver, 1)
    api, out = Counting(sf), Collected()
    guard = LimitGuard()
    guard.record(96, 100, "header")
    reader = MilestoneReader(api, out, allows=lambda: guard.allows("milestones"))
    assert await reader.read_once() == 0 and api.calls == 0
    guard.record(85, 100, "header")  # conserve: slower, not held
    assert await reader.read_once() == 2 and api.calls == 1
