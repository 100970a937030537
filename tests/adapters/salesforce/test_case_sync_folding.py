"""A batch's writes folded into one Composite call (connectors.salesforce.folding), against the
simulator: new people, their Cases and the messages cost two API calls, messages on known
Cases one; the links carry the Cases' numbers and whether they are new; a record Salesforce
refuses rolls the folded call back and the batch is written step by step, so only that
record's event is refused; a replay creates nothing twice; and a batch too big for one call
is written step by step."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.folding import Fold
from simulators.salesforce import SalesforceDriver
from streams.schema.events import Customer, TicketEvent
from tests.adapters.salesforce.test_case_sync import conversation, customer


def run(sync: CaseSync, events: list[TicketEvent]) -> Any:
    return asyncio.to_thread(sync.apply, events)


async def _composites(driver: SalesforceDriver) -> list[dict[str, Any]]:
    return [c for c in await driver.requests() if c["path"].endswith("/composite")]


async def test_new_people_cases_and_messages_cost_two_calls(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    events = [e for n in range(10) for e in conversation(f"tg:-100:t{600 + n}",
                                                          customer(600 + n), 3)]
    before = await driver.api_calls()
    result = await run(sync, events)
    assert await driver.api_calls() - before == 2  # the reads, then every write
    assert (result.contacts, result.cases, result.tasks, result.rejected) == (10, 10, 30, [])
    cases = {c["Telecase_Ticket_Id__c"]: c for c in await driver.records("Case")}
    contacts = {c["Telegram_User_Id__c"]: c["Id"] for c in await driver.records("Contact")}
    for n in range(10):
        ticket = f"tg:-100:t{600 + n}"
        link = result.linked[ticket]
        case = cases[ticket]
        assert (link.case_id, link.case_number, link.created) == (case["Id"],
                                                                  case["CaseNumber"], True)
        assert case["ContactId"] == contacts[str(600 + n)] == link.contact_id
    tasks = await driver.records("Task")
    assert {t["WhatId"] for t in tasks} == {c["Id"] for c in cases.values()}
    assert all(not sync.cases.case_ids[t].startswith("@") for t in cases)

    more = [e for n in range(10)
            for e in conversation(f"tg:-100:t{600 + n}", customer(600 + n), 5)[4:]]
    before = await driver.api_calls()
    result = await run(sync, more)
    assert await driver.api_calls() - before == 1  # known Cases: the writes alone
    assert (result.tasks, result.rejected) == (20, [])


async def test_a_replay_creates_nothing_twice(sf: Any, driver: SalesforceDriver) -> None:
    events = [e for n in range(3) for e in conversation(f"tg:-100:t{700 + n}",
                                                         customer(700 + n), 2)]
    await run(CaseSync(SimpleSalesforceApi(sf)), events)
    result = await run(CaseSync(SimpleSalesforceApi(sf)), events)  # a new process, again
    assert result.rejected == []
    assert not any(link.created for link in result.linked.values())
    counts = [len(await driver.records(t)) for t in ("Contact", "Case", "Task")]
    assert counts == [3, 3, 6]


async def test_a_refused_record_rolls_the_fold_back_and_only_its_event_is_refused(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    who = Customer(telegram_user_id=750)
    await run(sync, conversation("tg:-100:t750", who, 0))
    [contact] = await driver.records("Contact")
    await driver.delete("Contact", contact["Id"])  # an agent deletes the person meanwhile
    await driver.clear_requests()
    events = [*conversation("tg:-100:t751", who, 1),  # its Case names the deleted person
              *conversation("tg:-100:t752", customer(752), 2)]
    result = await run(sync, events)
    assert [key for key, _ in result.rejected] == ["tg:-100:t751", "tg:-100:t751#2"]
    folded = await _composites(driver)
    assert any(c["status"] == 200 for c in folded)  # the folded call was tried first
    cases = {c["Telecase_Ticket_Id__c"] for c in await driver.records("Case")}
    assert cases == {"tg:-100:t750", "tg:-100:t752"}
    assert len(await driver.records("Task")) == 2
    assert not any(p.id.startswith("@") for p in sync.people.known.values())
    assert not any(i.startswith("@") for i in sync.cases.case_ids.values())


async def test_a_batch_too_big_for_one_call_is_written_step_by_step(
        sf: Any, driver: SalesforceDriver) -> None:
    events = [e for n in range(30) for e in conversation(f"tg:-100:t{800 + n}",
                                                          customer(800 + n), 30)]
    result = await run(CaseSync(SimpleSalesforceApi(sf)), events)  # 900 Tasks: 5 collections
    assert (result.contacts, result.cases, result.tasks, result.rejected) == (30, 30, 900, [])
    assert len(await driver.records("Task")) == 900


def test_a_fold_past_five_collections_and_queries_is_refused() -> None:
    fold = Fold("68.0")
    for n in range(5):
        fold.collection("POST", "composite/sobjects", {"records": []}, 0)
        assert fold.refused is None, n
    fold.query("SELECT Id FROM Case", lambda rows: None)
    assert fold.refused is not None
