"""A sync restarted while a ticket waits for its customer (a topic the team opened) holds it
again from the log: the customer's first message makes the Case with the Contact, nothing is
dead-lettered, and events the restarted sync sees before that message write no Case
(``connectors.salesforce.holds``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.holds import CustomerHold
from connectors.salesforce.sync_runner import SyncRunner
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent, TopicRenamed, encode_event
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.adapters.salesforce.test_case_sync_holds import (
    BASE,
    TICKET,
    customer_answer,
    opened_by_agent,
)
from tests.adapters.salesforce.test_sync_quarantine import _run_until_committed


async def _append(log: EmbeddedLog, names: TopicNames, events: list[TicketEvent]) -> None:
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def _sync_all(log: EmbeddedLog, names: TopicNames, sf: Any, n: int) -> None:
    """A sync started afresh (an empty hold) until ``n`` events are committed."""
    runner = SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)), max_backoff=0.2)
    await _run_until_committed(log, names, runner, n)


def renamed() -> TopicRenamed:
    return TopicRenamed(event_id=f"{TICKET}#2b", seq=2, name="Your renewal, Ann",
                        message_id=60, actor=opened_by_agent()[0].actor, **BASE)


async def test_a_restart_while_a_ticket_waits_keeps_it_held(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    try:
        await _append(log, names, [*opened_by_agent(),
                                   *conversation("tg:-100:t1", customer(11, "bo"), 1)])
        await _sync_all(log, names, sf, 2 + 2)
        assert [c["Telecase_Ticket_Id__c"] for c in await driver.records("Case")] \
            == ["tg:-100:t1"]

        await _append(log, names, [renamed()])  # restarted: the rename alone writes no Case
        await _sync_all(log, names, sf, 5)
        assert len(await driver.records("Case")) == 1

        await _append(log, names, [customer_answer()])  # restarted again: the customer
        await _sync_all(log, names, sf, 6)
        case = next(c for c in await driver.records("Case")
                    if c["Telecase_Ticket_Id__c"] == TICKET)
        contact = next(c for c in await driver.records("Contact")
                       if c["Telegram_User_Id__c"] == "501")
        assert (case["ContactId"], case["Subject"]) == (contact["Id"], "Your renewal, Ann")
        assert len(await driver.records("CaseComment")) == 1  # the agent's opening message
        assert len(await driver.records("Task")) == 2  # bo's message and Ann's
        assert await log.read(names.dead_letters, 0, 0, 10) == []
    finally:
        await log.close()


def test_restore_holds_only_the_tickets_still_waiting() -> None:
    hold = CustomerHold()
    answered = [*opened_by_agent(), customer_answer()]
    assert hold.restore(answered) == set() and hold.held == {}
    assert hold.restore(opened_by_agent()) == {TICKET}
    assert [e.seq for e in hold.held[TICKET]] == [1, 2]
