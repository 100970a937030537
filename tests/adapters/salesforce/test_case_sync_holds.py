"""A topic an agent opened has no customer yet: the Case sync holds its events until the
customer's first message, then writes the person, the Case (with the Contact) and the
messages together, in the simulated org (``connectors.salesforce.holds``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.holds import CustomerHold
from simulators.salesforce import SalesforceDriver
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    Customer,
    CustomerMessageReceived,
    SourceRef,
    TicketEvent,
    TicketOpened,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TICKET = "tg:-1001:t50"
BASE: dict[str, Any] = {"ticket_id": TICKET, "occurred_at": NOW, "recorded_at": NOW,
                        "source": SourceRef(kind="telegram", chat_id=-1001)}
ANN = Customer(telegram_user_id=501, username="ann", first_name="Ann")


def opened_by_agent() -> list[TicketEvent]:
    return [
        TicketOpened(event_id=f"{TICKET}#1", seq=1, channel="forum_topic", chat_id=-1001,
                     thread_id=50, thread_key="-1001:t50", subject="Your renewal",
                     subject_message_id=50, customer=None, customer_message_id=50,
                     actor=Actor(kind="agent", id="7", display_name="@maria"), **BASE),
        AgentReplied(event_id=f"{TICKET}#2", seq=2, via="telegram", message_id=51,
                     agent=Agent(telegram_user_id=7, display_name="@maria"),
                     text="Hi Ann, your renewal is due",
                     actor=Actor(kind="agent", id="7", display_name="@maria"), **BASE)]


def customer_answer() -> CustomerMessageReceived:
    return CustomerMessageReceived(event_id=f"{TICKET}#3", seq=3, message_id=52, sender=ANN,
                                   text="Thanks, renewing", content_kind="text",
                                   message_version=0, reply_to_message_id=None,
                                   actor=Actor(kind="customer", id="501"), **BASE)


def test_the_hold_releases_the_opening_named_by_the_first_customer_message() -> None:
    hold = CustomerHold()
    assert hold.take(opened_by_agent()) == []
    released = hold.take([customer_answer()])
    assert [e.seq for e in released] == [1, 2, 3]
    opening = released[0]
    assert isinstance(opening, TicketOpened)
    assert (opening.customer, opening.customer_message_id) == (ANN, 52)
    assert hold.held == {}
    later = customer_answer().model_copy(update={"event_id": f"{TICKET}#4", "seq": 4})
    assert hold.take([later]) == [later]  # no longer held


async def test_no_case_until_the_customer_writes_then_case_and_contact(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    first = await asyncio.to_thread(sync.apply, opened_by_agent())
    assert (first.cases, first.contacts, first.rejected) == (0, 0, [])
    assert await driver.records("Case") == [] and await driver.records("Contact") == []
    second = await asyncio.to_thread(sync.apply, [customer_answer()])
    assert second.rejected == []
    [contact] = await driver.records("Contact")
    [case] = await driver.records("Case")
    assert contact["Telegram_User_Id__c"] == "501"
    assert (case["Subject"], case["ContactId"]) == ("Your renewal", contact["Id"])
    assert second.linked[TICKET].contact_id == contact["Id"]
    assert len(await driver.records("CaseComment")) == 1  # the agent's opening message
