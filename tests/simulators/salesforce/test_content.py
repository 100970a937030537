"""Salesforce Files in the simulator, through unmodified simple-salesforce: a ContentVersion
with a Case as its first publish location is a File on that Case (issue 16 item 6)."""

from __future__ import annotations

import base64

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.simulators.salesforce.conftest import call

PDF = b"%PDF-1.4 the quote\n"


async def test_a_content_version_on_a_case_makes_its_document_and_link(sf: Salesforce) -> None:
    case = await call(sf.Case.create, {"Subject": "Quote"})
    created = await call(sf.ContentVersion.create, {
        "Title": "quote", "PathOnClient": "quote.pdf", "FirstPublishLocationId": case["id"],
        "VersionData": base64.b64encode(PDF).decode()})
    assert created["id"].startswith("068")
    version = await call(sf.ContentVersion.get, created["id"])
    assert version["FileType"] == "PDF" and version["FileExtension"] == "pdf"
    assert version["ContentSize"] == len(PDF) and version["ContentDocumentId"].startswith("069")
    [link] = (await call(sf.query, "SELECT ContentDocumentId, LinkedEntityId, ShareType FROM "
                         f"ContentDocumentLink WHERE LinkedEntityId = '{case['id']}'"))["records"]
    assert link["ContentDocumentId"] == version["ContentDocumentId"]
    assert link["ShareType"] == "V"
    [doc] = (await call(sf.query, "SELECT Title, LatestPublishedVersionId FROM ContentDocument "
                        f"WHERE Id = '{version['ContentDocumentId']}'"))["records"]
    assert doc == {**doc, "Title": "quote", "LatestPublishedVersionId": created["id"]}


async def test_a_link_file_and_the_fields_a_version_needs(sf: Salesforce) -> None:
    case = await call(sf.Case.create, {"Subject": "Video"})
    link = await call(sf.ContentVersion.create, {
        "Title": "big.mp4 (in Telegram)", "ContentUrl": "https://t.me/c/123/45",
        "FirstPublishLocationId": case["id"]})
    assert (await call(sf.ContentVersion.get, link["id"]))["FileType"] == "LINK"
    with pytest.raises(SalesforceMalformedRequest, match="REQUIRED_FIELD_MISSING"):
        await call(sf.ContentVersion.create, {"Title": "nothing",
                                              "FirstPublishLocationId": case["id"]})
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        await call(sf.ContentVersion.create, {"PathOnClient": "x.pdf", "VersionData": "**"})


async def test_a_link_query_must_pick_links_by_id(sf: Salesforce) -> None:
    """The Object Reference: without Query All Files, a ContentDocumentLink query filters on
    Id, ContentDocumentId or LinkedEntityId (``=`` or ``IN``)."""
    case = await call(sf.Case.create, {"Subject": "Quote"})
    await call(sf.ContentVersion.create, {
        "PathOnClient": "quote.pdf", "FirstPublishLocationId": case["id"],
        "VersionData": base64.b64encode(PDF).decode()})
    for where in ("", " WHERE ShareType = 'V'",
                  f" WHERE LinkedEntityId != '{case['id']}'",
                  f" WHERE LinkedEntityId NOT IN ('{case['id']}')",
                  f" WHERE LinkedEntityId = '{case['id']}' OR ShareType = 'V'"):
        with pytest.raises(SalesforceMalformedRequest, match="Implementation restriction"):
            await call(sf.query, f"SELECT Id FROM ContentDocumentLink{where}")
    for where in (f"LinkedEntityId IN ('{case['id']}')",
                  f"ShareType = 'V' AND LinkedEntityId = '{case['id']}'"):
        found = await call(sf.query, f"SELECT Id FROM ContentDocumentLink WHERE {where}")
        assert found["totalSize"] == 1
