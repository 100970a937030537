"""The whole strict org (standard schema, SOAP login() disabled, JWT certificate, client
credentials on a My Domain, an active Case assignment rule): an admin's setup, then the calls
an integration makes, and a request log with no refused call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from simulators.salesforce import SalesforceDriver, SalesforceSimulator, requests_session
from tests.simulators.salesforce.admin import add_case_origin, create_field, grant
from tests.simulators.salesforce.conftest import call

DOMAIN = "acme.my"
EXTERNAL_ID = {"type": "Text", "length": 64, "externalId": True, "unique": True}
FIELDS = {"Case.Telecase_Ticket_Id__c": "Case", "Contact.Telegram_User_Id__c": "Contact",
          "Lead.Telegram_User_Id__c": "Lead", "Activity.Telecase_Event_Id__c": "Task"}
NO_RULES = {"Sforce-Auto-Assign": "FALSE"}


@pytest.fixture
async def org(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir, schema="standard", soap_login=False,
                                   my_domain=DOMAIN, client_credentials=True,
                                   case_assignment_queue="Support Queue") as simulator:
        yield simulator


@pytest.fixture
def session(org: SalesforceSimulator) -> AsyncIterator[requests.Session]:
    http = requests_session(org.base_url, org.ca_file, my_domain=DOMAIN)
    yield http  # type: ignore[misc]
    http.close()


async def test_setup_then_integration_calls_refuse_nothing(org: SalesforceSimulator,
                                                           session: requests.Session) -> None:
    sf = await call(Salesforce, consumer_key=org.consumer_key,
                    consumer_secret=org.consumer_secret, domain=DOMAIN, session=session)
    for full_name in FIELDS:
        await create_field(sf, full_name, {**EXTERNAL_ID, "label": full_name})
    await add_case_origin(sf, "Telegram")
    await grant(sf, org.integration_user_id,
                [f"{sobject}.{name.split('.')[1]}" for name, sobject in FIELDS.items()])

    await call(sf.Contact.upsert, "Telegram_User_Id__c/42", {"LastName": "Ann Example"})
    contact = await call(sf.Contact.get_by_custom_id, "Telegram_User_Id__c", "42")
    answer = await call(sf.Case.upsert, "Telecase_Ticket_Id__c/tkt-1", {
        "Subject": "Pricing", "Origin": "Telegram", "ContactId": contact["Id"]},
        headers=NO_RULES, raw_response=True)
    assert answer.status_code == 201
    case = await call(sf.Case.get_by_custom_id, "Telecase_Ticket_Id__c", "tkt-1")
    assert case["OwnerId"] == org.integration_user_id
    await call(sf.Task.upsert, "Telecase_Event_Id__c/ev-1", {
        "Subject": "Telegram message", "WhatId": case["Id"], "WhoId": contact["Id"]})
    await call(sf.CaseComment.create, {"ParentId": case["Id"], "CommentBody": "Hello [tc:1]"})
    async with SalesforceDriver(org.base_url, org.ca_file) as agents:
        await agents.set_case_owner(case["Id"], org.agent_user_id)
        comments = await call(sf.query, "SELECT Id, CommentBody, CreatedById FROM CaseComment "
                              f"WHERE ParentId = '{case['Id']}'")
        assert comments["totalSize"] == 1
        await call(sf.Case.update, case["Id"], {"Subject": "Pricing (renamed)"},
                   headers=NO_RULES)
        assert (await call(sf.Case.get, case["Id"]))["OwnerId"] == org.agent_user_id
        assert await agents.requests(refused=True) == []
