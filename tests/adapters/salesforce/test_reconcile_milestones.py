"""Salesforce as the clock of record (``TELECASE_SLA_CLOCK_OF_RECORD=salesforce``):
``telecase reconcile`` reads the Case Milestones' ``TargetDate``, ``IsViolated`` and
``CompletionDate`` back from the simulated org and reports where they disagree with the log's
deadlines; and the comparison itself, kind by kind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.change_poller import parse_datetime
from connectors.salesforce.deadline_check import (
    LogDeadline,
    MilestoneFact,
    disagreements,
    log_deadlines,
)
from connectors.salesforce.reconcile import MilestoneCheck, Reconciler
from simulators.salesforce import SalesforceDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import SlaStarted, SlaTargetAdopted, TicketEvent, encode_event
from streams.sla.policy import SlaPolicy
from tests.adapters.salesforce.test_case_report import TICKET, at, scenario
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer
from tests.e2e.kafka.test_sla_timers_kafka import POLICY

NAMES = TopicNames()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def shifted(events: list[TicketEvent], delta: timedelta) -> list[TicketEvent]:
    """The events ``delta`` later (their instants and their clock ticks)."""
    out = []
    for e in events:
        tick = e.source.tick_at
        source = e.source.model_copy(update={"tick_at": tick + delta}) if tick else e.source
        out.append(e.model_copy(update={"occurred_at": e.occurred_at + delta,
                                        "recorded_at": e.recorded_at + delta,
                                        "source": source}))
    return out


async def test_reconcile_reports_a_milestone_salesforce_counts_as_violated(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    # Salesforce's process gives the first response 10 minutes, telecase's tier 15: the agent
    # answered at 12.5, on time for telecase, late for Salesforce. Resolution agrees (2 h,
    # breached in both, targets within the tolerance).
    process = await driver.define_entitlement_process(
        "Enterprise SLA", {"First Response": 10, "Resolution": 120})
    await driver.create("Entitlement", {"Name": "Enterprise Support",
                                        "SlaProcessId": process["id"]})
    now = parse_datetime(await driver.now())
    assert now is not None
    events = shifted(scenario(), now - NOW)
    sync = CaseSync(SimpleSalesforceApi(sf), entitlements={"enterprise": "Enterprise Support"})
    assert (await asyncio.to_thread(sync.apply, events)).rejected == []
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=1)
    try:
        await log.append(NAMES.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                               for e in events])
        plain = await Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf), None,
                                 dry_run=True).run_once()
        assert not [d for d in plain.drifts if d.kind.startswith("milestone")]
        report = await Reconciler(log, NAMES.ticket_events, SimpleSalesforceApi(sf), None,
                                  dry_run=True, milestones=MilestoneCheck()).run_once()
    finally:
        await log.close()
    [drift] = [d for d in report.drifts if d.kind.startswith("milestone")]
    assert (drift.ticket_id, drift.kind) == (events[0].ticket_id, "milestone_breach")
    assert (drift.log_value, drift.remote_value) == ("not breached", "breached")
    assert drift.detail.startswith("first response:") and drift.correction is None


def test_each_kind_of_disagreement_beyond_the_tolerance() -> None:
    t = "tg:-100:t9"
    log = {(t, "first_response"): LogDeadline(due_at=T0, breached=True),
           (t, "resolution"): LogDeadline(due_at=None, met_at=T0 + timedelta(hours=1))}
    agree = [MilestoneFact(t, "first_response", T0 + timedelta(seconds=30), True, None),
             MilestoneFact(t, "resolution", T0 + timedelta(hours=2), False,
                           T0 + timedelta(hours=1, seconds=20))]
    assert disagreements(log, agree, T0 + timedelta(hours=3)) == []
    differ = [MilestoneFact(t, "first_response", T0 + timedelta(minutes=5), False, None),
              MilestoneFact(t, "resolution", T0 + timedelta(hours=2), False, None)]
    found = disagreements(log, differ, T0 + timedelta(hours=3))
    assert [(d.kind, d.log_value, d.remote_value) for d in found] == [
        ("milestone_breach", "breached", "not breached"),
        ("milestone_target", T0.isoformat(), (T0 + timedelta(minutes=5)).isoformat()),
        ("milestone_completion", (T0 + timedelta(hours=1)).isoformat(), "open")]
    # a target passing right now is not a disagreement yet
    assert [d.kind for d in disagreements(log, differ[:1], T0 + timedelta(minutes=5))] == [
        "milestone_target"]


def test_a_running_clock_has_its_deadline_from_the_policy() -> None:
    started = SlaStarted(event_id=f"{TICKET}#3", ticket_id=TICKET, seq=3, tier="fast",
                         team="desk", rule=None, reason="default",
                         first_response_target=timedelta(seconds=8),
                         resolution_target=timedelta(hours=1), next_due_at=None, **at(0))
    events = [*conversation(TICKET, customer(11, "ann"), 1), started]
    deadlines = log_deadlines(events, SlaPolicy.from_toml(POLICY))
    assert deadlines[(TICKET, "first_response")].due_at == NOW + timedelta(seconds=8)
    assert deadlines[(TICKET, "resolution")].due_at == NOW + timedelta(hours=1)
    assert log_deadlines(events, None)[(TICKET, "first_response")].due_at is None


def test_a_target_adopted_from_salesforce_is_the_logs_deadline() -> None:
    started = SlaStarted(event_id=f"{TICKET}#3", ticket_id=TICKET, seq=3, tier="fast",
                         team="desk", rule=None, reason="default",
                         first_response_target=timedelta(seconds=8),
                         resolution_target=timedelta(hours=1), next_due_at=None, **at(0))
    target = NOW + timedelta(seconds=5)
    adopted = SlaTargetAdopted(
        event_id=f"{TICKET}#4", ticket_id=TICKET, seq=4, clock="first_response",
        signal="first_response_breached", milestone_id="5oT000000000001AAA", target_at=target,
        violated=False, previous_due_at=NOW + timedelta(seconds=8),
        target=timedelta(seconds=5), next_due_at=None, reason="Salesforce's", **at(0.02))
    events = [*conversation(TICKET, customer(11, "ann"), 1), started, adopted]
    deadlines = log_deadlines(events, SlaPolicy.from_toml(POLICY))
    assert deadlines[(TICKET, "first_response")].due_at == target
    assert deadlines[(TICKET, "resolution")].due_at == NOW + timedelta(hours=1)
    agree = [MilestoneFact(TICKET, "first_response", target, False, None)]
    assert disagreements(deadlines, agree, NOW) == []
