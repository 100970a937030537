"""Reconciliation against the Salesforce simulator (through unmodified simple-salesforce) and
the embedded log: injected drift is found, corrected once by explicit records the worker turns
into ticket events, and a second run finds nothing.

Drift is decided by who last changed the Case (CaseHistory where the org tracks field
history, else the Case's last modifier), so each test that depends on it runs with field
history tracking on and off (``tracking``): whatever value an agent sets is found, an owner
set by automation right after telecase's own write is found, telecase's own writes never
are."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.raw_log import BusRawLog
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.reconcile import Reconciler, Report, read_events
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.core.ticket import ApplySalesforceChange, decide, fold, initial_state
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    SalesforceCaseLinked,
    SourceRef,
    TicketClosed,
    TicketEvent,
    TopicReopened,
    encode_event,
)
from streams.schema.salesforce import SalesforceChange
from telecase.ops.reconcile import report_json, report_table
from tests.adapters.salesforce.test_assignment_escalation import assigned
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer

NAMES = TopicNames()
A, B, C = "tg:-100:t5", "tg:-100:t6", "tg:-100:t7"


@pytest.fixture(params=[True, False], ids=["field-history", "no-field-history"])
async def tracking(request: pytest.FixtureRequest, driver: SalesforceDriver) -> bool:
    """The org's field history tracking of the Case's Status and Owner, on and off."""
    await driver.set_case_field_history(request.param)
    return bool(request.param)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.integration)])
async def log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    """The log the reconciler reads and appends to, on both runtimes (each test its own
    topics: :data:`NAMES` gets a fresh prefix)."""
    NAMES.__init__(f"reconcile-{uuid.uuid4().hex[:8]}.")  # type: ignore[misc]
    opened: Bus
    if request.param == "kafka":
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), default_partitions=2)
        await bus.start()
        for name in NAMES.all():
            await bus.create_topic(name, 2)
        opened = bus
    else:
        opened = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=2)
    yield opened
    await opened.close()


def linked(ticket: str, seq: int, case: dict[str, Any]) -> SalesforceCaseLinked:
    return SalesforceCaseLinked(
        event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, occurred_at=NOW,
        recorded_at=NOW, source=SourceRef(kind="salesforce", change_id=f"linked:{case['Id']}"),
        actor=Actor(kind="system"), case_id=case["Id"], case_number=case["CaseNumber"])


async def append(log: Bus, events: list[TicketEvent]) -> None:
    await log.append(NAMES.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def events_of(log: Bus, ticket: str) -> list[TicketEvent]:
    return sorted((e for e in await read_events(log, NAMES.ticket_events)
                   if e.ticket_id == ticket), key=lambda e: e.seq)


async def corrections_in(log: Bus) -> list[SalesforceChange]:
    out = []
    for p in range(await log.partitions(NAMES.salesforce_changes)):
        offset, end = 0, await log.end_offset(NAMES.salesforce_changes, p)
        while offset < end:  # Kafka's fetch may come back empty right after a seek
            records = await log.read(NAMES.salesforce_changes, p, offset, 10_000, wait=1.0)
            out += [SalesforceChange.model_validate_json(r.value) for r in records]
            offset = records[-1].offset + 1 if records else offset
    return out


async def test_injected_drift_is_found_corrected_once_and_then_gone(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus) -> None:
    history = {t: conversation(t, customer(n), 1) for n, t in enumerate((A, B, C), 11)}
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                            [e for events in history.values() for e in events])
    cases = {c["Telecase_Ticket_Id__c"]: c for c in await driver.records("Case")}
    for t in (A, B):  # C's link-back was lost
        history[t].append(linked(t, len(history[t]) + 1, cases[t]))
    await append(log, [e for events in history.values() for e in events])
    # the drift: an agent changed A's owner and closed B while the poller was not looking
    await driver.set_case_owner(cases[A]["Id"], sim.agent_user_id, user_id=sim.agent_user_id)
    await driver.set_case_status(cases[B]["Id"], "Closed", user_id=sim.agent_user_id)

    reconciler = Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf),
                            BusRawLog(log, NAMES.salesforce_changes))
    report: Report = await reconciler.run_once()
    assert {(d.ticket_id, d.kind) for d in report.drifts} == {
        (A, "owner_changed"), (B, "status_changed"), (C, "case_unlinked")}
    assert report.corrected == 3
    records = await corrections_in(log)
    assert sorted((r.ticket_id, r.change) for r in records) == [
        (A, "case_updated"), (B, "case_updated"), (C, "case_linked")]
    assert all(r.change_id.startswith("reconcile:") for r in records)

    # the worker takes them in as ordinary, explicitly sourced events
    for record in records:
        state = fold(history[record.ticket_id], initial_state("x"))
        produced = decide(ApplySalesforceChange(record, NOW), state)
        assert produced and all(e.source.change_id == record.change_id for e in produced)
        history[record.ticket_id] += produced
        await append(log, produced)
    def last_types(events: list[TicketEvent], n: int) -> set[str]:
        return {e.type for e in events[-n:]}

    assert last_types(await events_of(log, A), 1) == {"case.owner_changed"}
    # B's Case also tells the log its owner (the creator), which it never took in
    assert "case.status_changed" in last_types(await events_of(log, B), 2)
    assert last_types(await events_of(log, C), 1) == {"salesforce.case_linked"}

    again = await reconciler.run_once()
    assert again.drifts == [] and again.corrected == 0
    assert len(await corrections_in(log)) == 3


async def test_a_deleted_case_and_an_unknown_ticket_are_reported_only(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus) -> None:
    history = {t: conversation(t, customer(n), 1) for n, t in enumerate((A, B), 11)}
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply,
                            [e for events in history.values() for e in events])
    cases = {c["Telecase_Ticket_Id__c"]: c for c in await driver.records("Case")}
    history[A].append(linked(A, len(history[A]) + 1, cases[A]))
    await append(log, history[A])  # B is not in the log at all
    await driver.delete("Case", cases[A]["Id"], user_id=sim.agent_user_id)
    report = await Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf),
                              BusRawLog(log, NAMES.salesforce_changes)).run_once()
    assert {(d.ticket_id, d.kind) for d in report.drifts} == {
        (A, "case_missing"), (B, "unknown_ticket")}
    assert report.corrected == 0 and await corrections_in(log) == []


async def test_a_dry_run_reports_and_appends_nothing(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus) -> None:
    history = conversation(A, customer(11), 1)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, history)
    await append(log, history)  # never linked
    report = await Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf),
                              BusRawLog(log, NAMES.salesforce_changes), dry_run=True).run_once()
    assert [d.kind for d in report.drifts] == ["case_unlinked"]
    assert report.corrected == 0 and await corrections_in(log) == []


# -- who changed it ---------------------------------------------------------------------------

class Desk:
    """One ticket synced to its Case, the log and a reconciler; ``take_in`` is the worker."""

    def __init__(self, sf: Any, log: Bus, ticket: str = A, *,
                 dry_run: bool = False, assign_on_create: bool = False) -> None:
        self.sync = CaseSync(SimpleSalesforceApi(sf), assign_on_create=assign_on_create)
        self.log, self.ticket = log, ticket
        self.history: list[TicketEvent] = conversation(ticket, customer(11), 1)
        self.reconciler = Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf),
                                     BusRawLog(log, NAMES.salesforce_changes), dry_run=dry_run)
        self.case: dict[str, Any] = {}

    async def open(self, driver: SalesforceDriver) -> dict[str, Any]:
        await self.write(self.history)
        [self.case] = await driver.records("Case")
        await self.happen(linked(self.ticket, self.next_seq, self.case))
        return self.case

    @property
    def next_seq(self) -> int:
        return len(self.history) + 1

    async def happen(self, *events: TicketEvent, synced: bool = True) -> None:
        """Events in the log (and, ``synced``, written to Salesforce by the sync)."""
        self.history += events
        await append(self.log, list(events))
        if synced:
            await asyncio.to_thread(self.sync.apply, list(events))

    async def write(self, events: list[TicketEvent]) -> None:
        await asyncio.to_thread(self.sync.apply, events)
        await append(self.log, events)

    async def take_in(self, records: list[SalesforceChange]) -> list[TicketEvent]:
        """What the worker makes of the records (appended to the log)."""
        out: list[TicketEvent] = []
        for record in records:
            state = fold(self.history, initial_state("x"))
            produced = decide(ApplySalesforceChange(record, NOW), state)
            self.history += produced
            out += produced
            await append(self.log, produced)
        return out

    async def round(self) -> tuple[Report, list[SalesforceChange]]:
        before = len(await corrections_in(self.log))
        report = await self.reconciler.run_once()
        return report, (await corrections_in(self.log))[before:]


def kinds(report: Report) -> list[str]:
    return sorted(d.kind for d in report.drifts)


def at(seq: int) -> dict[str, Any]:
    return {"event_id": f"{A}#{seq}", "ticket_id": A, "seq": seq, "occurred_at": NOW,
            "recorded_at": NOW, "source": SourceRef(kind="telegram"),
            "actor": Actor(kind="customer")}


async def test_an_agent_setting_each_standard_status_is_found_and_corrected_once(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus,
        tracking: bool) -> None:
    desk = Desk(sf, log)
    case = await desk.open(driver)
    for status in ("Working", "Escalated", "On Hold", "New", "Closed"):
        await driver.set_case_status(case["Id"], status, user_id=sim.agent_user_id)
        report, records = await desk.round()
        assert kinds(report) == ["status_changed"], status
        [drift] = report.drifts
        assert (drift.remote_value, report.corrected) == (status, 1)
        assert [(r.status, r.actor_id) for r in records] == [(status, sim.agent_user_id)]
        produced = await desk.take_in(records)
        assert "case.status_changed" in {e.type for e in produced}, status
        again, more = await desk.round()
        assert (again.drifts, more) == ([], []), status
    assert fold(desk.history, initial_state("x")).ticket(A).status == "closed"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", ["Working", "New"])
async def test_an_agent_reopening_a_case_telecase_closed_is_found(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus,
        tracking: bool, status: str) -> None:
    desk = Desk(sf, log)
    case = await desk.open(driver)
    await desk.happen(TicketClosed(reason="customer", **at(desk.next_seq)))
    assert kinds((await desk.round())[0]) == []  # telecase's own write
    await driver.set_case_status(case["Id"], status, user_id=sim.agent_user_id)
    report, records = await desk.round()
    assert kinds(report) == ["status_changed"] and len(records) == 1
    produced = await desk.take_in(records)
    assert "case.status_changed" in {e.type for e in produced}
    assert fold(desk.history, initial_state("x")).ticket(A).status == "open"  # type: ignore[union-attr]
    assert (await desk.round())[0].drifts == []


async def test_telecases_own_writes_are_never_drift(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus,
        tracking: bool) -> None:
    desk = Desk(sf, log)
    await desk.open(driver)
    assert (await desk.round())[0].drifts == []
    agent = await driver.create_user("Dana Agent")
    steps: list[TicketEvent] = [
        assigned(A, desk.next_seq, agent["Id"]),
        TicketClosed(reason="customer", **at(desk.next_seq + 1)),
        TopicReopened(message_id=99, **at(desk.next_seq + 2)),
        assigned(A, desk.next_seq + 3, sim.agent_user_id)]
    for event in steps:
        await desk.happen(event)
        report, records = await desk.round()
        assert (report.drifts, records) == ([], []), event.type
    # the log ahead of Salesforce (the sync has not written yet): reported, never corrected
    await desk.happen(TicketClosed(reason="customer", **at(desk.next_seq)), synced=False)
    report, records = await desk.round()
    assert (kinds(report), records) == (["salesforce_behind"], [])


async def test_an_owner_set_by_a_flow_right_after_telecases_write_is_found(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus,
        tracking: bool) -> None:
    desk = Desk(sf, log)
    case = await desk.open(driver)
    flow_user = await driver.create_user("Automated Process")
    # a flow in telecase's own transaction (its user), then one running as another user
    for runs_as in (sim.integration_user_id, flow_user["Id"]):
        queue = await driver.create_group(f"Tier 2 {runs_as}")
        agent = await driver.create_user(f"Agent {runs_as}")
        await desk.happen(assigned(A, desk.next_seq, agent["Id"]))
        await driver.set_case_owner(case["Id"], queue["Id"], user_id=runs_as)
        report, records = await desk.round()
        assert kinds(report) == ["owner_changed"], runs_as
        assert [r.owner_id for r in records] == [queue["Id"]]
        produced = await desk.take_in(records)
        assert [e.type for e in produced] == ["case.owner_changed"], (runs_as, records)
        assert (await desk.round())[0].drifts == []


async def test_an_owner_given_by_the_assignment_rule_on_telecases_create_is_found(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus,
        tracking: bool) -> None:
    queue = await driver.create_group("Support Queue")
    await driver.set_assignment_rule(queue["Id"])
    desk = Desk(sf, log, assign_on_create=True)
    case = await desk.open(driver)
    assert case["OwnerId"] == queue["Id"]
    report, records = await desk.round()
    assert kinds(report) == ["owner_changed"]
    assert [(r.owner_id, r.actor_id) for r in records] == [(queue["Id"],
                                                             sim.integration_user_id)]
    await desk.take_in(records)
    assert (await desk.round())[0].drifts == []


async def test_a_dry_run_says_would_correct(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: Bus) -> None:
    desk = Desk(sf, log, dry_run=True)
    case = await desk.open(driver)
    await driver.set_case_status(case["Id"], "Working", user_id=sim.agent_user_id)
    await driver.set_case_owner(case["Id"], sim.agent_user_id, user_id=sim.agent_user_id)
    report, records = await desk.round()
    assert (kinds(report), report.corrected, records) == (
        ["owner_changed", "status_changed"], 0, [])
    data = report_json(report)
    assert (data["dry_run"], data["corrected"], data["would_correct"], data["records"]) == (
        True, 0, 2, 0)
    assert [(row["corrected"], row["would_correct"]) for row in data["details"]] == [
        (False, True), (False, True)]
    table = report_table(report)
    assert "2 drifts, 2 would be corrected (dry run)" in str(table.title)
    assert list(table.columns[4].cells) == ["would correct", "would correct"]

    desk.reconciler.dry_run = False  # the same, for real: one record corrects both
    report, records = await desk.round()
    data = report_json(report)
    assert (data["dry_run"], data["corrected"], data["would_correct"], data["records"]) == (
        False, 2, 0, 1)
    assert [(row["corrected"], row["would_correct"]) for row in data["details"]] == [
        (True, False), (True, False)]
    assert "2 drifts, 2 corrected" in str(report_table(report).title)
    assert list(report_table(report).columns[4].cells) == ["corrected", "corrected"]
