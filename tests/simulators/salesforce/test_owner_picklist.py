"""Case owners, IsEscalated and Priority through simple-salesforce: who may own a Case,
picklist values in describe, restricted picklists, and the errors the real API answers with."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from tests.simulators.salesforce.conftest import call

MISSING_USER = "005Dn0000099999"  # well formed, no such user


async def _refusal(function: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(function, *args)
    [error] = failure.value.content
    assert isinstance(error, dict)
    return error


async def test_a_case_is_owned_by_an_active_user_or_a_queue(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    agent = await driver.create_user("Dana Desk")
    queue = await driver.create_group("Tier 2")
    for owner, expected in ((agent["Id"], agent["Id"]), (queue["Id"], queue["Id"]),
                            (agent["Id"][:15], agent["Id"])):  # 15 characters in, 18 out
        assert await call(sf.Case.update, case_id, {"OwnerId": owner}) == 204
        assert (await call(sf.Case.get, case_id))["OwnerId"] == expected
    case = await call(sf.Case.get, case_id)
    assert case["LastModifiedById"] == sim.integration_user_id


async def test_owners_that_cannot_own_a_case_are_refused(
        sf: Any, driver: SalesforceDriver) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    gone = await driver.create_user("Former Agent")
    await driver.update("User", gone["Id"], {"IsActive": False})
    group = await driver.create_group("Everyone", group_type="Regular")
    contact = await driver.create("Contact", {"LastName": "Lee"})

    inactive = await _refusal(sf.Case.update, case_id, {"OwnerId": gone["Id"]})
    assert inactive == {"errorCode": "INACTIVE_OWNER_OR_USER", "fields": [], "message":
                        f"operation performed with inactive user [{gone['Id']}] as owner "
                        "of case"}
    for owner in (group["Id"], MISSING_USER):
        refused = await _refusal(sf.Case.update, case_id, {"OwnerId": owner})
        assert (refused["errorCode"], refused["fields"]) == ("INVALID_CROSS_REFERENCE_KEY",
                                                             ["OwnerId"])
    wrong = await _refusal(sf.Case.update, case_id, {"OwnerId": contact["Id"]})
    assert wrong["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    malformed = await _refusal(sf.Case.update, case_id, {"OwnerId": "Dana"})
    assert malformed["errorCode"] == "MALFORMED_ID"
    # a new Case with such an owner is refused too; none was created
    assert (await _refusal(sf.Case.create, {"Subject": "x", "OwnerId": gone["Id"]}))[
        "errorCode"] == "INACTIVE_OWNER_OR_USER"
    assert len(await driver.records("Case")) == 1


async def test_is_escalated_is_a_boolean_and_unknown_fields_are_refused(
        sf: Any) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    assert (await call(sf.Case.get, case_id))["IsEscalated"] is False
    assert await call(sf.Case.update, case_id, {"IsEscalated": True}) == 204
    assert (await call(sf.Case.get, case_id))["IsEscalated"] is True
    assert (await _refusal(sf.Case.update, case_id, {"IsEscalated": "yes"}))["errorCode"] \
        == "JSON_PARSER_ERROR"
    unknown = await _refusal(sf.Case.update, case_id, {"Severity": "S1"})
    assert unknown == {"errorCode": "INVALID_FIELD", "fields": ["Severity"],
                       "message": "No such column 'Severity' on sobject of type Case"}


async def test_priority_lists_the_default_values_and_is_unrestricted_until_restricted(
        sf: Any, driver: SalesforceDriver) -> None:
    fields = {f["name"]: f for f in (await call(sf.Case.describe))["fields"]}
    priority = fields["Priority"]
    assert [v["value"] for v in priority["picklistValues"]] == ["High", "Medium", "Low"]
    assert [v["value"] for v in priority["picklistValues"] if v["defaultValue"]] == ["Medium"]
    assert priority["restrictedPicklist"] is False
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    assert (await call(sf.Case.get, case_id))["Priority"] == "Medium"
    assert await call(sf.Case.update, case_id, {"Priority": "Urgent"}) == 204  # stored as is

    described = await driver.restrict_picklist("Case", "priority")
    assert (described["name"], described["restrictedPicklist"]) == ("Priority", True)
    refused = await _refusal(sf.Case.update, case_id, {"Priority": "Critical"})
    assert refused == {"errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                       "fields": ["Priority"],
                       "message": "Priority: bad value for restricted picklist field: Critical"}
    assert await call(sf.Case.update, case_id, {"Priority": "High"}) == 204
    assert (await call(sf.Case.get, case_id))["Priority"] == "High"

    # in a collection, the refused record fails alone
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Case"}, "Telecase_Ticket_Id__c": "t-1", "Priority": "Low"},
        {"attributes": {"type": "Case"}, "Telecase_Ticket_Id__c": "t-2", "Priority": "P1"}]}
    ok, bad = await call(sf.restful, "composite/sobjects/Case/Telecase_Ticket_Id__c",
                         method="PATCH", json=body)
    assert ok["success"] is True and bad["success"] is False
    assert bad["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
