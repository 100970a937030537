"""Ticket events to Contact, Case and Task, against the Salesforce simulator through the
unmodified simple-salesforce client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.errors import TransientError
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from simulators.salesforce import SalesforceDriver
from streams.schema.events import (
    Actor,
    Customer,
    CustomerMessageReceived,
    SourceRef,
    TicketEvent,
    TicketOpened,
    TopicClosed,
    TopicRenamed,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def customer(uid: int, username: str | None = None) -> Customer:
    return Customer(telegram_user_id=uid, username=username, first_name=f"Prospect{uid}")


def conversation(ticket: str, who: Customer, messages: int) -> list[TicketEvent]:
    base: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                            "source": SourceRef(kind="telegram"),
                            "actor": Actor(kind="customer")}
    events: list[TicketEvent] = [TicketOpened(
        event_id=f"{ticket}#1", ticket_id=ticket, seq=1, channel="forum_topic", chat_id=-100,
        thread_id=5, thread_key="x", subject=f"Inquiry {ticket}", subject_message_id=5,
        customer=who, customer_message_id=5, **base)]
    for i in range(messages):
        events.append(CustomerMessageReceived(
            event_id=f"{ticket}#{i + 2}", ticket_id=ticket, seq=i + 2, message_id=10 + i,
            sender=who, text=f"question {i}", content_kind="text", message_version=0,
            reply_to_message_id=None, **base))
    return events


async def test_a_conversation_becomes_one_contact_one_case_and_its_tasks(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    events = conversation("tg:-100:t5", customer(11, "ann"), 3)
    result = await asyncio.to_thread(sync.apply, events)
    assert (result.contacts, result.cases, result.tasks, result.rejected) == (1, 1, 3, [])
    [contact] = await driver.records("Contact")
    [case] = await driver.records("Case")
    tasks = await driver.records("Task")
    assert contact["Telegram_User_Id__c"] == "11" and contact["Telegram_Username__c"] == "ann"
    assert case["ContactId"] == contact["Id"] and case["Origin"] == "Telegram"
    assert case["Telecase_Ticket_Id__c"] == "tg:-100:t5" and case["Subject"].startswith("Inq")
    assert sorted(t["Description"] for t in tasks) == ["question 0", "question 1", "question 2"]
    assert {t["WhatId"] for t in tasks} == {case["Id"]}

    # the same events again (a retry, a restart, a replay): nothing new in Salesforce
    again = CaseSync(SimpleSalesforceApi(sf))
    await asyncio.to_thread(again.apply, events)
    assert [len(await driver.records(t)) for t in ("Contact", "Case", "Task")] == [1, 1, 3]


async def test_renames_and_closing_update_the_case(sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    events = conversation("tg:-100:t7", customer(12), 0)
    base: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                            "source": SourceRef(kind="telegram"), "actor": Actor(kind="customer")}
    events += [TopicRenamed(event_id="tg:-100:t7#2", ticket_id="tg:-100:t7", seq=2,
                            message_id=8, name="Pricing: ACME", **base),
               TopicClosed(event_id="tg:-100:t7#3", ticket_id="tg:-100:t7", seq=3,
                           message_id=9, **base)]
    await asyncio.to_thread(sync.apply, events)
    [case] = await driver.records("Case")
    assert (case["Subject"], case["Status"]) == ("Pricing: ACME", "Closed")


async def test_an_existing_contact_is_matched_by_username_and_linked(
        sf: Any, driver: SalesforceDriver) -> None:
    known = await driver.create("Contact", {"LastName": "Known", "Telegram_Username__c": "bea"})
    sync = CaseSync(SimpleSalesforceApi(sf))
    await asyncio.to_thread(sync.apply, conversation("tg:-100:t9", customer(13, "bea"), 1))
    [contact] = await driver.records("Contact")
    assert contact["Id"] == known["Id"] and contact["Telegram_User_Id__c"] == "13"
    [case] = await driver.records("Case")
    assert case["ContactId"] == known["Id"]


async def test_api_calls_per_message_fall_as_volume_rises(sf: Any,
                                                          driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    events = [e for n in range(40) for e in conversation(f"tg:-100:t{100 + n}",
                                                         customer(1000 + n), 10)]
    before = await driver.api_calls()
    result = await asyncio.to_thread(sync.apply, events)
    calls = await driver.api_calls() - before
    assert (result.cases, result.tasks) == (40, 400)
    assert calls / 400 <= 0.05  # 400 messages in a handful of collection calls


async def test_an_outage_is_transient_and_the_retry_creates_no_duplicates(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    events = conversation("tg:-100:t20", customer(20), 2)
    await driver.start_outage(count=2)  # the next two API calls answer 503
    with pytest.raises(TransientError):
        await asyncio.to_thread(sync.apply, events)
    await driver.clear_faults()
    await asyncio.to_thread(sync.apply, events)
    assert [len(await driver.records(t)) for t in ("Contact", "Case", "Task")] == [1, 1, 2]


async def test_the_daily_limit_is_transient(sf: Any, driver: SalesforceDriver) -> None:
    await driver.exhaust_api_limit()
    with pytest.raises(TransientError, match="refused"):
        await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                                conversation("tg:-100:t30", customer(30), 1))
