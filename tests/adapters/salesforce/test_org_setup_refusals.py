"""An org that is not set up for telecase (only Salesforce's standard schema: no custom fields,
Case Origin without Telegram) makes Salesforce refuse whole requests (INVALID_FIELD, NOT_FOUND
on the external id): the sync holds the backlog, dead-letters nothing, warns with the refused
field and "run `telecase salesforce check`", counts ``org_setup`` waits, and resumes by itself
once ``telecase salesforce setup`` created what was missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from connectors.errors import PermanentError
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.sync_runner import GROUP, WAITS, SyncRunner, org_setup_refusal
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import encode_event
from telecase.bootstrap.salesforce import connect
from telecase.ops.salesforce_org import run_setup
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.adapters.salesforce.test_org_setup import _settings, fresh_clients, org
from tests.infra import wait_until

__all__ = ["fresh_clients", "org"]


def test_whole_request_refusals_about_the_org_are_told_apart() -> None:
    def refused(text: str) -> str | None:
        return org_setup_refusal(PermanentError(f"salesforce rejected the request: {text}"))

    assert refused("INVALID_FIELD: No such column 'Telegram_User_Id__c' on entity "
                   "'Contact'") == "INVALID_FIELD: Telegram_User_Id__c on Contact"
    assert refused("NOT_FOUND: Provided external ID field does not exist or is not "
                   "accessible: Telecase_Ticket_Id__c") == "NOT_FOUND: Telecase_Ticket_Id__c"
    assert refused("API_DISABLED_FOR_ORG: API is not enabled for this Organization or "
                   "Partner") is not None
    assert refused("INSUFFICIENT_ACCESS_OR_READONLY: insufficient access rights") is not None
    assert refused("MALFORMED_QUERY: unexpected token") is None
    assert refused("HTTP 400") is None


def _waits() -> float:
    return WAITS.labels("org_setup")._value.get()


async def test_an_org_not_set_up_holds_the_backlog_until_setup(
        org: SalesforceSimulator, tmp_path: Path) -> None:
    settings = _settings(org)
    sync = CaseSync(SimpleSalesforceApi(await connect(settings)))
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    events = conversation("tg:-100:t1", customer(1), 2)
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])
    runner = SyncRunner(log, names, sync, max_backoff=0.2)
    stop = asyncio.Event()
    before = _waits()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(runner.run(stop))
        try:
            await wait_until(lambda: _more(before, 3))
            warnings = [x for x in logs if x["event"] == "salesforce.sync.org_setup"]
            assert warnings and all(x["log_level"] == "warning" for x in warnings)
            assert "Telegram_User_Id__c" in warnings[0]["refused"]
            assert "run `telecase salesforce check`" in warnings[0]["advice"]
            assert await log.committed(GROUP, names.ticket_events) == {}
            assert await log.end_offsets(names.dead_letters) in ({}, {0: 0})

            await run_setup(settings, dry_run=False)  # the admin fixes the org

            async def drained() -> bool:
                return await log.committed(GROUP, names.ticket_events) == {0: len(events)}
            await wait_until(drained, timeout=30)
        finally:
            stop.set()
            await task
    assert await log.end_offsets(names.dead_letters) in ({}, {0: 0})
    await log.close()
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        assert [len(await driver.records(t)) for t in ("Contact", "Case", "Task")] == [1, 1, 2]


async def _more(before: float, n: int) -> bool:
    return _waits() >= before + n
