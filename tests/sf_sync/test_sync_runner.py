"""The sync as a consumer of ticket.events on the embedded log: a Salesforce outage leaves the
backlog in the log, and it drains when Salesforce is back, with no duplicates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.simulator import SalesforceDriver
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from streams.bus import Outgoing
from streams.embedded_log import EmbeddedLog
from streams.schema.events import encode_event
from streams.topics import TopicNames
from tests.sf_sync.test_case_sync import conversation, customer


async def _until(predicate: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_outage_keeps_the_backlog_and_it_drains_once(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    runner = SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)), max_backoff=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        first = conversation("tg:-100:t1", customer(1), 2)
        await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                               for e in first])
        await _until(lambda: _count(driver, "Task", 2))
        await driver.start_outage()  # Salesforce down until cleared
        second = conversation("tg:-100:t2", customer(2), 3)
        await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                               for e in second])
        await asyncio.sleep(1.0)  # several failed attempts, backing off
        assert await log.committed(GROUP, names.ticket_events) == {0: len(first)}
        await driver.clear_faults()
        await _until(lambda: _count(driver, "Task", 5))
        assert [len(await driver.records(t)) for t in ("Contact", "Case", "Task")] == [2, 2, 5]
        await _until(lambda: _committed(log, names, len(first) + len(second)))
    finally:
        stop.set()
        await task
        await log.close()


async def _count(driver: SalesforceDriver, sobject: str, n: int) -> bool:
    return len(await driver.records(sobject)) == n


async def _committed(log: EmbeddedLog, names: TopicNames, n: int) -> bool:
    return await log.committed(GROUP, names.ticket_events) == {0: n}
