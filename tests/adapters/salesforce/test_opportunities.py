"""Deals (issue 17 item 4) against the Salesforce simulator through the unmodified
simple-salesforce client: a qualified ticket's Opportunity is upserted on its ticket id,
linked to the Contact's Account or to the Account of the converted Lead, its stage following
the ticket; one Opportunity across retries and restarts (fresh instances)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.salesforce.api import Writer
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.opportunities import (
    CasePending,
    DealRule,
    LeadConverter,
    Opportunities,
    StageMap,
)
from connectors.salesforce.results import SyncResult
from simulators.salesforce import SalesforceDriver
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    SourceRef,
    TicketEvent,
    TicketRouted,
    TopicClosed,
    TopicReopened,
)
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer
from tests.adapters.salesforce.test_case_sync_intake import intake_ticket

RULE = DealRule(min_deal_size=Decimal(50000), queues=frozenset({"deals"}))


def deals(sf: Any, **kw: Any) -> Opportunities:
    api = SimpleSalesforceApi(sf)
    return Opportunities(api, Writer(api, time.sleep), LeadConverter(sf),
                         **{"rule": RULE, **kw})


def later(ticket: str, seq: int, minutes: float) -> dict[str, Any]:
    when = NOW + timedelta(minutes=minutes)
    return {"event_id": f"{ticket}#{seq}", "ticket_id": ticket, "seq": seq,
            "occurred_at": when, "recorded_at": when, "source": SourceRef(kind="telegram"),
            "actor": Actor(kind="agent")}


def replied(ticket: str, seq: int) -> AgentReplied:
    return AgentReplied(via="telegram", message_id=40 + seq, chat_id=-100, thread_id=5,
                        text="on it", agent=Agent(telegram_user_id=7, display_name="Alex"),
                        **later(ticket, seq, 10))


def closed(ticket: str, seq: int) -> TopicClosed:
    return TopicClosed(message_id=90 + seq, **later(ticket, seq, 60))


async def apply(target: Opportunities, events: list[TicketEvent]) -> SyncResult:
    result = SyncResult()
    await asyncio.to_thread(target.apply, events, result)
    return result


async def test_a_qualified_intake_converts_the_lead_and_makes_one_opportunity(
        sf: Any, driver: SalesforceDriver) -> None:
    opening = intake_ticket("tg:50:p:1", 50)  # deal size 120,000
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, opening)
    first = deals(sf, stages=StageMap(closed="Closed Lost"))
    assert (await apply(first, opening)).rejected == []

    [lead] = await driver.records("Lead")
    [opportunity] = await driver.records("Opportunity")
    assert lead["IsConverted"] and lead["ConvertedOpportunityId"] is None
    assert opportunity["AccountId"] == lead["ConvertedAccountId"]
    assert opportunity["ContactId"] == lead["ConvertedContactId"]
    assert (opportunity["Name"], opportunity["StageName"], opportunity["CloseDate"],
            opportunity["Amount"], opportunity["Telecase_Ticket_Id__c"]) == (
        "Acme Corp: Widgets (Ann Lee)", "Qualification",
        (NOW + timedelta(days=30)).date().isoformat(), 120000, "tg:50:p:1")
    [account] = await driver.records("Account")
    assert account["Name"] == "Acme Corp"

    await apply(first, [replied("tg:50:p:1", 2)])
    assert (await driver.records("Opportunity"))[0]["StageName"] == "Needs Analysis"
    await apply(first, [closed("tg:50:p:1", 3)])
    assert (await driver.records("Opportunity"))[0]["StageName"] == "Closed Lost"
    await apply(first, [TopicReopened(message_id=99, **later("tg:50:p:1", 4, 70))])
    assert (await driver.records("Opportunity"))[0]["StageName"] == "Needs Analysis"

    # a restart reading the whole history again: the same Opportunity, the Lead converted once
    history = [*opening, replied("tg:50:p:1", 2), closed("tg:50:p:1", 3)]
    again = deals(sf, stages=StageMap(closed="Closed Lost"))
    assert (await apply(again, history)).rejected == []
    assert len(await driver.records("Opportunity")) == 1
    assert len(await driver.records("Account")) == 1
    assert len(await driver.records("Contact")) == 1
    assert (await driver.records("Opportunity"))[0]["StageName"] == "Closed Lost"


async def test_a_deals_queue_ticket_gets_the_contacts_account(
        sf: Any, driver: SalesforceDriver) -> None:
    ticket = "tg:-100:t5"
    events = conversation(ticket, customer(11, "ann"), 0)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, events)
    account = await driver.create("Account", {"Name": "Ann's shop"})
    [contact] = await driver.records("Contact")
    await asyncio.to_thread(sf.Contact.update, contact["Id"], {"AccountId": account["Id"]})
    target = deals(sf)

    await apply(target, events)  # not a deal (yet): nothing written
    assert await driver.records("Opportunity") == []
    routed = TicketRouted(queue="deals", rule="deals", reason="rule", **later(ticket, 2, 1))
    await apply(target, [routed])
    [opportunity] = await driver.records("Opportunity")
    assert (opportunity["AccountId"], opportunity["ContactId"], opportunity["StageName"],
            opportunity["Amount"]) == (account["Id"], contact["Id"], "Qualification", None)
    assert [lead["IsConverted"] for lead in await driver.records("Lead")] == []

    # a fresh instance that never saw the ticket qualify follows the Opportunity it finds
    restarted = deals(sf)
    await apply(restarted, [replied(ticket, 3)])
    [opportunity] = await driver.records("Opportunity")
    assert opportunity["StageName"] == "Needs Analysis"


async def test_small_and_unrouted_tickets_are_no_deals(sf: Any,
                                                       driver: SalesforceDriver) -> None:
    small = intake_ticket("tg:51:p:1", 51, deal_size=Decimal(500))
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, small)
    target = deals(sf)
    await apply(target, [*small, replied("tg:51:p:1", 2)])
    other = TicketRouted(queue="support", rule=None, reason="default",
                         **later("tg:51:p:1", 3, 1))
    await apply(target, [other, closed("tg:51:p:1", 4)])
    assert await driver.records("Opportunity") == []
    assert not (await driver.records("Lead"))[0]["IsConverted"]


async def test_a_deal_waits_for_its_case(sf: Any, driver: SalesforceDriver) -> None:
    opening = intake_ticket("tg:52:p:1", 52)
    target = deals(sf)
    with pytest.raises(CasePending):
        await apply(target, opening)
    assert await driver.records("Opportunity") == []
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, opening)
    await apply(target, opening)  # the retry of the same batch
    assert len(await driver.records("Opportunity")) == 1


async def test_a_stage_the_org_does_not_offer_is_refused_per_record(
        sf: Any, driver: SalesforceDriver) -> None:
    opening = intake_ticket("tg:53:p:1", 53)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, opening)
    result = await apply(deals(sf, stages=StageMap(opened="Haggling")), opening)
    assert [(key, reason.split(":")[0]) for key, reason in result.rejected] == [
        ("tg:53:p:1#1", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")]
    assert await driver.records("Opportunity") == []


async def test_a_lead_salesforce_will_not_convert_holds_only_its_own_deal(
        sf: Any, driver: SalesforceDriver) -> None:
    opening = intake_ticket("tg:54:p:1", 54)
    routed_ticket = "tg:-100:t5"
    other = conversation(routed_ticket, customer(12, "bo"), 0)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, [*opening, *other])
    routed = TicketRouted(queue="deals", rule="deals", reason="rule",
                          **later(routed_ticket, 2, 1))
    target = deals(sf, converted_status="Working - Contacted")  # not a converted status
    result = await apply(target, [*opening, *other, routed])
    assert [(key, reason.split(":")[0]) for key, reason in result.rejected] == [
        ("tg:54:p:1#1", "INVALID_STATUS")]
    assert [o["Telecase_Ticket_Id__c"] for o in await driver.records("Opportunity")] == [
        routed_ticket]
    assert not (await driver.records("Lead"))[0]["IsConverted"]

    target.converted_status = "Closed - Converted"  # the admin fixed the setting
    await apply(target, [replied("tg:54:p:1", 2)])  # the deal's next step tries again
    deal = next(o for o in await driver.records("Opportunity")
                if o["Telecase_Ticket_Id__c"] == "tg:54:p:1")
    assert deal["StageName"] == "Needs Analysis" and deal["AccountId"]
