"""Agents' changes in Salesforce become ``salesforce.changes`` records: the poller against the
Salesforce simulator (through the unmodified simple-salesforce client) and the embedded log."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import PermanentError
from connectors.raw_log import BusRawLog
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.change_poller import ChangePoller, LogWatermarks, SalesforceChangeApi
from connectors.salesforce.comments import marked
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.bus import Bus
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.topics import TopicNames
from streams.schema.events import Actor, SourceRef, TopicClosed
from streams.schema.salesforce import SalesforceChange
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer
from tests.infra import wait_until

TICKET = "tg:-100:t5"
NAMES = TopicNames()
TOPIC = NAMES.salesforce_changes


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=4)
    yield opened
    await opened.close()


def poller(sf: Any, sim: SalesforceSimulator, log: EmbeddedLog, **kw: Any) -> ChangePoller:
    overlap = kw.pop("overlap", 3600.0)  # every test re-reads everything it wrote
    return ChangePoller(SalesforceChangeApi(sf), BusRawLog(log, topic=TOPIC),
                        integration_username=sim.username, overlap=overlap,
                        watermarks=LogWatermarks(log, TOPIC, overlap=overlap),
                        interval=0.05, max_backoff=0.1, **kw)


async def changes(log: EmbeddedLog) -> list[tuple[bytes | None, SalesforceChange]]:
    out = []
    for partition in range(await log.partitions(TOPIC)):
        for record in await log.read(TOPIC, partition, 0, 10_000):
            out.append((record.key, SalesforceChange.model_validate_json(record.value)))
    return out


async def opened_case(sf: Any, driver: SalesforceDriver, ticket: str = TICKET) -> dict[str, Any]:
    """A Case telecase created for ``ticket`` (as the integration user)."""
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                            conversation(ticket, customer(11), 1))
    [case] = await driver.records("Case", Telecase_Ticket_Id__c=ticket)
    return case


async def test_an_agent_comment_becomes_one_record_keyed_like_the_tickets_chat(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    comment = await driver.post_case_comment(case["Id"], "We are on it")
    assert await poller(sf, sim, log).poll_once() == 1
    [(key, change)] = await changes(log)
    assert key == b"chat:-100"
    assert (change.change, change.ticket_id, change.case_id) == ("case_comment", TICKET,
                                                                  case["Id"])
    assert (change.change_id, change.comment_id) == (f"comment:{comment['Id']}", comment["Id"])
    assert (change.comment_body, change.case_number) == ("We are on it", case["CaseNumber"])
    assert (change.actor_id, change.actor_name) == (sim.agent_user_id, "Alex Agent")
    assert change.record["Id"] == comment["Id"]


async def test_telecase_own_writes_and_internal_notes_are_not_echoed(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    closed = TopicClosed(event_id=f"{TICKET}#9", ticket_id=TICKET, seq=9, message_id=99,
                         occurred_at=NOW, recorded_at=NOW, source=SourceRef(kind="telegram"),
                         actor=Actor(kind="customer"))
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, [closed])  # telecase
    await asyncio.to_thread(sf.CaseComment.create, {  # a reply telecase mirrored itself
        "ParentId": case["Id"], "CommentBody": marked("mirrored", f"{TICKET}#10"),
        "IsPublished": True})
    await driver.create("CaseComment", {  # telecase's marker, another author
        "ParentId": case["Id"], "CommentBody": marked("mirrored too", "e-11"),
        "IsPublished": True})
    await driver.post_case_comment(case["Id"], "internal note", is_published=False)
    watcher = poller(sf, sim, log)
    assert await watcher.poll_once() == 0
    assert await changes(log) == []

    await driver.set_case_status(case["Id"], "Working")  # an agent reopens it
    assert await watcher.poll_once() == 1
    [(_, change)] = await changes(log)
    assert (change.change, change.status, change.is_closed) == ("case_updated", "Working",
                                                                False)
    assert change.actor_id == sim.agent_user_id


async def test_re_reading_the_overlap_repeats_nothing(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    queue = await driver.create_group("Tier 2")
    watcher = poller(sf, sim, log)  # overlap: an hour, so every poll re-reads everything
    await driver.post_case_comment(case["Id"], "first")
    await watcher.poll_once()
    await driver.set_case_status(case["Id"], "Working")
    await watcher.poll_once()
    await driver.set_case_owner(case["Id"], queue["Id"])
    for _ in range(3):
        await watcher.poll_once()
    found = [c for _, c in await changes(log)]
    assert [c.change for c in found].count("case_comment") == 1
    updates = [(c.status, c.owner_id, c.owner_name) for c in found if c.change == "case_updated"]
    assert updates == [("Working", case["OwnerId"], "Telecase Integration"),
                       ("Working", queue["Id"], "Tier 2")]
    assert len({c.change_id for c in found}) == len(found) == 3


async def test_a_restarted_poller_resumes_from_the_log(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    other = await opened_case(sf, driver, "tg:-200:t1")  # another chat, another partition
    await driver.post_case_comment(case["Id"], "before the restart")
    await driver.set_case_status(other["Id"], "Working")
    assert await poller(sf, sim, log).poll_once() == 2
    await driver.post_case_comment(other["Id"], "while telecase was down")
    # a clock ten days ahead: only the watermark from the log can find that comment, and only
    # the change ids from the log keep the overlap from emitting the first two again
    later = poller(sf, sim, log, lookback=60.0, clock=lambda: time.time() + 10 * 86400)
    assert await later.poll_once() == 1
    found = [c for _, c in await changes(log)]
    assert sorted(c.comment_body or c.status or "" for c in found) == [
        "Working", "before the restart", "while telecase was down"]
    assert await later.poll_once() == 0


async def test_every_page_is_read(sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver,
                                  log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    await driver.set_page_size(50)  # Salesforce pages at 2000; the simulator at 50 here
    for i in range(120):
        await driver.create("CaseComment", {"ParentId": case["Id"], "CommentBody": f"c{i}",
                                            "IsPublished": True})
    before = await driver.api_calls()
    assert await poller(sf, sim, log).poll_once() == 120
    assert await driver.api_calls() - before >= 4  # user, 3 comment pages, cases
    found = [c for _, c in await changes(log)]
    assert sorted(c.comment_body or "" for c in found) == sorted(f"c{i}" for i in range(120))


@pytest.mark.parametrize("fault", ["outage", "limit", "expired_session", "login_outage"])
async def test_the_poller_survives_faults_and_catches_up(
        fault: str, sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver,
        log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    watcher = poller(sf, sim, log)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        await driver.post_case_comment(case["Id"], "one")
        await wait_until(lambda: _count(log, 1))
        if fault == "outage":
            await driver.start_outage()
        elif fault == "limit":
            await driver.exhaust_api_limit()
        elif fault == "expired_session":
            await driver.expire_sessions()
        else:  # the session expires while logins fail too
            await driver.expire_sessions()
            await driver.start_outage(scope="all")
        await driver.post_case_comment(case["Id"], "two")
        if fault != "expired_session":  # Salesforce refuses: nothing can be read meanwhile
            await asyncio.sleep(0.5)
            assert await _count(log, 1) and not task.done()
            await driver.clear_faults()
            await driver.reset_api_usage()
        await driver.post_case_comment(case["Id"], "three")
        await wait_until(lambda: _count(log, 3))
        await asyncio.sleep(0.2)  # a few more polls: still nothing doubled
        assert sorted(c.comment_body or "" for _, c in await changes(log)) == [
            "one", "three", "two"]
    finally:
        stop.set()
        await task


async def test_an_unknown_integration_user_stops_the_poller(
        sf: Any, sim: SalesforceSimulator, log: EmbeddedLog) -> None:
    watcher = ChangePoller(SalesforceChangeApi(sf), BusRawLog(log, topic=TOPIC),
                           integration_username="nobody@telecase.sim", interval=0.05)
    with pytest.raises(PermanentError, match="nobody"):
        await asyncio.wait_for(watcher.run(asyncio.Event()), 10)


async def _count(log: EmbeddedLog, n: int) -> bool:
    return len(await changes(log)) == n


def _change(kind: str, n: int, at: datetime, ticket: str) -> SalesforceChange:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return SalesforceChange(change=kind, change_id=f"{kind}:{n}", ticket_id=ticket,
                            case_id=f"500{n}", observed_at=at, occurred_at=at,
                            record={"SystemModstamp": stamp} if kind != "case_linked" else {})


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def any_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    if request.param == "embedded":
        embedded = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=4)
        yield embedded
        await embedded.close()
    else:
        kafka = KafkaBus(request.getfixturevalue("kafka_bootstrap"), default_partitions=4)
        await kafka.start()
        yield kafka
        await kafka.close()


async def test_the_position_is_recovered_from_the_log_tail_on_either_runtime(
        any_bus: Bus) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.{TOPIC}"
    raw = BusRawLog(any_bus, topic=topic)
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    written = []
    for n in range(300):  # two chats (two partitions), a change a second, links between
        kind = ("case_comment", "case_updated", "case_linked")[n % 3]
        written.append(_change(kind, n, start + timedelta(seconds=n), f"tg:-{100 + n % 2}:t1"))
    for i in range(0, 300, 50):
        await raw.append(written[i:i + 50])
    position = await LogWatermarks(any_bus, topic, overlap=30, chunk=40).load()
    assert position.watermarks == {"case_comment": start + timedelta(seconds=297),
                                   "case_updated": start + timedelta(seconds=298)}
    in_window = {c.change_id for c in written if c.change != "case_linked"
                 and c.occurred_at >= position.watermarks[c.change] - timedelta(seconds=30)}
    assert in_window <= set(position.seen) and len(in_window) == 22
    assert await LogWatermarks(any_bus, f"{topic}.empty").load() == type(position)()
