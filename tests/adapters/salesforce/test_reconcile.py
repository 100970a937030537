"""Reconciliation against the Salesforce simulator (through unmodified simple-salesforce) and
the embedded log: injected drift is found, corrected once by explicit records the worker turns
into ticket events, and a second run finds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.raw_log import BusRawLog
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.reconcile import Reconciler, Report
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.core.ticket import ApplySalesforceChange, decide, fold, initial_state
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    SalesforceCaseLinked,
    SourceRef,
    TicketEvent,
    decode_event,
    encode_event,
)
from streams.schema.salesforce import SalesforceChange
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer

NAMES = TopicNames()
A, B, C = "tg:-100:t5", "tg:-100:t6", "tg:-100:t7"


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=2)
    yield opened
    await opened.close()


def linked(ticket: str, seq: int, case: dict[str, Any]) -> SalesforceCaseLinked:
    return SalesforceCaseLinked(
        event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, occurred_at=NOW,
        recorded_at=NOW, source=SourceRef(kind="salesforce", change_id=f"linked:{case['Id']}"),
        actor=Actor(kind="system"), case_id=case["Id"], case_number=case["CaseNumber"])


async def append(log: EmbeddedLog, events: list[TicketEvent]) -> None:
    await log.append(NAMES.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def events_of(log: EmbeddedLog, ticket: str) -> list[TicketEvent]:
    out = []
    for p in range(await log.partitions(NAMES.ticket_events)):
        out += [decode_event(r.value) for r in await log.read(NAMES.ticket_events, p, 0, 10_000)]
    return sorted((e for e in out if e.ticket_id == ticket), key=lambda e: e.seq)


async def corrections_in(log: EmbeddedLog) -> list[SalesforceChange]:
    out = []
    for p in range(await log.partitions(NAMES.salesforce_changes)):
        out += [SalesforceChange.model_validate_json(r.value)
                for r in await log.read(NAMES.salesforce_changes, p, 0, 10_000)]
    return out


async def test_injected_drift_is_found_corrected_once_and_then_gone(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
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
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
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
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    history = conversation(A, customer(11), 1)
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, history)
    await append(log, history)  # never linked
    report = await Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf),
                              BusRawLog(log, NAMES.salesforce_changes), dry_run=True).run_once()
    assert [d.kind for d in report.drifts] == ["case_unlinked"]
    assert report.corrected == 0 and await corrections_in(log) == []
