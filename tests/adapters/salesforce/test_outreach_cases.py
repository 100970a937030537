"""Which Cases are outreach requests (``connectors.salesforce.outreach``), against a fake of
the API's two calls: Origin Telegram without a ticket id, for a person with a Telegram id."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.salesforce.outreach import OutreachCases


class FakeApi:
    def __init__(self, cases: list[dict[str, Any]], people: list[dict[str, Any]]) -> None:
        self.cases, self.people = cases, people
        self.queries: list[str] = []
        self.updates: list[dict[str, Any]] = []
        self.refuse = False

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]:
        self.queries += soqls
        return [self.cases if " FROM Case " in q else
                [p for p in self.people if f"'{p['Id']}'" in q] for q in soqls]

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.updates += records
        return [{"success": not self.refuse, "errors": ["locked"] if self.refuse else []}]

    def upsert_collection(self, *_: Any, **__: Any) -> list[dict[str, Any]]:
        raise AssertionError("not used")

    def create_collection(self, *_: Any, **__: Any) -> list[dict[str, Any]]:
        raise AssertionError("not used")


def test_only_cases_whose_person_has_a_telegram_id_are_found() -> None:
    api = FakeApi(
        cases=[{"Id": "500A", "Subject": "Upgrade", "Description": "Hi", "ContactId": "003A",
                "OwnerId": "005A"},
               {"Id": "500B", "Subject": "No Telegram", "ContactId": "003B"},
               {"Id": "500C", "Subject": None, "Telecase_Lead__c": "00QC"}],
        people=[{"Id": "003A", "FirstName": "Bea", "LastName": "Bee",
                 "Telegram_User_Id__c": "42", "Telegram_Username__c": "bea"},
                {"Id": "003B", "LastName": "Nobody"},
                {"Id": "00QC", "LastName": "Lee", "Telegram_User_Id__c": "77"}])
    cases = OutreachCases(api)
    found = cases.find()
    assert [(c.case_id, c.telegram_user_id, c.subject, c.message, c.name) for c in found] == [
        ("500A", 42, "Upgrade", "Hi", "Bea Bee"),
        ("500C", 77, "Telegram conversation", "", "Lee")]
    assert "Origin = 'Telegram' AND Telecase_Ticket_Id__c = null" in api.queries[0]
    assert cases.skipped == {"500B"}
    asked = len(api.queries)
    assert [c.case_id for c in cases.find()] == ["500A", "500C"]
    assert not any("'003B'" in q for q in api.queries[asked:])  # its person not asked again


def test_claiming_writes_the_ticket_id_and_a_refusal_raises() -> None:
    api = FakeApi([], [])
    cases = OutreachCases(api)
    cases.claim("500A", "tg:-100:t7")
    assert api.updates == [{"Id": "500A", "Telecase_Ticket_Id__c": "tg:-100:t7"}]
    api.refuse = True
    with pytest.raises(RuntimeError, match="not claimed"):
        cases.claim("500B", "tg:-100:t8")
