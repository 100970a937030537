"""``telecase deadletter retry`` of the Salesforce sync's letters, on the embedded log: a value
a restricted picklist refuses is dead-lettered; once the admin adds it, a retry re-syncs the
ticket from the log through the sync only (nothing appended to ticket.events), so the refused
value reaches its Case once, a newer value of the same field is not overwritten by the older
one, and a second retry (or the same request twice) writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.resync import (
    RESYNC_GROUP,
    RESYNC_KEY,
    ResyncRequest,
    current_view,
)
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent, encode_event
from telecase.ops.deadletter import read_letters, retry
from tests.adapters.salesforce.test_assignment_escalation import (
    comment,
    escalated,
    only_case,
    set_field,
)
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.infra import wait_until

FIRST, SECOND = "tg:-100:t1", "tg:-100:t2"
PRIORITIES = ["High", "Medium", "Low"]


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = await EmbeddedLog.open(tmp_path / "log.sqlite")
    yield opened
    await opened.close()


async def _end(log: EmbeddedLog, topic: str) -> int:
    return sum((await log.end_offsets(topic)).values())


async def test_a_refused_value_is_retried_to_its_case_once(
        sf: Any, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    names = TopicNames()
    await driver.restrict_picklist("Case", "Priority", PRIORITIES)
    events: list[TicketEvent] = [
        *conversation(FIRST, customer(1), 1),
        escalated(FIRST, 3, set_field("Priority", "Urgent")),  # refused until "Urgent" exists
        escalated(FIRST, 4, set_field("IsEscalated", True), comment("Escalated")),
        *conversation(SECOND, customer(2), 0),
        escalated(SECOND, 2, set_field("Priority", "Urgent")),  # refused
        escalated(SECOND, 3, set_field("Priority", "High"))]  # newer: must stay
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])
    stop = asyncio.Event()
    task = asyncio.create_task(SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)),
                                          max_backoff=0.2).run(stop))
    try:
        async def synced() -> bool:
            return sum((await log.committed(GROUP, names.ticket_events)).values()) == len(events)
        await wait_until(synced)
        index = await read_letters(log, names)
        letters = sorted(index.letters.values(), key=lambda x: x.fields["key"])
        assert [(x.stage, x.reason, x.fields["key"]) for x in letters] == [
            ("salesforce", "salesforce_rejected", f"{FIRST}#3"),
            ("salesforce", "salesforce_rejected", f"{SECOND}#2")]
        assert (await only_case(driver, FIRST))["Priority"] == "Medium"

        await driver.restrict_picklist("Case", "Priority", [*PRIORITIES, "Urgent"])  # fixed
        events_end = await _end(log, names.ticket_events)
        outcomes = await retry(log, names, letters)
        assert [o.action for o in outcomes] == ["retried", "retried"]

        async def resynced() -> bool:
            return (await log.committed(RESYNC_GROUP, names.dead_letters)) == {
                0: await _end(log, names.dead_letters)}
        await wait_until(resynced)
        one, two = await only_case(driver, FIRST), await only_case(driver, SECOND)
        assert (one["Priority"], one["IsEscalated"]) == ("Urgent", True)
        assert two["Priority"] == "High"  # the older refused value is not written over it
        assert await _end(log, names.ticket_events) == events_end  # nothing re-appended
        counts = [len(await driver.records(t)) for t in ("Case", "Task", "CaseComment")]
        assert counts == [2, 1, 1]
        index = await read_letters(log, names)
        assert len(index.letters) == 2 and all(x.retried for x in index.letters.values())

        again = await retry(log, names, list(index.letters.values()))
        assert [o.action for o in again] == ["already_retried", "already_retried"]
        # the same request twice (a crash between the request and its marker): harmless
        request = ResyncRequest(letter=letters[0].id, ticket_id=FIRST,
                                topic=names.ticket_events, partition=0,
                                requested_at=datetime.now(UTC), requested_by="test")
        await log.append(names.dead_letters, [Outgoing(RESYNC_KEY,
                                                       request.model_dump_json().encode())])
        await wait_until(resynced)
        assert [len(await driver.records(t)) for t in ("Case", "Task", "CaseComment")] \
            == counts
        assert len((await read_letters(log, names)).letters) == 2
    finally:
        stop.set()
        await task


def test_a_resync_leaves_out_what_an_agent_changed_later_in_salesforce() -> None:
    from streams.runtime.bus import Record
    from streams.schema.events import (
        CaseOwnerChanged,
        CaseStatusChanged,
        TicketClosed,
        TopicReopened,
    )
    from streams.schema.events.base import Actor, SourceRef
    from tests.adapters.salesforce.test_assignment_escalation import DESK, assigned
    from tests.adapters.salesforce.test_case_sync import NOW

    salesforce = {"source": SourceRef(kind="salesforce"), "actor": Actor(kind="system")}
    ticket = FIRST
    base = {"ticket_id": ticket, "occurred_at": NOW, "recorded_at": NOW}
    events: list[TicketEvent] = [
        *conversation(ticket, customer(1), 0),
        TicketClosed(event_id=f"{ticket}#2", seq=2, reason="done", **{**DESK, **base}),
        assigned(ticket, 3, "005000000000001AAA"),
        CaseStatusChanged(event_id=f"{ticket}#4", seq=4, status="Working",
                          previous_status="Closed", is_closed=False, **{**salesforce, **base}),
        CaseOwnerChanged(event_id=f"{ticket}#5", seq=5, owner_id="005000000000002AAA",
                         owner_name="Bo", previous_owner_id=None, **{**salesforce, **base}),
        TopicReopened(event_id=f"{ticket}#6", seq=6, message_id=9, **{**DESK, **base}),
        assigned(ticket, 7, "005000000000003AAA")]
    records = [Record("ticket.events", 0, i, ticket.encode(), encode_event(e), 0.0)
               for i, e in enumerate(events)]
    kept = [r.offset for r in current_view(records)]
    # the close before the agent's status and the assignment before the agent's owner go;
    # what came after the agent's changes stays
    assert kept == [0, 3, 4, 5, 6]
