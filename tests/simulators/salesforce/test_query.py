"""SOQL through simple-salesforce: filters, order, relationships, COUNT(), paging, errors."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from tests.simulators.salesforce.conftest import call


async def _ids(sf: Salesforce, soql: str) -> list[str]:
    return [r["Id"] for r in (await call(sf.query, soql))["records"]]


@pytest.fixture
async def cases(sf: Salesforce) -> list[str]:
    """Four cases: (Subject, Status, Priority, IsEscalated)."""
    rows = [("Refund please", "New", "High", False), ("Login broken", "Working", "Low", True),
            ("refund again", "Closed", None, False), ("Pricing", "New", "Medium", False)]
    made = []
    for subject, status, priority, escalated in rows:
        body: dict[str, Any] = {"Subject": subject, "Status": status, "IsEscalated": escalated}
        if priority:
            body["Priority"] = priority
        made.append((await call(sf.Case.create, body))["id"])
    await call(sf.Case.update, made[2], {"Priority": None})
    return made


async def test_result_shape(sf: Salesforce, cases: list[str]) -> None:
    result = await call(sf.query, "SELECT Id, Subject FROM Case WHERE Id = "
                        f"'{cases[0][:15]}'")
    assert result == {"totalSize": 1, "done": True, "records": [{
        "attributes": {"type": "Case", "url": f"/services/data/v59.0/sobjects/Case/{cases[0]}"},
        "Id": cases[0], "Subject": "Refund please"}]}


@pytest.mark.parametrize(("where", "expected"), [
    ("Status = 'New'", [0, 3]),
    ("status = 'NEW'", [0, 3]),
    ("Status != 'New'", [1, 2]),
    ("Priority != 'High'", [1, 2, 3]),
    ("Priority = null", [2]),
    ("Priority != null", [0, 1, 3]),
    ("Status IN ('Working', 'Closed')", [1, 2]),
    ("Status NOT IN ('Working', 'Closed')", [0, 3]),
    ("Subject LIKE 'refund%'", [0, 2]),
    ("Subject LIKE '%o_in%'", [1]),
    ("IsEscalated = true", [1]),
    ("IsClosed = false AND Status = 'New'", [0, 3]),
    ("(Status = 'Closed' OR IsEscalated = TRUE) AND Subject LIKE '%r%'", [1, 2]),
    ("NOT Status = 'New'", [1, 2]),
    ("Subject > 'q'", [0, 2]),
    ("CreatedDate > 2000-01-01T00:00:00Z", [0, 1, 2, 3]),
    ("CreatedDate < 2000-01-01T00:00:00.000+01:00", []),
])
async def test_where(sf: Salesforce, cases: list[str], where: str,
                     expected: list[int]) -> None:
    found = await _ids(sf, f"SELECT Id FROM Case WHERE {where}")
    assert found == [cases[i] for i in expected]


async def test_order_limit_offset(sf: Salesforce, cases: list[str]) -> None:
    by_subject = await _ids(sf, "SELECT Id FROM Case ORDER BY Subject")
    assert by_subject == [cases[i] for i in (1, 3, 2, 0)]
    nulls_last = await _ids(sf, "SELECT Id FROM Case ORDER BY Priority ASC NULLS LAST, "
                            "Subject DESC")
    assert nulls_last == [cases[i] for i in (0, 1, 3, 2)]
    desc = await _ids(sf, "SELECT Id FROM Case ORDER BY Priority DESC LIMIT 2 OFFSET 1")
    assert desc == [cases[i] for i in (1, 0)]


async def test_count(sf: Salesforce, cases: list[str]) -> None:
    result = await call(sf.query, "SELECT COUNT() FROM Case WHERE Status = 'New'")
    assert result == {"totalSize": 2, "done": True, "records": []}


async def test_relationship_fields(sf: Salesforce, sim: SalesforceSimulator,
                                   driver: SalesforceDriver) -> None:
    contact_id = (await call(sf.Contact.create, {"LastName": "Lee",
                                                 "Email": "lee@example.com"}))["id"]
    queue = await driver.create_group("Tier 2")
    case_id = (await call(sf.Case.create, {"Subject": "s", "ContactId": contact_id,
                                           "OwnerId": queue["Id"]}))["id"]
    orphan = (await call(sf.Case.create, {"Subject": "t"}))["id"]
    result = await call(sf.query, "SELECT Id, Contact.Email, Contact.Name, Owner.Name, "
                        "CreatedBy.Username FROM Case ORDER BY Subject")
    first, second = result["records"]
    assert first["Contact"] == {"attributes": {
        "type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{contact_id}"},
        "Email": "lee@example.com", "Name": "Lee"}
    assert first["Owner"]["attributes"]["type"] == "Group"
    assert first["Owner"]["Name"] == "Tier 2"
    assert first["CreatedBy"]["Username"] == sim.username
    assert (second["Id"], second["Contact"], second["Owner"]["Name"]) == (
        orphan, None, "Telecase Integration")
    by_parent = await _ids(sf, "SELECT Id FROM Case WHERE Contact.Email LIKE '%example.com'")
    assert by_parent == [case_id]


async def test_query_all_pages_through_next_records_url(sf: Salesforce,
                                                        driver: SalesforceDriver) -> None:
    made = await call(sf.restful, "composite/sobjects", method="POST", json={
        "records": [{"attributes": {"type": "Task"}, "Subject": f"t{i}"} for i in range(7)]})
    assert all(r["success"] for r in made)
    await driver.set_page_size(3)
    first = await call(sf.query, "SELECT Id, Subject FROM Task ORDER BY Subject")
    assert (first["totalSize"], first["done"], len(first["records"])) == (7, False, 3)
    locator_url = first["nextRecordsUrl"]
    assert locator_url.startswith("/services/data/v59.0/query/01g") and locator_url.endswith("-3")
    everything = await call(sf.query_all, "SELECT Id, Subject FROM Task ORDER BY Subject")
    assert [r["Subject"] for r in everything["records"]] == [f"t{i}" for i in range(7)]
    assert everything["totalSize"] == 7
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.query_more, "01gDn0000000000AAA-3", identifier_is_url=False)
    assert failure.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


async def test_query_all_includes_deleted_records(sf: Salesforce) -> None:
    keep = (await call(sf.Case.create, {"Subject": "keep"}))["id"]
    gone = (await call(sf.Case.create, {"Subject": "gone"}))["id"]
    await call(sf.Case.delete, gone)
    assert await _ids(sf, "SELECT Id FROM Case") == [keep]
    result = await call(sf.query_all, "SELECT Id, IsDeleted FROM Case", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in result["records"]] == [(keep, False),
                                                                      (gone, True)]


@pytest.mark.parametrize(("soql", "code", "detail"), [
    ("SELECT Id FRM Case", "MALFORMED_QUERY", "unexpected token: FRM"),
    ("SELECT Id FROM Case WHERE Status = 'New' AND Priority = 'High' OR IsClosed = true",
     "MALFORMED_QUERY", "unexpected token: OR"),
    ("SELECT Id FROM Case GROUP BY Status", "MALFORMED_QUERY", "unexpected token: GROUP"),
    ("SELECT Id FROM Case WHERE Status = 'New", "MALFORMED_QUERY", "unexpected token: '"),
    ("SELECT Nope FROM Case", "INVALID_FIELD", "No such column 'Nope' on entity 'Case'"),
    ("SELECT Id FROM Campaign", "INVALID_TYPE", "sObject type 'Campaign' is not supported"),
    ("SELECT Boss.Name FROM Case", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
    ("SELECT Id FROM Case WHERE CreatedDate > '2026-01-01T00:00:00Z'", "INVALID_FIELD",
     "must be of type dateTime and should not be enclosed in quotes"),
    ("SELECT Id FROM Case WHERE Subject = 5", "INVALID_FIELD",
     "must be of type string and should be enclosed in quotes"),
])
async def test_query_errors(sf: Salesforce, soql: str, code: str, detail: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.query, soql)
    error = failure.value.content[0]
    assert error["errorCode"] == code
    assert detail in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]
