"""The limit guard against the Salesforce simulator (an org with a daily allocation of 100
calls), wired as the processes wire it (``telecase.bootstrap.salesforce``): every answer's
``Sforce-Limit-Info`` and the Limits resource feed the org's guard; near the limit the change
poller polls less often, and then reconciliation and Knowledge search make no calls while
the poller still reads agents' replies; once usage falls the held search is made."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from connectors.raw_log import BusRawLog
from connectors.salesforce.change_poller import SalesforceChangeApi
from connectors.salesforce.knowledge import AgentToolsApi, AgentToolsRunner
from connectors.salesforce.limit_guard import Level, LimitGuard
from connectors.salesforce.reconcile import Reconciler
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import Actor, Agent, KnowledgeRequested, SourceRef, encode_event
from streams.schema.knowledge import KnowledgeSearched
from telecase.bootstrap.salesforce import (
    CLIENTS,
    change_poller,
    connect,
    limit_guard,
    watch_api_limits,
)
from telecase.settings import Settings, load_settings
from tests.simulators.salesforce.conftest import call

DAILY = 100
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TICKET = "tg:-1001000000001:t7"


@pytest.fixture
async def org(cert_dir: Path) -> AsyncIterator[tuple[SalesforceSimulator, SalesforceDriver]]:
    CLIENTS.forget()
    async with SalesforceSimulator(cert_dir=cert_dir, daily_api_limit=DAILY) as sim, \
            SalesforceDriver(sim.base_url, sim.ca_file) as driver:
        yield sim, driver
    CLIENTS.forget()


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = await EmbeddedLog.open(tmp_path / "log.sqlite")
    yield opened
    await opened.close()


def _settings(sim: SalesforceSimulator, **fields: Any) -> Settings:
    return load_settings(_env_file=None, salesforce_login_url=sim.base_url,
                         salesforce_ca_file=str(sim.ca_file), salesforce_username=sim.username,
                         salesforce_password=sim.password,
                         salesforce_security_token=sim.security_token, **fields)


def _sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def _until(condition: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def _essential_only(sf: Any, driver: SalesforceDriver, guard: LimitGuard) -> None:
    await driver.set_api_usage(DAILY - 5)
    await call(sf.query, "SELECT Id FROM Case LIMIT 1")  # its answer says 96/100
    assert guard.level() is Level.ESSENTIAL_ONLY


async def test_every_answer_and_the_limits_resource_feed_the_orgs_guard(
        org: tuple[SalesforceSimulator, SalesforceDriver]) -> None:
    sim, driver = org
    settings = _settings(sim, salesforce_limits_interval=0.5)
    sf = await connect(settings)
    guard = limit_guard(settings)
    assert limit_guard(settings) is guard  # one per org in the process
    await driver.set_api_usage(84)
    await call(sf.query, "SELECT Id FROM Case LIMIT 1")
    usage = guard.usage
    assert usage is not None and (usage.used, usage.max, usage.source) == (85, DAILY, "header")
    assert guard.level() is Level.CONSERVE
    assert _sample("telecase_salesforce_api_usage_ratio") == 0.85
    assert _sample("telecase_salesforce_api_usage_max") == DAILY
    assert _sample("telecase_salesforce_api_guard_level") == 1

    # no answer for a while (other clients spend): /limits is read, and counted like any call
    await driver.set_api_usage(95)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_api_limits(settings, stop))
    try:
        await _until(lambda: guard.level() is Level.ESSENTIAL_ONLY)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)
    usage = guard.usage
    assert usage is not None and (usage.used, usage.max) == (96, DAILY)
    assert _sample("telecase_salesforce_api_guard_level") == 2


async def test_near_the_limit_the_poller_polls_less_often(
        org: tuple[SalesforceSimulator, SalesforceDriver], log: EmbeddedLog) -> None:
    sim, driver = org
    settings = _settings(sim, salesforce_poll_interval=0.1, salesforce_limit_slowdown=100.0)
    names = TopicNames(f"guard-{uuid.uuid4().hex[:8]}.")
    raw = BusRawLog(log, names.salesforce_changes)

    def comment_polls() -> float:
        return REGISTRY.get_sample_value("telecase_salesforce_change_polls_total",
                                         {"query": "case_comment"}) or 0.0

    async def rounds(seconds: float) -> int:
        poller = await change_poller(settings, raw, log, names)
        before = comment_polls()
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 10)
        return int(comment_polls() - before)

    normal = await rounds(1.0)
    assert normal >= 3  # every 0.1 s
    assert limit_guard(settings).level() is Level.NORMAL

    await driver.set_api_usage(84)
    conserving = await rounds(1.5)
    assert limit_guard(settings).level() is Level.CONSERVE  # read from its own answers
    assert conserving == 1  # the next poll waits 0.1 s x 100


async def test_at_the_second_threshold_only_essential_calls_are_made(
        org: tuple[SalesforceSimulator, SalesforceDriver], log: EmbeddedLog) -> None:
    sim, driver = org
    settings = _settings(sim)
    sf = await connect(settings)
    guard = limit_guard(settings)
    names = TopicNames(f"guard-{uuid.uuid4().hex[:8]}.")
    changes = BusRawLog(log, names.salesforce_changes)
    await _essential_only(sf, driver, guard)

    # reconciliation reads nothing from Salesforce
    calls = await driver.api_calls()
    report = await Reconciler(log, names.ticket_events, SalesforceChangeApi(sf), changes,
                              integration_username=sim.username, guard=guard).run_once()
    assert report.held and report.field_history is None and report.cases == 0
    assert await driver.api_calls() == calls

    # an agent's /kb waits: no search, nothing committed, no "nothing found"
    request = KnowledgeRequested(
        event_id=f"{TICKET}#3", ticket_id=TICKET, seq=3, occurred_at=T0, recorded_at=T0,
        source=SourceRef(kind="salesforce", change_id="c3"), actor=Actor(kind="agent", id="005D"),
        via="salesforce", agent=Agent(salesforce_user_id="005D", display_name="Dana"),
        chat_id=-1001000000001, thread_id=7, query="refund policy")
    await log.append(names.ticket_events, [Outgoing(TICKET.encode(), encode_event(request))])
    runner = AgentToolsRunner(log, names, AgentToolsApi(sf), changes, max_backoff=0.05,
                              guard=guard)
    held_before = REGISTRY.get_sample_value("telecase_salesforce_api_calls_held_total",
                                            {"kind": "knowledge"}) or 0.0
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.sleep(1.0)
        assert await driver.api_calls() == calls
        assert await log.read(names.salesforce_changes, 0, 0, 10) == []
        assert await log.committed("salesforce-agent-tools", names.ticket_events) == {}
        assert (REGISTRY.get_sample_value("telecase_salesforce_api_calls_held_total",
                                          {"kind": "knowledge"}) or 0.0) > held_before

        # agents' replies are essential: the poller still reads them
        poller = await change_poller(settings, changes, log, names)
        await driver.set_api_usage(DAILY - 7)  # still essential only (hysteresis), room to poll
        before_poll = await driver.api_calls()
        await poller.poll_once()
        assert guard.level() is Level.ESSENTIAL_ONLY
        assert await driver.api_calls() > before_poll

        # the allocation frees up (the 24 hours roll on): the next answer says so
        await driver.reset_api_usage()
        await poller.poll_once()
        assert guard.level() is Level.NORMAL
        await _until(lambda: runner.handled == 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    [record] = await log.read(names.salesforce_changes, 0, 0, 10)
    found = KnowledgeSearched.model_validate_json(record.value)
    assert found.request_event_id == request.event_id
    assert [a.title for a in found.articles] == ["Refund policy"]
