"""Contact or Lead, phone and username matching, FeedItem mode, agent replies and errors,
against the Salesforce simulator through the unmodified simple-salesforce client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from simple_salesforce.api import Salesforce

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.case_sync import (
    IGNORED,
    CaseSync,
    CustomerObject,
    SimpleSalesforceApi,
    normalize_phone,
    same_phone,
)
from connectors.salesforce.comments import marked
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.schema.events import (
    EVENT_TYPES,
    Actor,
    Agent,
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    Customer,
    SalesforceCaseLinked,
    SourceRef,
    TicketEvent,
)
from tests.adapters.salesforce.test_case_sync import conversation

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BASE: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                        "source": SourceRef(kind="telegram"), "actor": Actor(kind="agent")}


class PhoneCustomer(Customer):
    """A customer with the ``phone`` the schema will carry (``Customer.phone``)."""

    phone: str | None = None


class FailingAfterCases(SimpleSalesforceApi):
    """Salesforce goes down once the people and the Cases are written."""

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]:
        if sobject in ("Task", "CaseComment"):
            raise TransientError("salesforce unavailable: 503")
        return super().upsert_collection(sobject, external_id_field, records,
                                         auto_assign=auto_assign)


def run(sync: CaseSync, events: list[TicketEvent]) -> Any:
    return asyncio.to_thread(sync.apply, events)


def reply(ticket: str, seq: int, via: Literal["telegram", "salesforce"],
          text: str = "Here is the price list") -> AgentReplied:
    return AgentReplied(event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq,
                        via=via,
                        message_id=99 if via == "telegram" else None,
                        comment_id="00a000000000001AAA" if via == "salesforce" else None,
                        agent=Agent(telegram_user_id=7, display_name="Alex Agent"), text=text,
                        **BASE)


def test_phone_numbers_are_normalised_and_compared_as_digits() -> None:
    assert normalize_phone("7 (900) 123-45-67") == "+79001234567"
    assert normalize_phone("0044 7700 900123") == "+447700900123"
    assert normalize_phone("12") is None and normalize_phone(None) is None
    assert same_phone("+14155551212", "(415) 555-1212")
    assert same_phone("+447700900123", "07700 900123")
    assert not same_phone("+14155551212", "555-1212")  # too short to be sure
    assert not same_phone("+14155551212", "+14155551213")


def test_every_event_type_is_written_or_ignored_on_purpose() -> None:
    assert {SalesforceCaseLinked, CaseStatusChanged, CaseOwnerChanged} <= set(IGNORED)
    assert set(IGNORED) < set(EVENT_TYPES)


async def test_lead_mode_creates_a_lead_and_links_the_case_to_it(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf), customer_object="Lead", lead_source="Telegram")
    events = conversation("tg:-100:t40", Customer(telegram_user_id=40, username="dan",
                                                  first_name="Dan", last_name="Dee"), 2)
    result = await run(sync, events)
    assert (result.leads, result.contacts, result.cases, result.tasks) == (1, 0, 1, 2)
    [lead] = await driver.records("Lead")
    assert (lead["LastName"], lead["Company"], lead["LeadSource"]) == \
        ("Dee", "[not provided]", "Telegram")
    [case] = await driver.records("Case")
    assert case["Telecase_Lead__c"] == lead["Id"] and case["ContactId"] is None
    assert {t["WhoId"] for t in await driver.records("Task")} == {None}  # no WhatId+Lead
    link = result.linked["tg:-100:t40"]
    assert (link.case_id, link.case_number, link.lead_id, link.contact_id, link.created) == \
        (case["Id"], case["CaseNumber"], lead["Id"], None, True)
    assert await driver.records("Contact") == []


async def test_an_existing_lead_is_matched_in_contact_mode_and_not_duplicated(
        sf: Any, driver: SalesforceDriver) -> None:
    lead = await driver.create("Lead", {"LastName": "Known", "Company": "ACME",
                                        "Telegram_User_Id__c": "41"})
    result = await run(CaseSync(SimpleSalesforceApi(sf)),
                       conversation("tg:-100:t41", Customer(telegram_user_id=41), 1))
    assert result.linked["tg:-100:t41"].lead_id == lead["Id"]
    assert await driver.records("Contact") == []
    assert len(await driver.records("Lead")) == 1


async def test_a_phone_finds_a_contact_someone_else_created(
        sf: Any, driver: SalesforceDriver) -> None:
    known = await driver.create("Contact", {"LastName": "Typed By Sales",
                                            "MobilePhone": "(415) 555-1212"})
    await driver.create("Contact", {"LastName": "Other", "MobilePhone": "+1 650 555 1212"})
    who = PhoneCustomer(telegram_user_id=42, username="eve", phone="14155551212")
    result = await run(CaseSync(SimpleSalesforceApi(sf)), conversation("tg:-100:t42", who, 1))
    assert result.linked["tg:-100:t42"].contact_id == known["Id"]
    contact = await driver.record("Contact", known["Id"])
    assert (contact["Telegram_User_Id__c"], contact["Telegram_Username__c"]) == ("42", "eve")
    assert contact["MobilePhone"] == "(415) 555-1212"  # what sales typed stays
    assert len(await driver.records("Contact")) == 2


async def test_the_telegram_id_wins_over_phone_and_username(
        sf: Any, driver: SalesforceDriver) -> None:
    await driver.create("Contact", {"LastName": "ByName", "Telegram_Username__c": "fay"})
    await driver.create("Contact", {"LastName": "ByPhone", "Phone": "+49 30 1234567"})
    by_id = await driver.create("Lead", {"LastName": "ById", "Company": "x",
                                         "Telegram_User_Id__c": "43"})
    who = PhoneCustomer(telegram_user_id=43, username="fay", phone="+49301234567")
    result = await run(CaseSync(SimpleSalesforceApi(sf)), conversation("tg:-100:t43", who, 0))
    assert result.linked["tg:-100:t43"].lead_id == by_id["Id"]


async def test_a_username_taken_by_another_telegram_user_is_no_match(
        sf: Any, driver: SalesforceDriver) -> None:
    await driver.create("Contact", {"LastName": "Old", "Telegram_Username__c": "gus",
                                    "Telegram_User_Id__c": "999"})
    await run(CaseSync(SimpleSalesforceApi(sf)),
              conversation("tg:-100:t44", Customer(telegram_user_id=44, username="gus"), 0))
    ids = sorted(c["Telegram_User_Id__c"] for c in await driver.records("Contact"))
    assert ids == ["44", "999"]


async def test_a_retry_after_a_partial_failure_finds_what_it_created(
        sf: Any, driver: SalesforceDriver) -> None:
    events = [*conversation("tg:-100:t45", Customer(telegram_user_id=45, username="hal"), 2),
              reply("tg:-100:t45", 9, "telegram")]
    kinds: tuple[CustomerObject, ...] = ("Contact", "Lead")
    for customer_object in kinds:
        sync = CaseSync(FailingAfterCases(sf), customer_object=customer_object)
        with pytest.raises(TransientError):
            await run(sync, events)
        # a new process (nothing remembered) takes the same batch again
        result = await run(CaseSync(SimpleSalesforceApi(sf),
                                    customer_object=customer_object),
                           events)
        assert result.rejected == []
        events = [*conversation("tg:-100:t46", Customer(telegram_user_id=46,
                                                        username="ian"), 2),
                  reply("tg:-100:t46", 9, "telegram")]
    counts = [len(await driver.records(t)) for t in ("Contact", "Lead", "Case", "Task",
                                                      "CaseComment")]
    assert counts == [1, 1, 2, 4, 2]


async def test_locked_rows_are_retried_in_place(sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf), sleep=lambda _: None)
    await driver.lock_rows(2)
    result = await run(sync, conversation("tg:-100:t47", Customer(telegram_user_id=47), 2))
    assert (result.contacts, result.cases, result.tasks, result.rejected) == (1, 1, 2, [])
    await driver.lock_rows(1000)
    with pytest.raises(TransientError, match="UNABLE_TO_LOCK_ROW"):
        await run(sync, conversation("tg:-100:t48", Customer(telegram_user_id=48), 1))


async def test_feed_item_mode_posts_each_message_once(
        sf: Any, driver: SalesforceDriver) -> None:
    events = conversation("tg:-100:t50", Customer(telegram_user_id=50, username="jo"), 3)
    result = await run(CaseSync(SimpleSalesforceApi(sf), message_object="FeedItem"), events)
    assert (result.feed_items, result.tasks, result.rejected) == (3, 0, [])
    again = await run(CaseSync(SimpleSalesforceApi(sf), message_object="FeedItem"), events)
    assert (again.feed_items, again.rejected) == (3, [])  # already there: counted, not doubled
    [case] = await driver.records("Case")
    posts = await driver.records("FeedItem")
    assert len(posts) == 3 and {p["ParentId"] for p in posts} == {case["Id"]}
    assert posts[0]["Body"] == marked("Telegram message from @jo:\nquestion 0", "tg:-100:t50#2")
    assert await driver.records("Task") == []


async def test_an_agent_reply_in_telegram_becomes_one_case_comment(
        sf: Any, driver: SalesforceDriver) -> None:
    ticket = "tg:-100:t51"
    opened = conversation(ticket, Customer(telegram_user_id=51), 0)
    events = [*opened, reply(ticket, 2, "telegram"), reply(ticket, 3, "salesforce", "no")]
    first = await run(CaseSync(SimpleSalesforceApi(sf)), events)
    assert (first.comments, first.rejected) == (1, [])
    retried = await run(CaseSync(SimpleSalesforceApi(sf)), events[1:])  # a restart: no cache
    assert (retried.comments, retried.rejected) == (1, [])
    [case] = await driver.records("Case")
    [comment] = await driver.records("CaseComment")
    assert comment["ParentId"] == case["Id"] and comment["IsPublished"] is True
    assert comment["CommentBody"] == marked("Alex Agent (in Telegram):\nHere is the price list",
                                            f"{ticket}#2")  # no custom field on CaseComment


async def test_events_from_salesforce_write_nothing(sf: Any, driver: SalesforceDriver) -> None:
    ticket = "tg:-100:t52"
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, conversation(ticket, Customer(telegram_user_id=52), 0))
    base = {**BASE, "source": SourceRef(kind="salesforce", change_id="c1"),
            "ticket_id": ticket}
    events: list[TicketEvent] = [
        reply(ticket, 2, "salesforce"),
        SalesforceCaseLinked(event_id=f"{ticket}#3", seq=3, case_id="500000000000001AAA",
                             case_number="00001001", **base),
        CaseStatusChanged(event_id=f"{ticket}#4", seq=4, status="Working",
                          previous_status="New", is_closed=False, **base),
        CaseOwnerChanged(event_id=f"{ticket}#5", seq=5, owner_id="005000000000001AAA",
                         owner_name="Alex", previous_owner_id=None, **base)]
    before = await driver.api_calls()
    result = await run(sync, events)
    assert await driver.api_calls() == before
    assert (result.cases, result.comments, result.rejected, result.linked) == (0, 0, [], {})


async def test_api_calls_per_message_fall_with_batch_size(
        sf: Any, driver: SalesforceDriver) -> None:
    events = [e for n in range(20) for e in
              conversation(f"tg:-100:t{300 + n}", Customer(telegram_user_id=3000 + n), 10)]
    one_by_one = CaseSync(SimpleSalesforceApi(sf))
    before = await driver.api_calls()
    for event in events:
        await run(one_by_one, [event])
    single = await driver.api_calls() - before
    batched = [e for n in range(20) for e in
               conversation(f"tg:-100:t{400 + n}", Customer(telegram_user_id=4000 + n), 10)]
    before = await driver.api_calls()
    result = await run(CaseSync(SimpleSalesforceApi(sf)), batched)
    together = await driver.api_calls() - before
    assert result.tasks == 200 and not result.rejected
    assert single >= 200 and together <= 8  # 200 messages: >= 1 call each vs a handful


async def test_a_record_salesforce_rejects_is_returned_not_raised(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    who = Customer(telegram_user_id=53)
    await run(sync, conversation("tg:-100:t53", who, 0))
    [contact] = await driver.records("Contact")
    await driver.delete("Contact", contact["Id"])  # an agent deletes the person meanwhile
    result = await run(sync, conversation("tg:-100:t55", who, 1))
    assert [key for key, _ in result.rejected] == ["tg:-100:t55", "tg:-100:t55#2"]
    assert result.rejected[0][1].split(":")[0] in {"ENTITY_IS_DELETED",
                                                   "INVALID_CROSS_REFERENCE_KEY"}


async def test_a_request_salesforce_refuses_is_permanent(sf: Any) -> None:
    api = SimpleSalesforceApi(sf)
    with pytest.raises(PermanentError, match=r"INVALID_FIELD|MALFORMED_QUERY"):
        await asyncio.to_thread(api.query_many, ["SELECT Nope FROM Case"])


async def test_an_expired_session_logs_in_again(sf: Any, sim: SalesforceSimulator,
                                               driver: SalesforceDriver,
                                               http_session: Any) -> None:
    await driver.expire_sessions()  # simple-salesforce holding credentials logs in itself
    result = await run(CaseSync(SimpleSalesforceApi(sf)),
                       conversation("tg:-100:t54", Customer(telegram_user_id=54), 1))
    assert result.tasks == 1
    # a client built from a session id cannot: ``login`` gives a new one
    bare = Salesforce(instance_url=sf.base_url.split("/services")[0], session_id=sf.session_id,
                      session=http_session)
    await driver.expire_sessions()
    with pytest.raises(TransientError, match="session expired"):  # waits, never dead-letters
        await asyncio.to_thread(SimpleSalesforceApi(bare).query_many, ["SELECT Id FROM Case"])
    api = SimpleSalesforceApi(bare, login=lambda: sf)
    await driver.expire_sessions()
    [rows] = await asyncio.to_thread(api.query_many, ["SELECT Id FROM Case"])
    assert len(rows) == 1
