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
from connectors.salesforce.resync import RESYNC_GROUP, RESYNC_KEY, ResyncRequest
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
