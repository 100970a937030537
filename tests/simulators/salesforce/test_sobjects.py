"""sObject rows through simple-salesforce: create, read, update, delete, upsert, errors."""

from __future__ import annotations

import re

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from simulators.salesforce import SalesforceSimulator
from simulators.salesforce.ids import checksum, normalize
from tests.simulators.salesforce.conftest import call

SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _version(sf: Salesforce, version: str) -> Salesforce:
    """The same session, talking to another API version."""
    return Salesforce(instance=sf.sf_instance, session_id=sf.session_id, version=version,
                      session=sf.session)


def test_ids_have_the_right_checksum() -> None:
    assert checksum("001A0000006Vm9r") == "IAC"
    assert normalize("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert normalize("not an id") is None


async def test_create_and_get_a_case(sf: Salesforce, sim: SalesforceSimulator) -> None:
    created = await call(sf.Case.create, {"Subject": "Where is my order?", "Origin": "Web",
                                          "Telecase_Ticket_Id__c": "tkt-1"})
    assert set(created) == {"id", "success", "errors"}
    assert created["success"] is True and created["errors"] == []
    case_id = created["id"]
    assert len(case_id) == 18 and case_id.startswith("500") and normalize(case_id) == case_id
    case = await call(sf.Case.get, case_id)
    assert case["attributes"] == {"type": "Case",
                                  "url": f"/services/data/v59.0/sobjects/Case/{case_id}"}
    assert case["CaseNumber"] == "00001001"
    assert (case["Status"], case["Priority"], case["IsClosed"]) == ("New", "Medium", False)
    assert case["OwnerId"] == case["CreatedById"] == sim.integration_user_id
    assert case["LastModifiedById"] == sim.integration_user_id
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert SF_DATETIME.match(case[stamp]), case[stamp]
    second = await call(sf.Case.create, {"Subject": "Another"})
    assert (await call(sf.Case.get, second["id"]))["CaseNumber"] == "00001002"
    # a 15-character id works too; answers use 18
    assert (await call(sf.Case.get, case_id[:15]))["Id"] == case_id


async def test_get_with_fields(sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    only = await call(sf.Case.get, case_id, params={"fields": "Subject,status"})
    assert list(only) == ["attributes", "Subject", "Status"]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.get, case_id, params={"fields": "Nope"})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"


async def test_update_and_delete(sf: Salesforce) -> None:
    contact_id = (await call(sf.Contact.create, {"FirstName": "Ann", "LastName": "Lee"}))["id"]
    before = await call(sf.Contact.get, contact_id)
    assert before["Name"] == "Ann Lee"
    assert await call(sf.Contact.update, contact_id, {"LastName": "Lim", "Phone": "+1555"}) == 204
    after = await call(sf.Contact.get, contact_id)
    assert (after["Name"], after["Phone"]) == ("Ann Lim", "+1555")
    assert after["SystemModstamp"] >= before["SystemModstamp"]
    assert await call(sf.Contact.delete, contact_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as failure:
        await call(sf.Contact.get, contact_id)
    assert failure.value.content == [{"message": "entity is deleted",
                                      "errorCode": "ENTITY_IS_DELETED", "fields": []}]
    with pytest.raises(SalesforceResourceNotFound):
        await call(sf.Contact.update, contact_id, {"LastName": "X"})


async def test_unknown_record_and_object(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        await call(sf.Case.get, "500Dn0000000000AAA")
    assert failure.value.content[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceResourceNotFound):
        await call(sf.Campaign.create, {"Name": "x"})


async def test_deleting_a_case_deletes_its_comments(sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    comment_id = (await call(sf.CaseComment.create, {"ParentId": case_id,
                                                     "CommentBody": "hi"}))["id"]
    await call(sf.Case.delete, case_id)
    with pytest.raises(SalesforceResourceNotFound):
        await call(sf.CaseComment.get, comment_id)


@pytest.mark.parametrize(("sobject", "body", "missing"), [
    ("Lead", {"FirstName": "Bo"}, ["LastName", "Company"]),
    ("Lead", {"LastName": "Bo"}, ["Company"]),
    ("Contact", {"Email": "a@b.c"}, ["LastName"]),
    ("CaseComment", {"CommentBody": "orphan"}, ["ParentId"]),
])
async def test_required_fields(sf: Salesforce, sobject: str, body: dict[str, str],
                               missing: list[str]) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(getattr(sf, sobject).create, body)
    assert failure.value.content == [{
        "message": f"Required fields are missing: [{', '.join(missing)}]",
        "errorCode": "REQUIRED_FIELD_MISSING", "fields": missing}]


async def test_task_subject_is_optional(sf: Salesforce) -> None:
    task = await call(sf.Task.get, (await call(sf.Task.create, {}))["id"])
    assert (task["Subject"], task["Status"], task["Priority"]) == (None, "Not Started", "Normal")


async def test_field_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.create, {"Subjekt": "typo"})
    assert failure.value.content == [{
        "message": "No such column 'Subjekt' on sobject of type Case",
        "errorCode": "INVALID_FIELD", "fields": ["Subjekt"]}]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.create, {"CaseNumber": "1"})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.create, {"ContactId": "nope"})
    assert failure.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.create, {"IsEscalated": "yes"})
    assert failure.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_custom_fields_exist_on_demand(sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s", "Sla_Tier__c": "gold"}))["id"]
    case = await call(sf.Case.get, case_id)
    assert case["Sla_Tier__c"] == "gold"
    assert case["Telecase_Ticket_Id__c"] is None


async def test_upsert_creates_then_updates(sf: Salesforce) -> None:
    created = await call(sf.Contact.upsert, "Telegram_User_Id__c/4242",
                         {"LastName": "Lee"}, raw_response=True)
    assert created.status_code == 201
    assert created.json() == {"id": created.json()["id"], "success": True, "errors": [],
                              "created": True}
    updated = await call(sf.Contact.upsert, "Telegram_User_Id__c/4242",
                         {"FirstName": "Ann"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [],
                              "created": False}
    found = await call(sf.Contact.get_by_custom_id, "Telegram_User_Id__c", "4242")
    assert (found["Name"], found["Telegram_User_Id__c"]) == ("Ann Lee", "4242")


async def test_upsert_before_api_46_answers_204(sf: Salesforce) -> None:
    old = _version(sf, "45.0")
    created = await call(old.Case.upsert, "Telecase_Ticket_Id__c/t-9", {"Subject": "a"},
                         raw_response=True)
    assert created.status_code == 201 and "created" not in created.json()
    assert await call(old.Case.upsert, "Telecase_Ticket_Id__c/t-9", {"Subject": "b"}) == 204


async def test_unique_external_id_refuses_duplicates(sf: Salesforce) -> None:
    first = (await call(sf.Case.create, {"Telecase_Ticket_Id__c": "dup"}))["id"]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.create, {"Telecase_Ticket_Id__c": "dup"})
    assert failure.value.content == [{
        "message": "duplicate value found: Telecase_Ticket_Id__c duplicates value on record "
                   f"with id: {first}", "errorCode": "DUPLICATE_VALUE", "fields": []}]


async def test_upsert_matching_several_records_is_300(sf: Salesforce) -> None:
    for _ in range(2):
        await call(sf.Lead.create, {"LastName": "L", "Company": "C", "Legacy_Id__c": "x1"})
    with pytest.raises(SalesforceMoreThanOneRecord) as failure:
        await call(sf.Lead.upsert, "Legacy_Id__c/x1", {"Company": "D"})
    assert failure.value.status == 300
    assert all(u.startswith("/services/data/v59.0/sobjects/Lead/00Q")
               for u in failure.value.content)


async def test_upsert_by_a_standard_field_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as failure:
        await call(sf.Case.upsert, "Subject/abc", {"Status": "New"})
    assert failure.value.content[0]["message"] == (
        "Provided external ID field does not exist or is not accessible: Subject")


async def test_case_closing_and_describe(sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    await call(sf.Case.update, case_id, {"Status": "Closed"})
    closed = await call(sf.Case.get, case_id)
    assert closed["IsClosed"] is True and SF_DATETIME.match(closed["ClosedDate"])
    described = await call(sf.Case.describe)
    assert described["name"] == "Case" and described["keyPrefix"] == "500"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Telecase_Ticket_Id__c"]["externalId"] is True
    assert fields["CaseNumber"]["createable"] is False
    assert (await call(sf.restful, "sobjects"))["maxBatchSize"] == 200
