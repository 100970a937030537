"""Outreach from Salesforce: Cases an agent marked for Telegram.

An agent who wants to talk to a prospect in Telegram creates a Case for their Contact (or
sets ``Telecase_Lead__c`` to their Lead) with **Origin ``Telegram``**. telecase's own Cases
carry Origin ``Telegram`` too, but always with ``Telecase_Ticket_Id__c`` (they are upserted on
it), so a Case with Origin ``Telegram`` and *no* ticket id is an agent's request.
:meth:`OutreachCases.find` reads those whose person has a ``Telegram_User_Id__c``;
:meth:`OutreachCases.claim` writes the ticket id onto the Case, which (a) takes it out of the
next :meth:`find` and (b) makes the Case the one the outbound sync upserts for that ticket, so
the ticket is linked to the agent's Case and no second Case is made. The Case's Subject names
the topic; its Description is the agent's first message. A Case whose person has no Telegram
id is left alone (counted in :attr:`OutreachCases.skipped`).

These look-ups are not essential: with a ``guard``
(:class:`~connectors.salesforce.limit_guard.LimitGuard`), they come :meth:`OutreachCases.pace`
times less often while the org's daily API allocation runs low, and :meth:`OutreachCases.find`
finds nothing (calls nothing) once the guard holds non-essential calls; the agent's Case
waits, marked, for the next look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.salesforce.api import SalesforceApi, soql_quote
from connectors.salesforce.limit_guard import LimitGuard

TICKET_FIELD = "Telecase_Ticket_Id__c"
ORIGIN = "Telegram"
BATCH = 20
"""At most this many Cases per look (the rest at the next)."""


@dataclass(frozen=True)
class OutreachCase:
    case_id: str
    subject: str
    message: str
    telegram_user_id: int
    username: str | None
    name: str | None
    owner_id: str | None


class OutreachCases:
    def __init__(self, api: SalesforceApi, guard: LimitGuard | None = None) -> None:
        self.api, self.guard = api, guard
        self.skipped: set[str] = set()

    def pace(self) -> float:
        """The factor on the time between looks (the guard's poll factor)."""
        return 1.0 if self.guard is None else self.guard.poll_factor()

    def find(self) -> list[OutreachCase]:
        """The Cases marked for Telegram and not yet claimed, oldest first (none while the
        guard holds outreach)."""
        if self.guard is not None and not self.guard.allows("outreach"):
            return []
        [cases] = self.api.query_many([
            f"SELECT Id, Subject, Description, ContactId, Telecase_Lead__c, OwnerId FROM Case "
            f"WHERE Origin = '{ORIGIN}' AND {TICKET_FIELD} = null "
            f"ORDER BY CreatedDate LIMIT {BATCH}"])
        cases = [c for c in cases if c["Id"] not in self.skipped]
        people = self._people({c.get("ContactId") for c in cases} - {None},
                              {c.get("Telecase_Lead__c") for c in cases} - {None})
        found: list[OutreachCase] = []
        for case in cases:
            person = people.get(case.get("ContactId") or case.get("Telecase_Lead__c") or "")
            uid = str((person or {}).get("Telegram_User_Id__c") or "")
            if not uid.lstrip("-").isdigit():
                self.skipped.add(case["Id"])
                continue
            name = " ".join(p for p in ((person or {}).get("FirstName"),
                                        (person or {}).get("LastName")) if p) or None
            found.append(OutreachCase(
                case_id=case["Id"], subject=case.get("Subject") or "Telegram conversation",
                message=case.get("Description") or "", telegram_user_id=int(uid),
                username=(person or {}).get("Telegram_Username__c"), name=name,
                owner_id=case.get("OwnerId")))
        return found

    def claim(self, case_id: str, ticket_id: str) -> None:
        """The ticket id onto the Case (raises when Salesforce refuses)."""
        [answer] = self.api.update_collection("Case", [{"Id": case_id, TICKET_FIELD: ticket_id}])
        if not answer.get("success", False):
            raise RuntimeError(f"Case {case_id} not claimed: {answer.get('errors')}")

    def _people(self, contacts: set[Any], leads: set[Any]) -> dict[str, dict[str, Any]]:
        fields = "Id, FirstName, LastName, Telegram_User_Id__c, Telegram_Username__c"
        soqls = [f"SELECT {fields} FROM {sobject} WHERE Id IN "
                 f"({', '.join(soql_quote(str(i)) for i in ids)})"
                 for sobject, ids in (("Contact", contacts), ("Lead", leads)) if ids]
        rows = [row for answer in (self.api.query_many(soqls) if soqls else [])
                for row in answer]
        return {row["Id"]: row for row in rows}
