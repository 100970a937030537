"""The simulated org's Opportunity, Account and Lead conversion (``simulators.salesforce.sales``):
what the real API refuses, the upsert on the ticket id, and SOAP ``convertLead()``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.opportunities import LeadConverter
from tests.simulators.salesforce.conftest import call

DEAL = {"Name": "Acme 50 seats", "StageName": "Qualification", "CloseDate": "2026-12-31"}


@pytest.mark.parametrize("missing", ["Name", "StageName", "CloseDate"])
async def test_an_opportunity_without_a_required_field_is_refused(sf: Salesforce,
                                                                   missing: str) -> None:
    body = {k: v for k, v in DEAL.items() if k != missing}
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Opportunity.create, body)
    assert failure.value.content == [{
        "message": f"Required fields are missing: [{missing}]",
        "errorCode": "REQUIRED_FIELD_MISSING", "fields": [missing]}]


async def test_an_unknown_stage_is_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Opportunity.create, {**DEAL, "StageName": "Haggling"})
    assert failure.value.content == [{
        "message": "StageName: bad value for restricted picklist field: Haggling",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["StageName"]}]
    created = await call(sf.Opportunity.create, DEAL)
    with pytest.raises(SalesforceMalformedRequest):
        await call(sf.Opportunity.update, created["id"], {"StageName": "Haggling"})


async def test_upsert_on_the_ticket_id_makes_one_opportunity(sf: Salesforce) -> None:
    account = await call(sf.Account.create, {"Name": "Acme"})
    path = "Telecase_Ticket_Id__c/tg:1:p:1"
    assert await call(sf.Opportunity.upsert, path, {**DEAL, "AccountId": account["id"]}) == 201
    assert await call(sf.Opportunity.upsert, path, {"StageName": "Closed Won"}) in (200, 204)
    rows = (await call(sf.query, "SELECT Id, StageName, IsClosed, IsWon, Account.Name "
                                 "FROM Opportunity"))["records"]
    assert len(rows) == 1
    assert (rows[0]["StageName"], rows[0]["IsClosed"], rows[0]["IsWon"],
            rows[0]["Account"]["Name"]) == ("Closed Won", True, True, "Acme")
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Account.create, {"Type": "Customer"})
    assert failure.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


async def test_convert_lead_over_soap(sf: Salesforce) -> None:
    lead = await call(sf.Lead.create, {"FirstName": "Ann", "LastName": "Lee",
                                       "Company": "Acme", "Telegram_User_Id__c": "77"})
    account_id, contact_id = await call(LeadConverter(sf).convert, lead["id"],
                                        "Closed - Converted")
    converted = await call(sf.Lead.get, lead["id"])
    assert converted["IsConverted"] is True
    assert (converted["ConvertedAccountId"], converted["ConvertedContactId"],
            converted["ConvertedOpportunityId"]) == (account_id, contact_id, None)
    contact = await call(sf.Contact.get, contact_id)
    assert (contact["Name"], contact["AccountId"], contact["Telegram_User_Id__c"]) == (
        "Ann Lee", account_id, "77")
    assert (await call(sf.Account.get, account_id))["Name"] == "Acme"
    assert (await call(sf.query, "SELECT Id FROM Opportunity"))["totalSize"] == 0
    with pytest.raises(PermanentError, match="CANNOT_UPDATE_CONVERTED_LEAD"):
        await call(LeadConverter(sf).convert, lead["id"], "Closed - Converted")


async def test_convert_lead_needs_a_converted_status(sf: Salesforce) -> None:
    lead = await call(sf.Lead.create, {"LastName": "Lee", "Company": "Acme"})
    with pytest.raises(PermanentError, match="INVALID_STATUS"):
        await call(LeadConverter(sf).convert, lead["id"], "Working - Contacted")
    assert (await call(sf.Lead.get, lead["id"]))["IsConverted"] is False
    statuses = (await call(sf.query, "SELECT MasterLabel FROM LeadStatus WHERE "
                                     "IsConverted = true"))["records"]
    assert [s["MasterLabel"] for s in statuses] == ["Closed - Converted"]


async def test_convert_lead_with_an_unknown_session_is_transient(sf: Salesforce) -> None:
    lead = await call(sf.Lead.create, {"LastName": "Lee", "Company": "Acme"})
    stale = SimpleNamespace(sf_instance=sf.sf_instance, sf_version=sf.sf_version,
                            session=sf.session, session_id="00D000000000000!expired")
    with pytest.raises(TransientError, match="INVALID_SESSION_ID"):
        await call(LeadConverter(stale).convert, lead["id"], "Closed - Converted")
    assert (await call(sf.Lead.get, lead["id"]))["IsConverted"] is False


async def test_the_primary_contact_is_set_on_create_only(sf: Salesforce) -> None:
    contact = await call(sf.Contact.create, {"LastName": "Lee"})
    created = await call(sf.Opportunity.create, {**DEAL, "ContactId": contact["id"]})
    assert (await call(sf.Opportunity.get, created["id"]))["ContactId"] == contact["id"]
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Opportunity.update, created["id"], {"ContactId": contact["id"]})
    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
