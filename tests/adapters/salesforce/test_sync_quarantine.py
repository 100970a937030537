"""The Salesforce sync under the quarantine rule: a bug raising on one event dead-letters that
event (reason ``sync_failed``, stage ``salesforce``, origin, traceback) and the sync goes on;
a fault of its own infrastructure (the ledger's database locked) is waited out, never
dead-lettered."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi, SyncResult
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import TicketEvent, encode_event
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.infra import wait_until


class _BreaksOnOneEvent(CaseSync):
    """The real sync with a bug: it raises on any batch holding ``poison``."""

    def __init__(self, api: SimpleSalesforceApi, poison: str) -> None:
        super().__init__(api)
        self.poison = poison

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        if any(e.event_id == self.poison for e in events):
            raise KeyError("a bug in the sync")
        return super().apply(events)


class _LedgerLocked(CaseSync):
    """The real sync whose ledger database is locked for the first ``times`` batches."""

    def __init__(self, api: SimpleSalesforceApi, times: int) -> None:
        super().__init__(api)
        self.times = times

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        if self.times:
            self.times -= 1
            raise sqlite3.OperationalError("database is locked")
        return super().apply(events)


async def _append(log: EmbeddedLog, names: TopicNames, events: list[TicketEvent]) -> None:
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def _letters(log: EmbeddedLog, names: TopicNames) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r.value)
            for r in await log.read(names.dead_letters, 0, 0, 100)]


async def _run_until_committed(log: EmbeddedLog, names: TopicNames, runner: SyncRunner,
                               n: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def committed() -> bool:
        return sum((await log.committed(GROUP, names.ticket_events)).values()) == n
    try:
        await wait_until(committed)
    finally:
        stop.set()
        await task


async def test_a_bug_on_one_event_dead_letters_it_and_the_sync_goes_on(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    events = conversation("tg:-100:t1", customer(1), 3) + conversation("tg:-100:t2",
                                                                       customer(2), 1)
    poison = events[2]  # the second message of t1
    runner = SyncRunner(log, names, _BreaksOnOneEvent(SimpleSalesforceApi(sf),
                                                      poison.event_id))
    try:
        await _append(log, names, events)
        await _run_until_committed(log, names, runner, len(events))
        [letter] = await _letters(log, names)
    finally:
        await log.close()
    assert (letter.reason, letter.consumer, letter.key) == ("sync_failed", "salesforce",
                                                            poison.ticket_id)
    assert (letter.topic, letter.partition, letter.offset) == (names.ticket_events, 0, 2)
    assert letter.detail.startswith("KeyError") and letter.traceback
    assert "KeyError" in letter.traceback and "apply" in letter.traceback
    assert base64.b64decode(letter.payload_b64) == encode_event(poison)
    # everything else went through
    assert [len(await driver.records(t)) for t in ("Case", "Task")] == [2, 3]


async def test_a_locked_ledger_is_waited_out_not_dead_lettered(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    names = TopicNames()
    events = conversation("tg:-100:t1", customer(1), 2)
    runner = SyncRunner(log, names, _LedgerLocked(SimpleSalesforceApi(sf), 3),
                        max_backoff=0.1)
    try:
        await _append(log, names, events)
        await _run_until_committed(log, names, runner, len(events))
        assert await _letters(log, names) == []
    finally:
        await log.close()
    assert [len(await driver.records(t)) for t in ("Case", "Task")] == [1, 2]
