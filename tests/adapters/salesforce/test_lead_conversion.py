"""After a deal converts its customer's Lead (issue 17 item 4), on the Salesforce simulator
through simple-salesforce: the Case points at the new Contact and Account, the Case sync
follows (the customer's next ticket and messages name the Contact, no Lead is made or updated
again), a restarted sync finds the Contact through the converted Lead even when the org's
field mapping copied no Telegram id, and the simulated org refuses what a real one refuses of
a converted Lead."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.salesforce.api import Writer
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.opportunities import LeadConverter, Opportunities
from connectors.salesforce.people import Conversions, _match, _Wanted, candidates_from
from connectors.salesforce.results import SyncResult
from simulators.salesforce import SalesforceDriver
from streams.schema.events import Customer, CustomerMessageReceived, TicketEvent
from tests.adapters.salesforce.test_case_sync import conversation
from tests.adapters.salesforce.test_case_sync_intake import intake_ticket
from tests.adapters.salesforce.test_opportunities import RULE, later
from tests.simulators.salesforce.conftest import call

ANN = Customer(telegram_user_id=50, username="ann", first_name="Ann")


def message(ticket: str, seq: int) -> CustomerMessageReceived:
    return CustomerMessageReceived(message_id=200 + seq, sender=ANN, text=f"more {seq}",
                                   content_kind="text", message_version=0,
                                   reply_to_message_id=None,
                                   **{**later(ticket, seq, 5), "actor": {"kind": "customer"}})


async def converted(sf: Any, conversions: Conversions | None) -> tuple[CaseSync, Opportunities]:
    """A qualified intake's ticket synced and its deal written (the Lead converted)."""
    sync = CaseSync(SimpleSalesforceApi(sf), conversions=conversions)
    api = SimpleSalesforceApi(sf)
    deals = Opportunities(api, Writer(api, time.sleep), LeadConverter(sf), rule=RULE,
                          conversions=conversions)
    opening = intake_ticket("tg:50:p:1", 50)
    assert (await asyncio.to_thread(sync.apply, opening)).rejected == []
    result = SyncResult()
    await asyncio.to_thread(deals.apply, opening, result)
    assert result.rejected == []
    return sync, deals


async def apply(sync: CaseSync, events: list[TicketEvent]) -> SyncResult:
    return await asyncio.to_thread(sync.apply, events)


async def test_the_case_points_at_the_contact_and_account_the_lead_became(
        sf: Any, driver: SalesforceDriver) -> None:
    await converted(sf, None)
    [lead] = await driver.records("Lead")
    [case] = await driver.records("Case")
    assert lead["IsConverted"]
    assert case["ContactId"] == lead["ConvertedContactId"]
    assert case["AccountId"] == lead["ConvertedAccountId"]
    [opportunity] = await driver.records("Opportunity")
    assert (opportunity["ContactId"], opportunity["AccountId"]) == (
        case["ContactId"], case["AccountId"])


async def test_the_running_sync_follows_the_conversion(sf: Any,
                                                       driver: SalesforceDriver) -> None:
    sync, _ = await converted(sf, Conversions())
    [lead] = await driver.records("Lead")
    contact = lead["ConvertedContactId"]

    result = await apply(sync, [message("tg:50:p:1", 2)])  # the same ticket, later
    assert result.rejected == []
    [task] = await driver.records("Task")
    assert task["WhoId"] == contact

    result = await apply(sync, conversation("tg:50:p:2", ANN, 1))  # a new ticket
    assert result.rejected == [] and result.leads == 0
    second = next(c for c in await driver.records("Case")
                  if c["Telecase_Ticket_Id__c"] == "tg:50:p:2")
    assert second["ContactId"] == contact and second["Telecase_Lead__c"] is None
    assert len(await driver.records("Lead")) == 1
    assert len(await driver.records("Contact")) == 1


async def test_a_sync_elsewhere_finds_the_contact_at_the_next_ticket(
        sf: Any, driver: SalesforceDriver) -> None:
    """No shared Conversions (another process, or a salesperson converted the Lead); the
    org's lead field mapping copied no Telegram id onto the Contact."""
    sync, _ = await converted(sf, None)
    [lead] = await driver.records("Lead")
    contact = lead["ConvertedContactId"]
    await driver.update("Contact", contact, {"Telegram_User_Id__c": None})

    for each in (sync, CaseSync(SimpleSalesforceApi(sf))):  # running, and restarted
        ticket = f"tg:50:p:{id(each)}"
        result = await apply(each, [*intake_ticket(ticket, 50)])  # a second form, too
        assert result.rejected == [] and result.leads == 0
        case = next(c for c in await driver.records("Case")
                    if c["Telecase_Ticket_Id__c"] == ticket)
        assert case["ContactId"] == contact
    assert len(await driver.records("Lead")) == 1
    assert len(await driver.records("Contact")) == 1
    assert (await driver.record("Contact", contact))["Telegram_User_Id__c"] == "50"


def refusal(exc: SalesforceMalformedRequest) -> str:
    content: Any = exc.content
    return str(content[0]["errorCode"])


async def test_the_org_refuses_to_update_or_reference_a_converted_lead(
        sf: Any, driver: SalesforceDriver) -> None:
    await converted(sf, None)
    [lead] = await driver.records("Lead")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        await call(sf.Lead.update, lead["Id"], {"Company": "Other"})
    assert refusal(caught.value) == "CANNOT_UPDATE_CONVERTED_LEAD"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        await call(sf.Task.create, {"Subject": "Call", "WhoId": lead["Id"]})
    assert refusal(caught.value) == "CANNOT_UPDATE_CONVERTED_LEAD"
    task = await call(sf.Task.create, {"Subject": "Call"})
    with pytest.raises(SalesforceMalformedRequest) as caught:  # on update too
        await call(sf.Task.update, task["id"], {"WhoId": lead["Id"]})
    assert refusal(caught.value) == "CANNOT_UPDATE_CONVERTED_LEAD"
    # Telecase_Lead__c is text (Salesforce has no custom lookup to Lead): no reference, kept
    await call(sf.Case.create, {"Subject": "Again", "Telecase_Lead__c": lead["Id"]})
    assert (await driver.record("Lead", lead["Id"]))["Company"] == "Acme Corp"


async def test_a_restarted_sync_attaches_the_next_message_to_the_contact(
        sf: Any, driver: SalesforceDriver) -> None:
    await converted(sf, None)
    [lead] = await driver.records("Lead")
    restarted = CaseSync(SimpleSalesforceApi(sf))  # knows nobody
    assert (await apply(restarted, [message("tg:50:p:1", 2)])).rejected == []
    [task] = await driver.records("Task")
    assert task["WhoId"] == lead["ConvertedContactId"]
    assert len(await driver.records("Contact")) == 1 and len(await driver.records("Lead")) == 1
    stranger = CustomerMessageReceived(**{**message("tg:50:p:1", 3).model_dump(),
                                          "sender": Customer(telegram_user_id=77,
                                                             first_name="Bob")})
    assert (await apply(restarted, [stranger])).rejected == []  # looked up, never created
    assert len(await driver.records("Contact")) == 1 and len(await driver.records("Lead")) == 1


def test_a_converted_lead_finds_its_contact_even_when_the_contact_was_found_too() -> None:
    """The batch's query found the Contact the Lead became through another customer's key
    (a shared office phone), and the org's mapping copied no Telegram id onto it: the
    converted Lead's Telegram id still finds that Contact, and no second Contact is made."""
    soqls = ["SELECT Id FROM Contact WHERE x", "SELECT Id FROM Lead WHERE x"]
    contact = {"Id": "003A", "Telegram_User_Id__c": None, "Telegram_Username__c": None,
               "Phone": "+1 555 0199", "MobilePhone": None}
    lead = {"Id": "00QA", "Telegram_User_Id__c": "50", "Telegram_Username__c": "ann",
            "Phone": None, "MobilePhone": None, "IsConverted": True,
            "ConvertedContactId": "003A"}
    rows = candidates_from(soqls, [[contact], [lead]])
    found, by = _match(50, _Wanted(ANN, "e1"), rows, set())
    assert found is not None and (found["Id"], found["attributes"]["type"], by) == (
        "003A", "Contact", "converted lead")  # claimed: its Telegram id is written onto it
    assert _match(50, _Wanted(ANN, "e1"), rows, {"003A"}) == (None, "")
    theirs = candidates_from(soqls, [[{**contact, "Telegram_User_Id__c": "77"}], [lead]])
    assert _match(50, _Wanted(ANN, "e1"), theirs, set()) == (None, "")  # someone else's
