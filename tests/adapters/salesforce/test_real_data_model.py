"""The sync against Salesforce's real data model and failure modes: CaseComments written once
without a custom field (ledger, marker, crash recovery), ``Sforce-Auto-Assign`` on every
write, a login that fails leaves the backlog waiting instead of dead-lettering it, and names
for customers without a last name."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine

from connectors.salesforce.api import AUTO_ASSIGN
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.comments import MemoryWriteLedger, SqlWriteLedger, marked
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    Customer,
    SourceRef,
    TicketEvent,
    TopicRenamed,
    encode_event,
)
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.adapters.salesforce.test_case_sync_people import NOW, reply, run
from tests.infra import wait_until

TICKET = "tg:-100:t70"


class CrashBeforeRecording(MemoryWriteLedger):
    """A process that dies right after Salesforce created the records, before the ledger row
    is written (the window crash recovery exists for)."""

    def record(self, sobject: str, written: Mapping[str, str]) -> None:
        if written:
            raise SystemExit("crashed")


async def _comments(driver: SalesforceDriver) -> list[dict[str, Any]]:
    return list(await driver.records("CaseComment"))


async def test_a_comment_written_before_a_crash_is_found_by_its_marker_not_duplicated(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, tmp_path: Path) -> None:
    events = [*conversation(TICKET, customer(70), 0), reply(TICKET, 2, "telegram")]
    crashing = CaseSync(SimpleSalesforceApi(sf), ledger=CrashBeforeRecording())
    with pytest.raises(SystemExit):
        await run(crashing, events)
    [written] = await _comments(driver)
    assert written["CommentBody"] == marked("Alex Agent (in Telegram):\nHere is the price list",
                                            f"{TICKET}#2")

    # the restarted process: its ledger has no record of the comment
    ledger = SqlWriteLedger(create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}"))
    ledger.create()
    restarted = CaseSync(SimpleSalesforceApi(sf), ledger=ledger,
                         integration_username=sim.username)
    result = await run(restarted, events)
    assert (result.comments, result.rejected) == (1, [])
    assert [c["Id"] for c in await _comments(driver)] == [written["Id"]]
    assert ledger.find([f"{TICKET}#2"]) == {f"{TICKET}#2": written["Id"]}

    # once in the ledger, a redelivery does not even look
    before = await driver.api_calls()
    again = await run(restarted, [reply(TICKET, 2, "telegram")])
    assert (again.comments, again.rejected) == (1, [])
    assert len(await _comments(driver)) == 1
    assert await driver.api_calls() - before <= 1  # the Case's details are known: none


async def test_a_marker_written_by_someone_else_is_not_taken_for_telecase_s_comment(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver) -> None:
    events = [*conversation(TICKET, customer(71), 0), reply(TICKET, 2, "telegram")]
    await run(CaseSync(SimpleSalesforceApi(sf)), events[:1])
    [case] = await driver.records("Case")
    agent = await driver.create_user("Agent Copycat")
    await driver.create("CaseComment", {  # an agent pasted telecase's comment, marker included
        "ParentId": case["Id"], "IsPublished": True,
        "CommentBody": marked("Alex Agent (in Telegram):\nHere is the price list",
                              f"{TICKET}#2")}, user_id=agent["Id"])
    result = await run(CaseSync(SimpleSalesforceApi(sf), integration_username=sim.username),
                       events)
    assert (result.comments, result.rejected) == (1, [])
    authors = sorted(c["CreatedById"] for c in await _comments(driver))
    assert authors == sorted([agent["Id"], sim.integration_user_id])


def _record_writes(session: requests.Session) -> list[tuple[str, str, str | None]]:
    """``(method, path, Sforce-Auto-Assign)`` of every write the session sends, read from
    the prepared requests on the wire (a requests response hook)."""
    seen: list[tuple[str, str, str | None]] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent = response.request
        if sent.method in ("POST", "PATCH") and "/sobjects" in (sent.path_url or ""):
            seen.append((sent.method, sent.path_url, sent.headers.get(AUTO_ASSIGN)))

    session.hooks["response"].append(hook)
    return seen


def _renamed(ticket: str, seq: int, name: str) -> TopicRenamed:
    return TopicRenamed(event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, name=name,
                        message_id=100 + seq,
                        occurred_at=NOW, recorded_at=NOW, source=SourceRef(kind="telegram"),
                        actor=Actor(kind="customer"))


async def test_every_update_says_no_assignment_rules_and_an_agent_s_owner_survives(
        sf: Any, driver: SalesforceDriver, http_session: requests.Session) -> None:
    writes = _record_writes(http_session)
    agent = await driver.create_user("Agent Owner")
    queue = await driver.create_user("Default Queue Owner")
    await driver.set_assignment_rule(queue["Id"])  # an active Case assignment rule
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, [*conversation(TICKET, customer(72), 1), reply(TICKET, 3, "telegram")])
    [case] = await driver.records("Case")
    assert case["OwnerId"] != queue["Id"]  # the desk assigns: the rule did not run on create
    await driver.set_case_owner(case["Id"], agent["Id"])
    await run(sync, [_renamed(TICKET, 4, "Renamed by the customer")])
    case = await driver.record("Case", case["Id"])
    assert (case["Subject"], case["OwnerId"]) == ("Renamed by the customer", agent["Id"])
    assert writes and {header for _, _, header in writes} == {"FALSE"}


async def test_with_rules_on_create_only_the_case_s_creation_runs_them(
        sf: Any, driver: SalesforceDriver, http_session: requests.Session) -> None:
    writes = _record_writes(http_session)
    agent = await driver.create_user("Agent Owner")
    queue = await driver.create_user("Default Queue Owner")
    await driver.set_assignment_rule(queue["Id"])
    sync = CaseSync(SimpleSalesforceApi(sf), assign_on_create=True)
    await run(sync, conversation(TICKET, customer(73), 0))
    [case] = await driver.records("Case")
    assert case["OwnerId"] == queue["Id"]  # the org's rule assigned the new Case
    await driver.set_case_owner(case["Id"], agent["Id"])
    await run(sync, [_renamed(TICKET, 4, "Renamed")])
    await run(CaseSync(SimpleSalesforceApi(sf), assign_on_create=True),  # a replay
              conversation(TICKET, customer(73), 0))
    assert (await driver.record("Case", case["Id"]))["OwnerId"] == agent["Id"]
    case_writes = [header for _, path, header in writes if "/Case/" in path]
    assert case_writes == ["TRUE", "FALSE", "FALSE"]


async def _append(log: EmbeddedLog, names: TopicNames, events: list[TicketEvent]) -> None:
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def test_logins_failing_leave_the_backlog_waiting_and_it_resumes_by_itself(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    runner = SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)), max_backoff=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        first = conversation("tg:-100:t74", customer(74), 1)
        await _append(log, names, first)
        await wait_until(lambda: _committed(log, names, len(first)))
        await driver.expire_sessions()
        await driver.start_outage(status=500, scope="all")  # and every login fails
        second = [*conversation("tg:-100:t75", customer(75), 2),
                  reply("tg:-100:t75", 4, "telegram")]
        await _append(log, names, second)
        await asyncio.sleep(1.0)  # several attempts, each a failed login
        assert await log.committed(GROUP, names.ticket_events) == {0: len(first)}
        assert await log.end_offset(names.dead_letters, 0) == 0
        await driver.clear_faults()
        await wait_until(lambda: _committed(log, names, len(first) + len(second)))
        assert [len(await driver.records(t)) for t in ("Case", "Task", "CaseComment")] == \
            [2, 3, 1]
        assert await log.end_offset(names.dead_letters, 0) == 0
    finally:
        stop.set()
        await task
        await log.close()


async def _committed(log: EmbeddedLog, names: TopicNames, n: int) -> bool:
    return await log.committed(GROUP, names.ticket_events) == {0: n}


@pytest.mark.parametrize(("who", "first", "last"), [
    (Customer(telegram_user_id=80, first_name="Anna Maria"), None, "Anna Maria"),
    (Customer(telegram_user_id=81, first_name="Li", last_name="Wei"), "Li", "Wei"),
    (Customer(telegram_user_id=82, username="nameless"), None, "@nameless"),
    (Customer(telegram_user_id=83), None, "Telegram user 83"),
])
async def test_a_customer_without_a_last_name_is_named_as_telegram_shows_them(
        who: Customer, first: str | None, last: str, sf: Any,
        driver: SalesforceDriver) -> None:
    await run(CaseSync(SimpleSalesforceApi(sf)), conversation(f"tg:-100:t{who.telegram_user_id}",
                                                               who, 0))
    [contact] = await driver.records("Contact")
    assert (contact["FirstName"], contact["LastName"]) == (first, last)
