"""The "Send Custom Notifications" user permission (Actions Developer Guide, "Custom
Notification Actions": required for REST API calls in orgs made from Winter '21) on a strict
simulated org: without it the org refuses customNotificationAction, the notifier waits
(PermissionMissing, nothing recorded as sent or refused), ``telecase salesforce check``
names the missing permission with its fix, ``setup`` grants it in telecase's permission set,
and the bell then rings once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest

from connectors.salesforce.notifications import (
    DeadlineNotifier,
    MemoryNotificationLedger,
    PermissionMissing,
    SimpleNotificationApi,
)
from connectors.salesforce.org_schema import PERMISSION_SET
from connectors.salesforce.org_setup import Status
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.schema.events import SlaBreached
from telecase.bootstrap.salesforce import CLIENTS, connect
from telecase.ops.salesforce_org import run_check, run_setup
from tests.adapters.salesforce.test_case_report import TICKET, scenario
from tests.adapters.salesforce.test_org_setup import _cli, _settings
from tests.adapters.salesforce.test_org_setup import fresh_clients as fresh_clients
from tests.adapters.salesforce.test_org_setup import org as org


def permission_line(lines: list[Any]) -> Any:
    [line] = [x for x in lines if x.kind == "permission"]
    return line


async def test_without_the_permission_the_org_refuses_and_check_names_it(
        org: SalesforceSimulator) -> None:
    settings = _settings(org)
    await run_setup(settings, dry_run=False)
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        [permission_set] = await driver.records("PermissionSet", Name=PERMISSION_SET)
        assert permission_set["PermissionsSendCustomNotifications"] is True  # setup's doing
        await driver.update("PermissionSet", permission_set["Id"],
                            {"PermissionsSendCustomNotifications": False})
        case = await driver.create("Case", {"Subject": "Late", "Telecase_Ticket_Id__c": TICKET})
        [kind] = await driver.records("CustomNotificationType")

        client = await connect(settings)
        with pytest.raises(SalesforceRefusedRequest) as refused:  # the org itself
            await asyncio.to_thread(
                client.restful, "actions/standard/customNotificationAction", method="POST",
                json={"inputs": [{"customNotifTypeId": kind["Id"], "title": "t", "body": "b",
                                  "recipientIds": [org.integration_user_id],
                                  "targetId": case["Id"]}]})
        content: Any = refused.value.content
        assert content[0]["errorCode"] == "INSUFFICIENT_ACCESS"

        breach = next(e for e in scenario() if isinstance(e, SlaBreached))
        ledger = MemoryNotificationLedger()
        notifier = DeadlineNotifier(SimpleNotificationApi(client), ledger)
        with pytest.raises(PermissionMissing):  # transient: the batch waits for the admin
            await notifier.notify([breach], now=breach.occurred_at)
        assert ledger.ids == {} and await driver.notifications() == []

        checked = await run_check(settings)  # notifications off: a warning
        assert permission_line(checked.lines).status is Status.WARN
        CLIENTS.forget()
        needed = await run_check(settings.model_copy(update={
            "salesforce_notifications": True}))
        line = permission_line(needed.problems())
        assert line.status is Status.WRONG and "lacks it" in line.detail
        assert "telecase salesforce setup" in line.fix
        answer = await _cli(org, "check", "--json")
        [shown] = [x for x in json.loads(answer.output)["lines"] if x["kind"] == "permission"]
        assert (shown["item"], shown["status"]) == ("Send Custom Notifications", "warn")

        CLIENTS.forget()
        repaired = await run_setup(settings, dry_run=False)
        assert [(s.action, s.target) for s in repaired.steps] == [
            ("grant user permission", "Send Custom Notifications")]
        assert permission_line((await run_check(settings)).lines).status is Status.OK
        assert await notifier.notify([breach], now=breach.occurred_at) == {
            breach.event_id: "sent"}
        [sent] = await driver.notifications()
        assert sent["target_id"] == case["Id"]


