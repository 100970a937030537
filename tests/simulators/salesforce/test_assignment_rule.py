"""An active Case assignment rule: it runs on every API create and update of a Case unless the
call carries ``Sforce-Auto-Assign: FALSE`` (REST API Developer Guide, Assignment Rule Header)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from simulators.salesforce import SalesforceDriver, SalesforceSimulator, requests_session
from tests.simulators.salesforce.conftest import call

NO_RULES = {"Sforce-Auto-Assign": "FALSE"}


@pytest.fixture
async def ruled(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir,
                                   case_assignment_queue="Support Queue") as simulator:
        yield simulator


@pytest.fixture
async def client(ruled: SalesforceSimulator) -> AsyncIterator[Salesforce]:
    session = requests_session(ruled.base_url, ruled.ca_file)
    yield await call(Salesforce, username=ruled.username, password=ruled.password,
                     security_token=ruled.security_token, session=session)
    session.close()


async def _owner(sf: Salesforce, case_id: str) -> str:
    return str((await call(sf.Case.get, case_id))["OwnerId"])


async def test_rule_runs_on_create_and_update(ruled: SalesforceSimulator,
                                              client: Salesforce) -> None:
    queue = ruled.assignment_owner_id
    assert queue is not None and queue.startswith("00G")
    created = await call(client.Case.create, {"Subject": "Hi"})
    assert await _owner(client, created["id"]) == queue
    async with SalesforceDriver(ruled.base_url, ruled.ca_file) as agents:
        await agents.set_case_owner(created["id"], ruled.agent_user_id)
    assert await _owner(client, created["id"]) == ruled.agent_user_id
    await call(client.Case.update, created["id"], {"Subject": "Renamed"})
    assert await _owner(client, created["id"]) == queue  # the agent's choice is undone


async def test_header_false_keeps_the_owner(ruled: SalesforceSimulator,
                                            client: Salesforce) -> None:
    created = await call(client.Case.create, {"Subject": "Hi"}, headers=NO_RULES)
    assert await _owner(client, created["id"]) == ruled.integration_user_id
    async with SalesforceDriver(ruled.base_url, ruled.ca_file) as agents:
        await agents.set_case_owner(created["id"], ruled.agent_user_id)
    await call(client.Case.update, created["id"], {"Subject": "Renamed"},
               headers={"Sforce-Auto-Assign": "false"})
    assert await _owner(client, created["id"]) == ruled.agent_user_id


async def test_upsert_and_composite_follow_the_header(ruled: SalesforceSimulator,
                                                      client: Salesforce) -> None:
    answer = await call(client.Case.upsert, "Telecase_Ticket_Id__c/t-1", {"Subject": "a"},
                        headers=NO_RULES)
    assert answer == 201
    found = await call(client.query, "SELECT OwnerId FROM Case")
    assert found["records"][0]["OwnerId"] == ruled.integration_user_id
    await call(client.restful, "composite", method="POST", json={"compositeRequest": [{
        "method": "PATCH", "url": "/services/data/v59.0/sobjects/Case/Telecase_Ticket_Id__c/t-1",
        "referenceId": "c", "body": {"Subject": "b"}}]})
    found = await call(client.query, "SELECT OwnerId FROM Case")
    assert found["records"][0]["OwnerId"] == ruled.assignment_owner_id


async def test_no_rule_by_default(sf: Salesforce, sim: SalesforceSimulator,
                                  driver: SalesforceDriver,
                                  http_session: requests.Session) -> None:
    created = await call(sf.Case.create, {"Subject": "Hi"})
    assert await _owner(sf, created["id"]) == sim.integration_user_id
    queue = await driver.create_group("Tier 2")
    await driver.set_assignment_rule(queue["Id"])
    await call(sf.Case.update, created["id"], {"Subject": "x"})
    assert await _owner(sf, created["id"]) == queue["Id"]
    await driver.set_assignment_rule(None)
    assert sim.assignment_owner_id is None
