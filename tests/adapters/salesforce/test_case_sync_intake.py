"""A ticket opened by the bot intake form becomes (or updates) a Lead with the form's answers,
against the Salesforce simulator through the unmodified simple-salesforce client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from simulators.salesforce import SalesforceDriver
from streams.schema.events import (
    Actor,
    Customer,
    IntakeAnswers,
    SourceRef,
    TicketEvent,
    TicketOpened,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def intake_ticket(ticket: str, uid: int, **answers: Any) -> list[TicketEvent]:
    given = IntakeAnswers.model_validate({
        "name": "Ann Lee", "company": "Acme Corp", "product": "Widgets", "region": "EMEA",
        "deal_size": Decimal(120000), "phone": "+14155551212", **answers})
    return [TicketOpened(
        event_id=f"{ticket}#1", ticket_id=ticket, seq=1, occurred_at=NOW, recorded_at=NOW,
        source=SourceRef(kind="telegram"), actor=Actor(kind="customer"),
        channel="private_chat", chat_id=uid, thread_id=None, thread_key=f"{uid}:p",
        subject="Acme Corp: Widgets (Ann Lee)", subject_message_id=9,
        customer=Customer(telegram_user_id=uid, username="ann", first_name="Ann",
                          phone=given.phone),
        customer_message_id=9, intake=given)]


async def test_a_form_creates_a_lead_even_in_contact_mode(sf: Any,
                                                          driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf), lead_source="Telegram bot")
    result = await asyncio.to_thread(sync.apply, intake_ticket("tg:50:p:1", 50))
    assert (result.leads, result.contacts, result.rejected) == (1, 0, [])
    [lead] = await driver.records("Lead")
    assert (lead["FirstName"], lead["LastName"], lead["Company"], lead["MobilePhone"],
            lead["LeadSource"]) == ("Ann", "Lee", "Acme Corp", "+14155551212", "Telegram bot")
    assert (lead["Telecase_Product_Interest__c"], lead["Telecase_Region__c"],
            float(lead["Telecase_Deal_Size__c"])) == ("Widgets", "EMEA", 120000.0)
    [case] = await driver.records("Case")
    assert case["Telecase_Lead__c"] == lead["Id"]
    assert "Deal size: 120,000" in case["Description"]
    # a second form later (the same sync, the person known): the Lead takes the new answers
    await asyncio.to_thread(sync.apply, intake_ticket("tg:50:p:2", 50, company="Acme Group",
                                                      deal_size=Decimal(5000)))
    [lead] = await driver.records("Lead")
    assert (lead["Company"], float(lead["Telecase_Deal_Size__c"])) == ("Acme Group", 5000.0)


async def test_a_lead_sales_typed_in_is_found_by_phone_and_completed(
        sf: Any, driver: SalesforceDriver) -> None:
    typed = await driver.create("Lead", {"LastName": "Lee", "Company": "[unknown]",
                                         "MobilePhone": "(415) 555-1212"})
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                            intake_ticket("tg:51:p:1", 51))
    [lead] = await driver.records("Lead")
    assert lead["Id"] == typed["Id"] and lead["Telegram_User_Id__c"] == "51"
    assert (lead["Company"], lead["Telecase_Region__c"]) == ("Acme Corp", "EMEA")


async def test_an_existing_contact_stays_the_person(sf: Any, driver: SalesforceDriver) -> None:
    contact = await driver.create("Contact", {"LastName": "Lee", "Telegram_User_Id__c": "52"})
    result = await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                                     intake_ticket("tg:52:p:1", 52))
    assert result.linked["tg:52:p:1"].contact_id == contact["Id"]
    assert await driver.records("Lead") == []
    [case] = await driver.records("Case")
    assert case["ContactId"] == contact["Id"] and "Company: Acme Corp" in case["Description"]
