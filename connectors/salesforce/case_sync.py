"""Outbound sync, first slice (issue 4): ticket events become Contact, Case and Task records.

Every write is an upsert on an external id, so a retried batch, a restarted consumer or a
replayed log can never create a second record:

- the customer of ``ticket.opened`` → a Contact, matched by ``Telegram_User_Id__c``, else by
  ``Telegram_Username__c`` (then linked by setting the id), else created by upsert on
  ``Telegram_User_Id__c``;
- ``ticket.opened``, ``topic.renamed``, ``topic.closed``/``reopened``, ``ticket.closed`` → the
  Case (Subject, Status, Origin ``Telegram``, ContactId), upsert on ``Telecase_Ticket_Id__c``;
- ``customer.message_received`` → a completed Task on the Case with the message as its
  Description, upsert on ``Telecase_Event_Id__c``.

A batch costs at most five API calls whatever its size (one SOQL query for contacts, one
Contact collection upsert, one Case collection upsert, one query for Case ids not yet known,
one Task collection upsert; 200 records per collection call), so calls per message fall as
volume rises. The org needs those custom fields (external ids, unique) and a text
``Telegram_Username__c`` on Contact.

Not yet (issue 4 goes on): Leads, phone matching, FeedItem, the link back into the log,
inbound changes, and the reply mirror.

Errors: an outage, a refused request (the daily limit) or a lock error raise
:class:`~connectors.errors.TransientError` (retry the same batch later; nothing is lost, and
upserts make the retry harmless); a record Salesforce rejects is returned in
:attr:`SyncResult.rejected` with Salesforce's error, for the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.errors import TransientError
from streams.schema.events import (
    CustomerMessageReceived,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TopicClosed,
    TopicRenamed,
    TopicReopened,
)

COLLECTION_MAX = 200
SUBJECT_MAX = 255


class SalesforceApi(Protocol):
    """The calls the sync makes (``SimpleSalesforceApi`` adapts simple-salesforce)."""

    def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class SimpleSalesforceApi:
    """:class:`SalesforceApi` over an (unmodified) ``simple_salesforce.Salesforce``."""

    def __init__(self, sf: Any) -> None:
        self.sf = sf

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from simple_salesforce.exceptions import (
            SalesforceGeneralError,
            SalesforceMalformedRequest,
            SalesforceRefusedRequest,
        )
        try:
            return fn(*args, **kwargs)
        except SalesforceRefusedRequest as exc:  # REQUEST_LIMIT_EXCEEDED and friends
            raise TransientError(f"salesforce refused: {_code(exc)}", retry_after=60) from exc
        except SalesforceMalformedRequest as exc:
            if _code(exc) == "UNABLE_TO_LOCK_ROW":
                raise TransientError("salesforce: UNABLE_TO_LOCK_ROW", retry_after=1) from exc
            raise
        except SalesforceGeneralError as exc:
            if exc.status >= 500:
                raise TransientError(f"salesforce unavailable: {exc.status}") from exc
            raise
        except OSError as exc:  # connection refused, reset, timeout
            raise TransientError(f"salesforce unreachable: {type(exc).__name__}") from exc

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call(self.sf.query_all, soql)["records"])

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        return list(self._call(self.sf.restful, f"composite/sobjects/{sobject}/"
                               f"{external_id_field}", method="PATCH", json=body) or [])

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        return list(self._call(self.sf.restful, "composite/sobjects", method="PATCH",
                               json=body) or [])


def _code(exc: Any) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    return ""


@dataclass
class SyncResult:
    contacts: int = 0
    cases: int = 0
    tasks: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """``(event_id or ticket_id, Salesforce's error)`` for records Salesforce refused."""


def _quote(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[Any], size: int = COLLECTION_MAX) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class CaseSync:
    """Applies batches of ticket events to Salesforce. Synchronous (simple-salesforce is);
    runners call :meth:`apply` in a thread."""

    def __init__(self, api: SalesforceApi) -> None:
        self.api = api
        self.case_ids: dict[str, str] = {}
        self.contact_ids: dict[int, str] = {}

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        result = SyncResult()
        opened = [e for e in events if isinstance(e, TicketOpened)]
        self._contacts(opened, result)
        self._cases(events, result)
        self._tasks([e for e in events if isinstance(e, CustomerMessageReceived)], result)
        return result

    # -- contacts ----------------------------------------------------------------------

    def _contacts(self, opened: list[TicketOpened], result: SyncResult) -> None:
        customers = {e.customer.telegram_user_id: e.customer for e in opened
                     if e.customer is not None
                     and e.customer.telegram_user_id not in self.contact_ids}
        if not customers:
            return
        ids = ",".join(_quote(str(uid)) for uid in customers)
        names = [c.username for c in customers.values() if c.username]
        where = f"Telegram_User_Id__c IN ({ids})"
        if names:
            where += f" OR Telegram_Username__c IN ({','.join(_quote(n) for n in names)})"
        by_username: dict[str, str] = {}
        for row in self.api.query_all("SELECT Id, Telegram_User_Id__c, Telegram_Username__c "
                                      f"FROM Contact WHERE {where}"):
            if row.get("Telegram_User_Id__c"):
                self.contact_ids[int(row["Telegram_User_Id__c"])] = row["Id"]
            elif row.get("Telegram_Username__c"):
                by_username[str(row["Telegram_Username__c"]).lower()] = row["Id"]
        link, upsert = [], []
        for uid, customer in customers.items():
            if uid in self.contact_ids:
                continue
            fields = {"Telegram_User_Id__c": str(uid),
                      "Telegram_Username__c": customer.username}
            known = by_username.get((customer.username or "").lower())
            if known is not None:
                link.append((uid, {"Id": known, **fields}))
            else:
                last = customer.last_name or customer.first_name or customer.username or str(uid)
                first = customer.first_name if customer.last_name else None
                upsert.append((uid, {**fields, "LastName": last[:80], "FirstName": first}))
        for chunk in _chunks(link):
            self._record(chunk, self.api.update_collection("Contact", [r for _, r in chunk]),
                         self.contact_ids, result, "contact")
        for chunk in _chunks(upsert):
            self._record(chunk, self.api.upsert_collection("Contact", "Telegram_User_Id__c",
                                                           [r for _, r in chunk]),
                         self.contact_ids, result, "contact")

    # -- cases -------------------------------------------------------------------------

    def _cases(self, events: Sequence[TicketEvent], result: SyncResult) -> None:
        changes: dict[str, dict[str, Any]] = {}
        for e in events:
            fields = changes.setdefault(e.ticket_id, {})
            if isinstance(e, TicketOpened):
                fields.update(Subject=e.subject[:SUBJECT_MAX], Origin="Telegram",
                              Status="New")
                if e.customer is not None and e.customer.telegram_user_id in self.contact_ids:
                    fields["ContactId"] = self.contact_ids[e.customer.telegram_user_id]
            elif isinstance(e, TopicRenamed):
                fields["Subject"] = e.name[:SUBJECT_MAX]
            elif isinstance(e, TopicClosed | TicketClosed):
                fields["Status"] = "Closed"
            elif isinstance(e, TopicReopened):
                fields["Status"] = "Working"
        rows = [(ticket, {"Telecase_Ticket_Id__c": ticket, **fields})
                for ticket, fields in changes.items() if fields]
        for chunk in _chunks(rows):
            self._record(chunk, self.api.upsert_collection("Case", "Telecase_Ticket_Id__c",
                                                           [r for _, r in chunk]),
                         self.case_ids, result, "case")

    # -- tasks -------------------------------------------------------------------------

    def _tasks(self, messages: list[CustomerMessageReceived], result: SyncResult) -> None:
        missing = sorted({m.ticket_id for m in messages} - set(self.case_ids))
        for chunk in _chunks(missing):
            rows = self.api.query_all("SELECT Id, Telecase_Ticket_Id__c FROM Case WHERE "
                                      "Telecase_Ticket_Id__c IN "
                                      f"({','.join(_quote(t) for t in chunk)})")
            self.case_ids.update({r["Telecase_Ticket_Id__c"]: r["Id"] for r in rows})
        tasks = []
        for m in messages:
            case_id = self.case_ids.get(m.ticket_id)
            if case_id is None:
                result.rejected.append((m.event_id, "no Case for this ticket"))
                continue
            who = (m.sender.username and f"@{m.sender.username}") or m.sender.first_name
            tasks.append((m.event_id, {
                "Telecase_Event_Id__c": m.event_id, "WhatId": case_id, "Status": "Completed",
                "Subject": f"Telegram message from {who}"[:SUBJECT_MAX],
                "Description": m.text, "ActivityDate": m.occurred_at.date().isoformat()}))
        for chunk in _chunks(tasks):
            self._record(chunk, self.api.upsert_collection("Task", "Telecase_Event_Id__c",
                                                           [r for _, r in chunk]),
                         None, result, "task")

    def _record(self, sent: list[tuple[Any, dict[str, Any]]], answers: list[dict[str, Any]],
                ids: dict[Any, str] | None, result: SyncResult, kind: str) -> None:
        for (key, _), answer in zip(sent, answers, strict=True):
            if answer.get("success"):
                if ids is not None:
                    ids[key] = answer["id"]
                setattr(result, f"{kind}s", getattr(result, f"{kind}s") + 1)
            else:
                errors = answer.get("errors") or [{}]
                code = errors[0].get("statusCode") or errors[0].get("errorCode", "")
                result.rejected.append((str(key), f"{code}: {errors[0].get('message', '')}"))
