"""Knowledge, Quick Text and SOSL in the simulator, through unmodified simple-salesforce."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from simulators.salesforce import SalesforceDriver
from tests.simulators.salesforce.conftest import call

KNOWLEDGE = ("FIND {{{}}} IN ALL FIELDS RETURNING Knowledge__kav(Id, KnowledgeArticleId, Title, "
             "Summary, UrlName WHERE PublishStatus = 'Online' AND Language = 'en_US')")


def titles(answer: dict[str, Any]) -> list[str]:
    return [r["Title"] for r in answer["searchRecords"]]


async def test_sosl_finds_published_articles_best_match_first(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.create_article("Refund for hardware", "Hardware refunds need the receipt.")
    await driver.create_article("Refund policy draft", "refund policy v2", publish=False)
    answer = await call(sf.search, KNOWLEDGE.format("refund policy"))
    assert titles(answer) == ["Refund policy"]  # both words; drafts are not Online
    [hit] = answer["searchRecords"]
    assert hit["attributes"]["type"] == "Knowledge__kav" and hit["Id"].startswith("ka0")
    assert hit["KnowledgeArticleId"].startswith("kA0") and hit["UrlName"] == "refund-policy"
    assert titles(await call(sf.search, KNOWLEDGE.format("refund"))) == [
        "Refund policy", "Refund for hardware"]  # title and summary hits beat summary only
    assert sorted(titles(await call(sf.search, KNOWLEDGE.format("passw* OR hardware")))) == [
        "Refund for hardware", "Reset your password"]
    assert titles(await call(sf.search, KNOWLEDGE.format("refund -hardware"))) == [
        "Refund policy"]
    assert titles(await call(sf.search, KNOWLEDGE.format('"per seat"'))) == [
        "Pricing and plans"]
    assert (await call(sf.search, KNOWLEDGE.format("warp drive")))["searchRecords"] == []
    only_id = await call(sf.quick_search, "password")
    assert only_id == {"searchRecords": []}  # the default scope: Case, Contact, Lead


async def test_malformed_searches_are_refused_like_salesforce(sf: Salesforce) -> None:
    for bad in ("FIND refund", KNOWLEDGE.format("x"), "FIND {refund} RETURNING",
                "FIND {refund} RETURNING Knowledge__kav(Id WHERE Bogus = 1)"):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            await call(sf.search, bad)
        assert caught.value.content[0]["errorCode"] in ("MALFORMED_SEARCH", "INVALID_FIELD")


async def test_case_article_links_once_and_knows_the_version(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    case = await call(sf.Case.create, {"Subject": "Refund?"})
    [article] = await driver.records("Knowledge__kav", UrlName="refund-policy")
    body = {"CaseId": case["id"], "KnowledgeArticleId": article["KnowledgeArticleId"]}
    first = await call(sf.CaseArticle.create, body)
    again = await call(sf.CaseArticle.create, body)
    assert first["id"] == again["id"]  # "the create request simply returns the existing record"
    [link] = await driver.records("CaseArticle")
    assert (link["ArticleLanguage"], link["ArticleVersionNumber"]) == ("en_US", 1)
    rows = await call(sf.query, "SELECT KnowledgeArticleId FROM CaseArticle WHERE CaseId = "
                                f"'{case['id']}'")
    assert [r["KnowledgeArticleId"] for r in rows["records"]] == [article["KnowledgeArticleId"]]


async def test_quick_text_is_read_whole_because_name_cannot_be_filtered(
        sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.create_quick_text("Pricing", "Hi {!Contact.FirstName}, plans start at $10.")
    rows = await call(sf.query, "SELECT Id, Name, Message FROM QuickText")
    assert [(r["Name"], r["Id"][:3]) for r in rows["records"]] == [("Pricing", "574")]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        await call(sf.query, "SELECT Id FROM QuickText WHERE Name = 'Pricing'")
    assert "can not be filtered" in caught.value.content[0]["message"]
