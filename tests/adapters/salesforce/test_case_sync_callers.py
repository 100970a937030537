"""Manual tickets' callers (``connectors.salesforce.callers``): a Contact at creation from
the caller's name and phone, found again rather than duplicated, and the Telegram customer
linked later (``ticket.customer_linked``) claiming it, in the simulated org."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from simulators.salesforce import SalesforceDriver
from streams.schema.events import (
    Actor,
    Customer,
    SourceRef,
    TicketCustomerLinked,
    TicketEvent,
    TicketOpened,
    TicketRequested,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BASE: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                        "source": SourceRef(kind="command"), "actor": Actor(kind="agent")}
PHONE = "+442079460000"
TICKET = "tg:0:mreq-1:1"


def manual(ticket: str = TICKET, name: str | None = "Carl M Caller",
           phone: str | None = PHONE) -> list[TicketEvent]:
    return [
        TicketOpened(event_id=f"{ticket}#1", ticket_id=ticket, seq=1, channel="manual",
                     chat_id=0, thread_id=None, thread_key="0:mreq-1", subject="Manual ticket",
                     subject_message_id=0, customer=None, customer_message_id=0, **BASE),
        TicketRequested(event_id=f"{ticket}#2", ticket_id=ticket, seq=2, request_id="req-1",
                        origin="manual", direction="inbound", requested_by="maria",
                        customer_name=name, phone=phone, note="invoice", **BASE)]


def linked(uid: int = 501) -> TicketCustomerLinked:
    ann = Customer(telegram_user_id=uid, username="ann", first_name="Ann", phone=PHONE)
    return TicketCustomerLinked(event_id=f"{TICKET}#3", ticket_id=TICKET, seq=3, customer=ann,
                                phone=PHONE, from_ticket_id="tg:501:p:1",
                                **{**BASE, "actor": Actor(kind="system")})


async def apply(sf: Any, events: list[TicketEvent]) -> Any:
    return await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, events)


async def test_a_callers_name_and_phone_make_a_contact_on_the_manual_case(
        sf: Any, driver: SalesforceDriver) -> None:
    result = await apply(sf, manual())
    assert (result.contacts, result.cases, result.rejected) == (1, 1, [])
    [contact] = await driver.records("Contact")
    [case] = await driver.records("Case")
    assert (contact["FirstName"], contact["LastName"]) == ("Carl M", "Caller")
    assert contact["MobilePhone"] == PHONE and not contact.get("Telegram_User_Id__c")
    assert case["ContactId"] == contact["Id"] and case["Origin"] == "Phone"
    again = await apply(sf, manual())  # redelivered, by a restarted sync: found, not created
    assert again.contacts == 0 and len(await driver.records("Contact")) == 1


async def test_an_existing_contact_with_the_phone_is_the_caller(
        sf: Any, driver: SalesforceDriver) -> None:
    known = await asyncio.to_thread(sf.Contact.create, {"LastName": "Caller",
                                                        "Phone": "020 7946 0000"})
    await apply(sf, manual())
    [case] = await driver.records("Case")
    assert case["ContactId"] == known["id"] and len(await driver.records("Contact")) == 1


async def test_without_a_name_or_a_phone_the_case_has_no_contact(
        sf: Any, driver: SalesforceDriver) -> None:
    await apply(sf, manual(name=None))
    [case] = await driver.records("Case")
    assert case.get("ContactId") is None and await driver.records("Contact") == []


async def test_the_telegram_customer_linked_later_claims_the_callers_contact(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    await asyncio.to_thread(sync.apply, manual())
    result = await asyncio.to_thread(sync.apply, [linked()])
    assert result.rejected == []
    [contact] = await driver.records("Contact")
    [case] = await driver.records("Case")
    assert contact["Telegram_User_Id__c"] == "501" and case["ContactId"] == contact["Id"]


async def test_a_linked_customer_with_a_contact_of_their_own_becomes_the_cases(
        sf: Any, driver: SalesforceDriver) -> None:
    own = await asyncio.to_thread(sf.Contact.create, {"LastName": "Ann",
                                                      "Telegram_User_Id__c": "501"})
    await apply(sf, manual(phone="+15550001"))  # the caller's Contact: another phone
    await apply(sf, [linked()])
    [case] = await driver.records("Case")
    assert case["ContactId"] == own["id"]
