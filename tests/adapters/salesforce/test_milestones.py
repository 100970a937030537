"""Entitlements and Case Milestones (issue 17 item 1), end to end on the simulated org: a
ticket in the ``enterprise`` tier gets the tier's Entitlement, the org's entitlement process
makes its milestones, and the First Response milestone is completed at the moment the agent
answered in Telegram, the Resolution one when the ticket closes; a replay changes nothing.
Against the Salesforce simulator through the unmodified simple-salesforce client."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from simulators.salesforce import SalesforceDriver
from streams.sla.policy import SlaPolicy
from tests.adapters.salesforce.test_case_report import scenario

ROOT = Path(__file__).resolve().parents[3]


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_tier_names_its_entitlement_in_the_policy_file() -> None:
    text = (ROOT / "examples" / "policy.toml").read_text().replace(
        '[sla.tiers.enterprise]\n', '[sla.tiers.enterprise]\nentitlement = "Enterprise"\n')
    assert SlaPolicy.from_toml(text).entitlements() == {"enterprise": "Enterprise"}


async def test_the_first_response_in_telegram_completes_the_case_milestone(
        sf: Any, driver: SalesforceDriver) -> None:
    process = await driver.define_entitlement_process(
        "Enterprise SLA", {"First Response": 15, "Resolution": 240})
    entitlement = await driver.create("Entitlement", {"Name": "Enterprise Support",
                                                      "SlaProcessId": process["id"]})
    events = scenario()  # enterprise tier; the agent answers in Telegram 12.5 min in
    reply, closing = events[4], events[-1]
    sync = CaseSync(SimpleSalesforceApi(sf), entitlements={"enterprise": "Enterprise Support"})

    result = await asyncio.to_thread(sync.apply, events[:4])  # open, message, started, warn
    assert result.rejected == []
    [case] = await driver.records("Case")
    assert case["EntitlementId"] == entitlement["Id"]
    milestones = {m["MilestoneTypeId"]: m for m in await driver.records("CaseMilestone")}
    first = milestones[process["milestone_types"]["First Response"]]
    assert first["CaseId"] == case["Id"] and not first["IsCompleted"]
    assert stamp(first["TargetDate"]) - stamp(first["StartDate"]) == timedelta(minutes=15)

    await asyncio.to_thread(sync.apply, events[4:6])  # the agent's reply, sla.met
    done = {m["MilestoneTypeId"]: m for m in await driver.records("CaseMilestone")}
    first = done[process["milestone_types"]["First Response"]]
    assert first["IsCompleted"] and stamp(first["CompletionDate"]) == reply.occurred_at
    assert not done[process["milestone_types"]["Resolution"]]["IsCompleted"]

    await asyncio.to_thread(sync.apply, events[6:])  # breach, escalation, closed
    resolution = next(m for m in await driver.records("CaseMilestone")
                      if m["MilestoneTypeId"] == process["milestone_types"]["Resolution"])
    assert stamp(resolution["CompletionDate"]) == closing.occurred_at

    # a replay through a fresh sync (a restart): nothing new, nothing moved
    before = await driver.records("CaseMilestone")
    again = CaseSync(SimpleSalesforceApi(sf), entitlements={"enterprise": entitlement["Id"]})
    assert (await asyncio.to_thread(again.apply, events)).rejected == []
    assert await driver.records("CaseMilestone") == before


async def test_an_open_milestone_is_violated_once_its_target_passes_read_either_way(
        sf: Any, driver: SalesforceDriver) -> None:
    process = await driver.define_entitlement_process("Enterprise SLA", {"First Response": 15})
    entitlement = await driver.create("Entitlement", {"Name": "Enterprise Support",
                                                      "SlaProcessId": process["id"]})
    case = await driver.create("Case", {"Subject": "Pricing",
                                        "EntitlementId": entitlement["Id"]})
    [milestone] = await driver.records("CaseMilestone")
    assert milestone["CaseId"] == case["Id"] and milestone["IsViolated"] is False
    await driver.advance_clock(16 * 60)  # no write: the target passes with time alone
    queried = (await asyncio.to_thread(
        sf.query, f"SELECT IsViolated FROM CaseMilestone WHERE Id = '{milestone['Id']}'"))
    assert queried["records"][0]["IsViolated"] is True
    retrieved = await asyncio.to_thread(sf.CaseMilestone.get, milestone["Id"])
    assert retrieved["IsViolated"] is True
