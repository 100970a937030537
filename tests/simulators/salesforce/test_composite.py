"""Composite requests and sObject Collections, sent with simple-salesforce's ``restful``."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulators.salesforce import SalesforceDriver
from tests.simulators.salesforce.conftest import call

V = "/services/data/v59.0"
HALTED = [{"errorCode": "PROCESSING_HALTED",
           "message": "The transaction was rolled back since another operation in the same "
                      "transaction failed."}]


async def _composite(sf: Salesforce, subrequests: list[dict[str, Any]],
                     all_or_none: bool) -> list[dict[str, Any]]:
    answer = await call(sf.restful, "composite", method="POST", json={
        "allOrNone": all_or_none, "compositeRequest": subrequests})
    return list(answer["compositeResponse"])


def _contact_then_case(case_body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "newContact",
         "body": {"LastName": "Lee", "Telegram_User_Id__c": "77"}},
        {"method": "POST", "url": f"{V}/sobjects/Case", "referenceId": "newCase",
         "body": {"ContactId": "@{newContact.id}", **case_body}},
        {"method": "GET", "url": f"{V}/sobjects/Case/@{{newCase.id}}?fields=CaseNumber,ContactId",
         "referenceId": "readCase"},
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Contact+WHERE+Id+%3D+"
                                 "'@{newContact.id}'", "referenceId": "findContact"},
        {"method": "PATCH", "url": f"{V}/sobjects/Contact/@{{findContact.records[0].Id}}",
         "referenceId": "touchContact", "body": {"FirstName": "Ann"}},
    ]


async def test_composite_with_references(sf: Salesforce, driver: SalesforceDriver) -> None:
    calls_before = await driver.api_calls()
    answers = await _composite(sf, _contact_then_case({"Subject": "From Telegram"}), True)
    assert await driver.api_calls() == calls_before + 1
    assert [a["httpStatusCode"] for a in answers] == [201, 201, 200, 200, 204]
    assert [a["referenceId"] for a in answers] == ["newContact", "newCase", "readCase",
                                                   "findContact", "touchContact"]
    contact_id, case_id = answers[0]["body"]["id"], answers[1]["body"]["id"]
    assert answers[1]["httpHeaders"] == {"Location": f"{V}/sobjects/Case/{case_id}"}
    assert answers[2]["body"]["ContactId"] == contact_id
    assert answers[2]["body"]["CaseNumber"] == "00001001"
    assert answers[4]["body"] is None
    assert (await call(sf.Contact.get, contact_id))["Name"] == "Ann Lee"


async def test_composite_all_or_none_rolls_back(sf: Salesforce,
                                                driver: SalesforceDriver) -> None:
    answers = await _composite(sf, _contact_then_case({"Subjekt": "typo"}), True)
    assert [a["httpStatusCode"] for a in answers] == [400] * 5
    assert answers[1]["body"][0]["errorCode"] == "INVALID_FIELD"
    assert all(answers[i]["body"] == HALTED for i in (0, 2, 3, 4))
    assert await driver.records("Contact") == []


async def test_composite_without_all_or_none_keeps_what_worked(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    answers = await _composite(sf, _contact_then_case({"Subjekt": "typo"}), False)
    assert [a["httpStatusCode"] for a in answers] == [201, 400, 400, 200, 204]
    assert answers[2]["body"] == [{
        "errorCode": "PROCESSING_HALTED",
        "message": "Invalid reference specified. No value for newCase.id found in newCase."}]
    assert len(await driver.records("Contact")) == 1


async def test_composite_limits(sf: Salesforce) -> None:
    too_many = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{i}"}
                for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest):
        await _composite(sf, too_many, False)


async def test_collections_create_update_delete(sf: Salesforce,
                                                driver: SalesforceDriver) -> None:
    created = await call(sf.restful, "composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Contact"}, "LastName": "A"},
            {"attributes": {"type": "Lead"}, "LastName": "B"},
            {"attributes": {"type": "Task"}, "Subject": "C"}]})
    assert created[0]["success"] and created[2]["success"]
    assert created[1] == {"success": False, "errors": [{
        "statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: "
        "[Company]", "fields": ["Company"]}]}
    contact_id, task_id = created[0]["id"], created[2]["id"]
    updated = await call(sf.restful, "composite/sobjects", method="PATCH", json={
        "records": [{"attributes": {"type": "Contact"}, "id": contact_id, "FirstName": "Z"},
                    {"attributes": {"type": "Task"}, "Id": task_id, "Status": "Completed"}]})
    assert updated == [{"id": contact_id, "success": True, "errors": []},
                       {"id": task_id, "success": True, "errors": []}]
    assert (await driver.record("Task", task_id))["IsClosed"] is True
    deleted = await call(sf.restful, "composite/sobjects", method="DELETE",
                         params={"ids": f"{contact_id},{task_id}"})
    assert [d["success"] for d in deleted] == [True, True]
    assert await driver.records("Contact") == []


async def test_collections_all_or_none(sf: Salesforce, driver: SalesforceDriver) -> None:
    answer = await call(sf.restful, "composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [
            {"attributes": {"type": "Contact"}, "LastName": "A"},
            {"attributes": {"type": "Contact"}, "Email": "no-last-name@example.com"}]})
    assert answer[0] == {"success": False, "errors": [{
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request "
                   "was using AllOrNone header", "fields": []}]}
    assert answer[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert await driver.records("Contact") == []


async def test_collections_upsert(sf: Salesforce) -> None:
    def body(value: str, name: str) -> dict[str, Any]:
        return {"allOrNone": False, "records": [
            {"attributes": {"type": "Task"}, "Telecase_Event_Id__c": value, "Subject": name}]}
    first = await call(sf.restful, "composite/sobjects/Task/Telecase_Event_Id__c",
                       method="PATCH", json=body("evt-1", "one"))
    again = await call(sf.restful, "composite/sobjects/Task/Telecase_Event_Id__c",
                       method="PATCH", json=body("evt-1", "uno"))
    assert first[0]["created"] is True and again[0]["created"] is False
    assert first[0]["id"] == again[0]["id"]
    assert (await call(sf.Task.get, first[0]["id"]))["Subject"] == "uno"


async def test_collections_take_at_most_200_records(sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Task"}, "Subject": str(i)} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.restful, "composite/sobjects", method="POST", json={"records": records})
    assert failure.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


async def test_composite_takes_at_most_five_collections_and_queries(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    query = {"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Case"}
    create = {"method": "POST", "url": f"{V}/composite/sobjects",
              "body": {"records": [{"attributes": {"type": "Contact"}, "LastName": "Lee"}]}}
    five = [{**sub, "referenceId": f"r{i}"} for i, sub in enumerate([query] * 3 + [create] * 2)]
    answers = await _composite(sf, five, False)
    assert [a["httpStatusCode"] for a in answers] == [200] * 5
    row = {"method": "GET", "url": f"{V}/sobjects/Contact/describe", "referenceId": "d"}
    assert len(await _composite(sf, [*five, row], False)) == 6  # other kinds do not count
    with pytest.raises(SalesforceMalformedRequest, match="LIMIT_EXCEEDED"):
        await _composite(sf, [*five, {**query, "referenceId": "r5"}], False)

