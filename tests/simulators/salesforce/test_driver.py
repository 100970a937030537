"""The driver plays the agents; a poller sees their work through SOQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce import Salesforce

from simulators.salesforce import DriverError, SalesforceDriver, SalesforceSimulator
from tests.simulators.salesforce.conftest import call


async def test_agent_comment_is_visible_to_a_poller(sf: Salesforce, sim: SalesforceSimulator,
                                                    driver: SalesforceDriver) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "Where is my parcel?"}))["id"]
    await call(sf.CaseComment.create, {"ParentId": case_id, "CommentBody": "from telecase",
                                       "Telecase_Event_Id__c": "evt-1"})
    checkpoint = (await driver.now()).replace("+0000", "Z")
    await driver.advance_clock(1)
    agent = await driver.create_user("Maria Lopez", email="maria@example.com")
    posted = await driver.post_case_comment(case_id, "It ships today", user_id=agent["Id"])
    soql = ("SELECT Id, CommentBody, CreatedById, IsPublished FROM CaseComment "
            f"WHERE ParentId = '{case_id}' AND SystemModstamp > {checkpoint} "
            "ORDER BY SystemModstamp")
    new = (await call(sf.query, soql))["records"]
    assert [(r["Id"], r["CommentBody"], r["CreatedById"], r["IsPublished"]) for r in new] == [
        (posted["Id"], "It ships today", agent["Id"], True)]
    assert agent["Id"] != sim.integration_user_id


async def test_agent_status_and_owner_changes(sf: Salesforce, sim: SalesforceSimulator,
                                              driver: SalesforceDriver) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    before = await call(sf.Case.get, case_id)
    await driver.advance_clock(5)
    queue = await driver.create_group("Escalations")
    assert queue["Type"] == "Queue" and queue["Id"].startswith("00G")
    await driver.set_case_owner(case_id, queue["Id"])
    closed = await driver.set_case_status(case_id, "Closed")
    assert closed["LastModifiedById"] == sim.agent_user_id
    assert closed["SystemModstamp"] > before["SystemModstamp"]
    seen = await call(sf.query, "SELECT Status, IsClosed, Owner.Name, LastModifiedBy.Name "
                      f"FROM Case WHERE Id = '{case_id}'")
    record = seen["records"][0]
    assert (record["Status"], record["IsClosed"], record["Owner"]["Name"],
            record["LastModifiedBy"]["Name"]) == ("Closed", True, "Escalations", "Alex Agent")


async def test_records_and_errors(sf: Salesforce, driver: SalesforceDriver) -> None:
    await call(sf.Lead.create, {"LastName": "A", "Company": "X", "Status": "Working"})
    await call(sf.Lead.create, {"LastName": "B", "Company": "Y"})
    assert [r["LastName"] for r in await driver.records("Lead")] == ["A", "B"]
    assert [r["LastName"] for r in await driver.records("Lead", Status="Working")] == ["A"]
    assert await driver.api_calls() == 2
    with pytest.raises(DriverError) as failure:
        await driver.set_case_status("500Dn0000000000AAA", "Closed")
    assert failure.value.status == 404
    with pytest.raises(DriverError):
        await driver.create("Contact", {"Email": "missing-last-name@example.com"})


async def test_agents_can_log_in_when_given_a_password(
        sim: SalesforceSimulator, driver: SalesforceDriver, http_session: object) -> None:
    await driver.create_user("Kim Park", username="kim@telecase.sim", password="pw-123")
    kim = await call(Salesforce, username="kim@telecase.sim", password="pw-123",
                     security_token="", session=http_session)
    created = await call(kim.Case.create, {"Subject": "filed by Kim"})
    case = await driver.record("Case", created["id"])
    users = await driver.records("User", Username="kim@telecase.sim")
    assert case["CreatedById"] == users[0]["Id"]


async def test_get_updated_and_deleted(sf: Salesforce, driver: SalesforceDriver) -> None:
    start = datetime.now(UTC)
    kept = (await call(sf.Case.create, {"Subject": "kept"}))["id"]
    gone = (await call(sf.Case.create, {"Subject": "gone"}))["id"]
    await call(sf.Case.delete, gone)
    await driver.advance_clock(120)
    end = start + timedelta(minutes=5)
    cases = sf.Case
    changed = await call(cases.updated, start - timedelta(minutes=1), end)
    assert changed["ids"] == [kept]
    removed = await call(cases.deleted, start - timedelta(minutes=1), end)
    assert [r["id"] for r in removed["deletedRecords"]] == [gone]
    assert set(removed) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}


async def test_an_embedding_program_hears_of_each_change_before_its_answer(
        sf: Salesforce, sim: SalesforceSimulator) -> None:
    """``on_write`` runs once per changing request, before the client has its answer (a demo
    keeps the org on disk there); reads do not call it."""
    seen: list[int] = []
    sim.on_write = lambda: seen.append(len(sim.org.store.all("Case")))
    case_id = (await call(sf.Case.create, {"Subject": "kept"}))["id"]
    assert seen == [1]  # the Case existed when the hook ran, before create() returned
    await call(sf.query, f"SELECT Id FROM Case WHERE Id = '{case_id}'")
    await call(sf.Case.get, case_id)
    assert seen == [1]
    await call(sf.Case.update, case_id, {"Subject": "changed"})
    assert seen == [1, 1]
