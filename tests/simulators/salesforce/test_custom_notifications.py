"""Custom notifications on the simulated org: the notification type made through the Tooling
API and found with SOQL, and ``customNotificationAction`` refusing what the Actions Developer
Guide says it refuses (missing inputs, an unknown type, recipients that are not users, groups
or queues, more than 500 of them, a title over 250 or a body over 750 characters)."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulators.salesforce import SalesforceDriver
from tests.simulators.salesforce.conftest import call

ACTION = "actions/standard/customNotificationAction"


async def make_type(sf: Salesforce) -> str:
    answer = await call(sf.toolingexecute, "sobjects/CustomNotificationType", method="POST",
                        data={"DeveloperName": "Telecase_SLA", "MasterLabel": "SLA deadline",
                              "CustomNotifTypeName": "SLA deadline", "Desktop": True,
                              "Mobile": True})
    return str(answer["id"])


async def send(sf: Salesforce, **given: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await call(sf.restful, ACTION, method="POST",
                                              json={"inputs": [given]})
    return result


async def refused(sf: Salesforce, **given: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        await send(sf, **given)
    [answer] = caught.value.content
    assert answer["isSuccess"] is False
    error: dict[str, Any] = answer["errors"][0]
    return error


async def test_a_notification_reaches_the_owner_of_the_case(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    type_id = await make_type(sf)
    rows = (await call(sf.query, "SELECT Id FROM CustomNotificationType WHERE DeveloperName = "
                       "'Telecase_SLA'"))["records"]
    assert [r["Id"] for r in rows] == [type_id]
    agent = (await driver.org())["agent_user_id"]
    case = await driver.create("Case", {"Subject": "Late"})
    [answer] = await send(sf, customNotifTypeId=type_id, recipientIds=[agent],
                          title="SLA breached", body="First response is late",
                          targetId=case["Id"])
    assert answer == {"actionName": "customNotificationAction", "isSuccess": True,
                      "errors": None, "outputValues": {
                          "SuccessMessage": "Your custom notification is processed "
                                            "successfully."}}
    [sent] = await driver.notifications()
    assert sent["delivered_to"] == [agent] and sent["target_id"] == case["Id"]
    assert sent["title"] == "SLA breached"


async def test_the_action_refuses_what_salesforce_refuses(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    type_id = await make_type(sf)
    agent = (await driver.org())["agent_user_id"]
    case = await driver.create("Case", {"Subject": "Late"})
    good = {"customNotifTypeId": type_id, "recipientIds": [agent], "title": "t", "body": "b",
            "targetId": case["Id"]}
    for name in ("customNotifTypeId", "recipientIds", "title", "body"):
        error = await refused(sf, **{k: v for k, v in good.items() if k != name})
        assert error["statusCode"] == "REQUIRED_FIELD_MISSING" and name in error["message"]
    no_target = {k: v for k, v in good.items() if k != "targetId"}
    assert (await refused(sf, **no_target))["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert "type" in (await refused(sf, **{**good, "customNotifTypeId": case["Id"]}))[
        "message"]
    account = await driver.create("Account", {"Name": "Acme"})
    assert "recipient" in (await refused(sf, **{**good, "recipientIds": [account["Id"]]}))[
        "message"]
    assert (await refused(sf, **{**good, "recipientIds": [agent] * 501}))[
        "statusCode"] == "LIMIT_EXCEEDED"
    assert (await refused(sf, **{**good, "title": "x" * 251}))["statusCode"] == "STRING_TOO_LONG"
    assert (await refused(sf, **{**good, "body": "x" * 751}))["statusCode"] == "STRING_TOO_LONG"
    queue = await driver.create_group("Support", group_type="Queue")
    await send(sf, **{**good, "recipientIds": [agent] * 500, "title": "x" * 250,
                      "body": "x" * 750})
    await send(sf, **{**good, "recipientIds": [queue["Id"]]})
    assert len(await driver.notifications()) == 2
