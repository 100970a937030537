"""The ledgered Salesforce runner (connectors.salesforce.ledgered) that the notifications,
Files and Opportunities share: the ledger's first answer stands (in memory and in SQL), and
the Opportunities runner obeys the limit guard: at ``essential_only`` it holds its batch
(nothing written, nothing committed) until the usage falls; at ``conserve`` its batches
linger longer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.salesforce.ledgered import MemoryLedger, SqlLedger
from connectors.salesforce.limit_guard import LimitGuard
from connectors.salesforce.notifications import SqlNotificationLedger
from connectors.salesforce.opportunities_runner import GROUP, OpportunitiesRunner
from connectors.salesforce.results import SyncResult
from connectors.telegram.ledger import make_ledger_engine
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import TicketEvent, encode_event
from tests.adapters.salesforce.test_case_sync import conversation, customer
from tests.infra import wait_until


def _sql(tmp_path: Path) -> SqlLedger:
    ledger = SqlNotificationLedger(make_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"))
    ledger.create()
    return ledger


@pytest.mark.parametrize("make", [lambda _: MemoryLedger(), _sql], ids=["memory", "sql"])
def test_the_ledger_keeps_the_first_answer(make: object, tmp_path: Path) -> None:
    ledger = make(tmp_path)  # type: ignore[operator]
    assert ledger.find([]) == {} and ledger.find(["a"]) == {}
    ledger.record("a", "500A", "sent")
    ledger.record("a", "500B", "refused")  # a crash-window repeat: the first answer stands
    ledger.record("b", "500C", "refused")
    assert ledger.find(["a", "b", "c"]) == {"a": "500A", "b": "500C"}


class FakeDeals:
    """Counts the events it was given (stands in for Opportunities: no Salesforce here)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def apply(self, events: Sequence[TicketEvent], result: SyncResult) -> None:
        self.seen.extend(e.event_id for e in events)


async def _log_with_events(tmp_path: Path, names: TopicNames) -> tuple[EmbeddedLog, int]:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    events = conversation("tg:-100:t1", customer(1), 2)
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])
    return log, len(events)


async def test_the_opportunities_runner_waits_while_the_guard_holds_it(tmp_path: Path) -> None:
    names = TopicNames()
    log, count = await _log_with_events(tmp_path, names)
    guard = LimitGuard()
    guard.record(96, 100, source="header")  # essential_only
    deals = FakeDeals()
    runner = OpportunitiesRunner(log, names, deals, guard=guard,  # type: ignore[arg-type]
                                 first_backoff=0.05, max_backoff=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.sleep(0.5)
        assert deals.seen == []  # held: nothing written
        assert await log.committed(GROUP, names.ticket_events) == {}  # nor passed over
        guard.record(10, 100, source="header")  # the usage fell: normal again

        async def committed() -> bool:
            return (await log.committed(GROUP, names.ticket_events)).get(0) == count

        await wait_until(committed, 5)
        assert len(deals.seen) == count  # once each
    finally:
        stop.set()
        await task
        await log.close()


def test_the_opportunities_runner_lingers_longer_when_conserving() -> None:
    guard = LimitGuard()
    runner = OpportunitiesRunner(None, TopicNames(), FakeDeals(),  # type: ignore[arg-type]
                                 guard=guard, linger=1.0)
    assert runner.linger is not None
    assert runner.linger.limits() == (1.0, 100)
    guard.record(85, 100, source="header")  # conserve
    assert runner.linger.limits() == (4.0, 400)
    guard.record(96, 100, source="header")  # essential_only: held as well
    assert not guard.allows("opportunities") and guard.allows("essential")
