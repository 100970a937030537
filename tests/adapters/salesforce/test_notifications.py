"""Deadline notifications in Salesforce (issue 17 item 2) on the simulated org: a warned,
breached and escalated ticket rings its Case owner's bell through ``customNotificationAction``,
the team lead too at level 2; each SLA event once, across a restart (the ledger); old events
and a missing notification type send nothing. Through the unmodified simple-salesforce
client."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.notifications import (
    DeadlineNotifier,
    MemoryNotificationLedger,
    NotificationPolicy,
    NotificationTypeMissing,
    SimpleNotificationApi,
    SqlNotificationLedger,
)
from connectors.telegram.ledger import make_ledger_engine
from simulators.salesforce import SalesforceDriver
from streams.schema.events import TicketEvent, TicketRouted
from tests.adapters.salesforce.test_case_report import TICKET, at, scenario


def routed() -> list[TicketEvent]:
    events = scenario()
    route = TicketRouted(event_id=f"{TICKET}#2r", ticket_id=TICKET, seq=2, queue="support",
                         rule=None, reason="default", **at(0.05))
    return [*events[:3], route, *events[3:]]


async def make_type(sf: Any) -> str:
    answer = await asyncio.to_thread(
        sf.toolingexecute, "sobjects/CustomNotificationType", method="POST",
        data={"DeveloperName": "Telecase_SLA_Deadline", "MasterLabel": "SLA",
              "CustomNotifTypeName": "SLA", "Desktop": True, "Mobile": False})
    return str(answer["id"])


async def test_owner_and_lead_are_notified_once_across_a_restart(
        sf: Any, driver: SalesforceDriver, tmp_path: Path) -> None:
    events = routed()
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, events[:3])
    [case] = await driver.records("Case")
    type_id = await make_type(sf)
    lead = (await driver.create_user("Lee Lead"))["Id"]
    ledger = SqlNotificationLedger(make_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"))
    ledger.create()
    policy = NotificationPolicy(team_leads={"support": lead})

    notifier = DeadlineNotifier(SimpleNotificationApi(sf), ledger, policy)
    first = await notifier.notify(events[:6], now=events[5].occurred_at)  # the warning
    later = await notifier.notify(events[6:], now=events[-1].occurred_at)  # breach, level 2
    assert list(first.values()) == ["sent"] and list(later.values()) == ["sent", "sent"]
    warning, breach, escalation = await driver.notifications()
    assert all(n["type_id"] == type_id and n["target_id"] == case["Id"]
               for n in (warning, breach, escalation))
    assert warning["recipient_ids"] == breach["recipient_ids"] == [case["OwnerId"]]
    assert escalation["recipient_ids"] == [case["OwnerId"], lead]
    assert warning["title"].startswith("SLA warning: first response at 80%")
    assert case["CaseNumber"] in breach["title"] and "resolution" in breach["title"]
    assert "Ticket tg:-100:t5" in escalation["body"]

    restarted = DeadlineNotifier(SimpleNotificationApi(sf), SqlNotificationLedger(
        make_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}")), policy)
    assert await restarted.notify(events, now=events[4].occurred_at) == {}
    assert len(await driver.notifications()) == 3


async def test_old_events_and_a_missing_type_send_nothing(
        sf: Any, driver: SalesforceDriver) -> None:
    events = routed()
    await asyncio.to_thread(CaseSync(SimpleSalesforceApi(sf)).apply, events[:3])
    notifier = DeadlineNotifier(SimpleNotificationApi(sf), MemoryNotificationLedger())
    with pytest.raises(NotificationTypeMissing):
        await notifier.notify(events, now=events[-1].occurred_at)
    await make_type(sf)
    a_day_later = events[-1].occurred_at + timedelta(days=1)
    assert await notifier.notify(events, now=a_day_later) == {}
    assert await driver.notifications() == []
