"""The report fold stays bounded (connectors.salesforce.case_report): a closed ticket whose
final report Salesforce confirmed is pruned, so a long run holds only its open tickets and a
bounded number of closed ones; and a ticket reopened after it was pruned (kept among the
recent closed ones, or forgotten altogether) still gets the right fields: the resolution
cleared, the first response kept, the next closing counted from the opening (the sync runner
reads the forgotten ticket's history from the log). On the Salesforce simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.case_report import ReportFold
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    CaseOwnerChanged,
    TicketEvent,
    TopicClosed,
    TopicReopened,
    encode_event,
)
from tests.adapters.salesforce.test_case_report import TICKET, at, on_case, scenario
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.infra import wait_until


def closed_ticket(n: int) -> list[TicketEvent]:
    ticket = f"tg:-100:t{1000 + n}"
    opened = conversation(ticket, customer(5000 + n), 0)
    return [*opened, TopicClosed(event_id=f"{ticket}#2", ticket_id=ticket, seq=2,
                                 message_id=7, **at(30))]


async def test_a_long_run_keeps_the_report_state_bounded(sf: Any,
                                                         driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf), report_fields=True)
    fold = sync.cases.report
    assert fold is not None
    fold.closed_max = 25
    still_open = conversation("tg:-100:open", customer(42), 0)
    await asyncio.to_thread(sync.apply, still_open)
    for start in range(0, 200, 40):  # 200 tickets opened and closed, 40 a batch
        batch = [e for n in range(start, start + 40) for e in closed_ticket(n)]
        assert (await asyncio.to_thread(sync.apply, batch)).rejected == []
        assert len(fold.closed) <= 25
    assert set(fold.reports) == set(fold.written) == {"tg:-100:open"}
    assert len(fold.closed) == 25
    cases = {c["Telecase_Ticket_Id__c"]: c for c in await driver.records("Case")}
    assert len(cases) == 201
    assert all(cases[f"tg:-100:t{1000 + n}"]["Telecase_Resolution_Seconds__c"] == 1800
               for n in range(200))


def reopened(seq: int, minutes: float) -> TopicReopened:
    return TopicReopened(event_id=f"{TICKET}#{seq}", ticket_id=TICKET, seq=seq,
                         message_id=60 + seq, **at(minutes))


def closed_again(seq: int, minutes: float) -> TopicClosed:
    return TopicClosed(event_id=f"{TICKET}#{seq}", ticket_id=TICKET, seq=seq,
                       message_id=60 + seq, **at(minutes))


@pytest.mark.parametrize("closed_max", [10, 0], ids=["kept", "forgotten"])
async def test_a_reopened_ticket_gets_the_right_fields_after_pruning(
        sf: Any, driver: SalesforceDriver, tmp_path: Path, closed_max: int) -> None:
    names = TopicNames()
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    sync = CaseSync(SimpleSalesforceApi(sf), report_fields=True)
    assert sync.cases.report is not None
    sync.cases.report.closed_max = closed_max
    runner = SyncRunner(log, names, sync)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def write(events: list[TicketEvent]) -> None:
        offsets = await log.append(names.ticket_events, [
            Outgoing(e.ticket_id.encode(), encode_event(e)) for e in events])

        async def synced() -> bool:
            done = (await log.committed(GROUP, names.ticket_events)).get(0, 0)
            return done > offsets[-1]

        await wait_until(synced, 20)

    async def case() -> dict[str, Any]:
        [row] = await driver.records("Case")
        return on_case(row)

    try:
        await write(scenario())  # closed at 11:30: pruned once its report is written
        assert TICKET not in sync.cases.report.reports
        assert (await case())["Telecase_Resolution_Seconds__c"] == 9000
        await write([reopened(10, 160)])
        got = await case()
        assert got["Telecase_Resolution_Seconds__c"] is None  # open again: not resolved
        assert got["Telecase_First_Response_Seconds__c"] == 750  # kept
        await write([closed_again(11, 200)])
        got = await case()
        assert got["Telecase_Resolution_Seconds__c"] == 12000  # from the opening at 9:00
        assert (got["Telecase_SLA_State__c"], got["Telecase_Escalation_Level__c"]) == (
            "breached", 2)
    finally:
        stop.set()
        await task
        await log.close()


async def test_a_pruned_ticket_survives_a_folded_write_rolled_back(
        sf: Any, driver: SalesforceDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reopening of a pruned ticket whose one-call (Composite) write is refused or rolled
    back is written step by step in the same apply, from the state it had: the resolution
    cleared, not left at the first closing's because the ticket was forgotten meanwhile."""
    sync = CaseSync(SimpleSalesforceApi(sf), report_fields=True)
    fold = sync.cases.report
    assert fold is not None
    assert (await asyncio.to_thread(sync.apply, scenario())).rejected == []
    assert TICKET in fold.closed and TICKET not in fold.reports
    monkeypatch.setattr(sync.api, "send_fold", lambda _fold: False)  # refused: not sent
    assert (await asyncio.to_thread(sync.apply, [reopened(10, 160)])).rejected == []
    [row] = await driver.records("Case")
    got = on_case(row)
    assert got["Telecase_Resolution_Seconds__c"] is None  # open again: not resolved
    assert got["Telecase_First_Response_Seconds__c"] == 750


def test_events_that_change_no_field_do_not_grow_the_fold() -> None:
    """An event that moves no reportable field (an owner change, an edit) of a ticket the
    fold does not hold (forgotten, or never seen) adds nothing to it, and a kept closed ticket
    it revives goes back among the closed: the fold holds only what it must."""
    fold = ReportFold(closed_max=1)
    events = scenario()
    for e in fold.changes(events).items():
        fold.confirm(e[0], e[1][1])
    assert TICKET in fold.closed and fold.reports == {}
    owner = CaseOwnerChanged(event_id=f"{TICKET}#10", ticket_id=TICKET, seq=10,
                             owner_id="005000000000009AAA", owner_name="Bo",
                             previous_owner_id=None, **at(170))
    assert fold.changes([owner]) == {}
    assert fold.reports == {} and fold.written == {} and list(fold.closed) == [TICKET]
    stranger = owner.model_copy(update={"ticket_id": "tg:-100:t77",
                                        "event_id": "tg:-100:t77#4", "seq": 4})
    assert fold.changes([stranger]) == {}
    assert fold.reports == {} and fold.written == {} and list(fold.closed) == [TICKET]
