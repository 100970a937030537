"""An org holding only Salesforce's standard schema (``schema="standard"``), driven by the real
simple-salesforce: what it refuses, and what an admin's setup (Tooling API custom fields, the
Case Origin value set, a permission set) makes acceptable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from simulators.salesforce import SalesforceDriver, SalesforceSimulator, requests_session
from tests.simulators.salesforce.admin import add_case_origin, create_field, grant
from tests.simulators.salesforce.conftest import call

TICKET = {"type": "Text", "length": 64, "externalId": True, "unique": True,
          "label": "Telecase Ticket Id"}


@pytest.fixture
async def strict(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir, schema="standard") as simulator:
        yield simulator


@pytest.fixture
async def admin(strict: SalesforceSimulator) -> AsyncIterator[Salesforce]:
    session = requests_session(strict.base_url, strict.ca_file)
    yield await call(Salesforce, username=strict.username, password=strict.password,
                     security_token=strict.security_token, session=session, version="59.0")
    session.close()


@pytest.fixture
async def strict_driver(strict: SalesforceSimulator) -> AsyncIterator[SalesforceDriver]:
    async with SalesforceDriver(strict.base_url, strict.ca_file) as client:
        yield client


def _code(failure: pytest.ExceptionInfo[Any]) -> str:
    return str(failure.value.content[0]["errorCode"])


async def test_no_telecase_field_exists(admin: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.query, "SELECT Id, Telecase_Event_Id__c FROM CaseComment")
    assert _code(failure) == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Case.create, {"Subject": "x", "Telecase_Ticket_Id__c": "t-1"})
    assert failure.value.content == [{
        "message": "No such column 'Telecase_Ticket_Id__c' on sobject of type Case",
        "errorCode": "INVALID_FIELD", "fields": ["Telecase_Ticket_Id__c"]}]


@pytest.mark.parametrize("sobject", ["CaseComment", "FeedItem"])
async def test_custom_fields_refused_on_comment_objects(admin: Salesforce, sobject: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await create_field(admin, f"{sobject}.Telecase_Event_Id__c", TICKET)
    assert _code(failure) == "INVALID_INPUT"


async def test_custom_field_invisible_until_a_permission_set_grants_it(
        strict: SalesforceSimulator, admin: Salesforce) -> None:
    created = await create_field(admin, "Case.Telecase_Ticket_Id__c", TICKET)
    assert created["success"] is True and created["id"].startswith("00N")
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.query, "SELECT Telecase_Ticket_Id__c FROM Case")
    assert _code(failure) == "INVALID_FIELD"
    case = await call(admin.Case.create, {"Subject": "before"})
    assert "Telecase_Ticket_Id__c" not in await call(admin.Case.get, case["id"])
    await grant(admin, strict.integration_user_id, ["Case.Telecase_Ticket_Id__c"])
    assert (await call(admin.Case.get, case["id"]))["Telecase_Ticket_Id__c"] is None
    await call(admin.Case.delete, case["id"])
    answer = await call(admin.Case.upsert, "Telecase_Ticket_Id__c/tkt-1", {"Subject": "Hi"},
                        raw_response=True)
    assert answer.status_code == 201
    rows = await call(admin.query, "SELECT Telecase_Ticket_Id__c FROM Case")
    assert rows["records"][0]["Telecase_Ticket_Id__c"] == "tkt-1"
    fields = {f["name"]: f for f in (await call(admin.Case.describe))["fields"]}
    ticket = fields["Telecase_Ticket_Id__c"]
    assert (ticket["type"], ticket["length"], ticket["externalId"], ticket["unique"],
            ticket["custom"], ticket["nillable"]) == ("string", 64, True, True, True, True)
    assert fields["Subject"]["length"] == 255
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Case.create, {"Subject": "again", "Telecase_Ticket_Id__c": "tkt-1"})
    assert _code(failure) == "DUPLICATE_VALUE"


async def test_read_only_grant_refuses_writes(strict: SalesforceSimulator,
                                              admin: Salesforce) -> None:
    await create_field(admin, "Contact.Telegram_User_Id__c", TICKET)
    await grant(admin, strict.integration_user_id, ["Contact.Telegram_User_Id__c"], edit=False)
    await call(admin.query, "SELECT Telegram_User_Id__c FROM Contact")
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Contact.create, {"LastName": "Ann", "Telegram_User_Id__c": "42"})
    assert _code(failure) == "INVALID_FIELD_FOR_INSERT_UPDATE"


async def test_upsert_needs_an_external_id_field(strict: SalesforceSimulator,
                                                 admin: Salesforce) -> None:
    await create_field(admin, "Case.Note__c", {"type": "Text", "length": 20, "label": "Note"})
    await grant(admin, strict.integration_user_id, ["Case.Note__c"])
    with pytest.raises(SalesforceResourceNotFound) as failure:
        await call(admin.Case.upsert, "Note__c/abc", {"Subject": "x"})
    assert failure.value.content[0]["message"] == (
        "Provided external ID field does not exist or is not accessible: Note__c")


async def test_lengths(admin: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Case.create, {"Subject": "s" * 256})
    assert failure.value.content == [{
        "message": f"Subject: data value too large: {'s' * 256} (max length=255)",
        "errorCode": "STRING_TOO_LONG", "fields": ["Subject"]}]
    case = await call(admin.Case.create, {"Subject": "s" * 255})
    await call(admin.CaseComment.create, {"ParentId": case["id"], "CommentBody": "b" * 4000})
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.CaseComment.create, {"ParentId": case["id"],
                                              "CommentBody": "b" * 4001})
    assert _code(failure) == "STRING_TOO_LONG"


async def test_required_fields(admin: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Contact.create, {"FirstName": "Ann"})
    assert failure.value.content[0]["message"] == "Required fields are missing: [LastName]"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Lead.create, {"FirstName": "Ann"})
    assert failure.value.content[0]["message"] == (
        "Required fields are missing: [LastName, Company]")


async def test_case_origin_needs_the_value_added(admin: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.Case.create, {"Subject": "x", "Origin": "Telegram"})
    assert failure.value.content == [{
        "message": "Origin: bad value for restricted picklist field: Telegram",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["Origin"]}]
    await add_case_origin(admin, "Telegram")
    await call(admin.Case.create, {"Subject": "x", "Origin": "Telegram"})
    origin = next(f for f in (await call(admin.Case.describe))["fields"]
                  if f["name"] == "Origin")
    assert "Telegram" in [v["value"] for v in origin["picklistValues"]]
    assert origin["restrictedPicklist"] is True


async def test_tooling_query_of_custom_fields(admin: Salesforce) -> None:
    await create_field(admin, "Case.Telecase_Ticket_Id__c", TICKET)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await create_field(admin, "Case.Telecase_Ticket_Id__c", TICKET)
    assert _code(failure) == "DUPLICATE_VALUE"
    found = await call(admin.toolingexecute, "query", params={
        "q": "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField "
             "WHERE DeveloperName = 'Telecase_Ticket_Id' AND TableEnumOrId = 'Case'"})
    assert found["size"] == 1
    assert found["records"][0]["TableEnumOrId"] == "Case"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.toolingexecute, "query",
                   params={"q": "SELECT Id, Metadata FROM StandardValueSet"})
    assert _code(failure) == "MALFORMED_QUERY"


async def test_global_describe_and_permission_rows(strict: SalesforceSimulator,
                                                   admin: Salesforce) -> None:
    names = {o["name"] for o in (await call(admin.describe))["sobjects"]}
    assert {"PermissionSet", "FieldPermissions", "PermissionSetAssignment"} <= names
    permission_set = await call(admin.PermissionSet.create, {"Name": "P", "Label": "P"})
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.FieldPermissions.create, {
            "ParentId": permission_set["id"], "SobjectType": "Case",
            "Field": "Case.Nope__c", "PermissionsRead": True})
    assert _code(failure) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assignment = {"AssigneeId": strict.integration_user_id,
                  "PermissionSetId": permission_set["id"]}
    await call(admin.PermissionSetAssignment.create, assignment)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(admin.PermissionSetAssignment.create, assignment)
    assert _code(failure) == "DUPLICATE_VALUE"


async def test_request_log_lists_refused_calls(strict: SalesforceSimulator, admin: Salesforce,
                                               strict_driver: SalesforceDriver) -> None:
    await call(admin.Case.create, {"Subject": "fine"})
    assert await strict_driver.requests(refused=True) == []
    with pytest.raises(SalesforceMalformedRequest):
        await call(admin.Case.create, {"Subject": "x", "Bogus__c": 1})
    refused = await strict_driver.requests(refused=True)
    assert [(c["method"], c["status"], c["error_code"]) for c in refused] == [
        ("POST", 400, "INVALID_FIELD")]
    assert refused[0]["path"].endswith("/sobjects/Case/")
    assert strict.refused_calls() == refused
    assert any(c["status"] == 201 for c in await strict_driver.requests())


async def test_default_org_keeps_telecase_fields(sf: Salesforce,
                                                 http_session: requests.Session) -> None:
    answer = await call(sf.Case.upsert, "Telecase_Ticket_Id__c/t-9", {"Subject": "s" * 300},
                        raw_response=True)
    assert answer.status_code == 201


async def test_task_fields_are_activity_fields(strict: SalesforceSimulator,
                                               admin: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await create_field(admin, "Task.Telecase_Event_Id__c", TICKET)
    assert _code(failure) == "INVALID_INPUT"
    await create_field(admin, "Activity.Telecase_Event_Id__c", TICKET)
    await grant(admin, strict.integration_user_id, ["Task.Telecase_Event_Id__c"])
    answer = await call(admin.Task.upsert, "Telecase_Event_Id__c/e-1", {"Subject": "Call"},
                        raw_response=True)
    assert answer.status_code == 201
