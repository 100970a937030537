"""Outbound sync (issue 4): ticket events become Contact/Lead, Case, Task/FeedItem and
CaseComment records in Salesforce.

What each event writes (every write is keyed by an external id, so a retried batch, a restarted
consumer or a replayed log never creates a second record):

- the customer of ``ticket.opened`` → a person, matched against existing Contacts **and**
  Leads by, in order, ``Telegram_User_Id__c``, then phone (``Phone``/``MobilePhone``,
  compared as digits, see :func:`normalize_phone`), then ``Telegram_Username__c``. A record
  found by phone or username is claimed by writing the Telegram id onto it (only records
  without a Telegram id are candidates: a different id is a different person); when none is
  found, the configured ``customer_object`` is created by upsert on ``Telegram_User_Id__c``.
- a ``ticket.opened`` carrying a bot intake form's answers (``intake``) → a **Lead**, matched
  the same way (the form's phone number helps): a Lead found is updated with the answers, none
  found creates one by upsert on ``Telegram_User_Id__c`` whatever ``customer_object`` says;
  a Contact found stays the ticket's person (an existing customer is not made a Lead again),
  and the answers are on the Case either way (its ``Description``). Lead fields: FirstName
  and LastName from the name, Company, MobilePhone, LeadSource, ``Telecase_Product_Interest__c``,
  ``Telecase_Region__c``, ``Telecase_Deal_Size__c``. A Lead is matched again at every form,
  so answers given later replace earlier ones.
  A Contact is preferred over a Lead at the same key; converted Leads are skipped.
- ``ticket.opened``, ``topic.renamed``, ``topic.closed``/``reopened``, ``ticket.closed`` → the
  Case (Subject, Origin ``Telegram``, Status, and the person), upsert on
  ``Telecase_Ticket_Id__c``. Status is left to the org's default on creation, so a replayed
  ``ticket.opened`` never undoes an agent's status.
- ``customer.message_received`` → a completed Task on the Case (``message_object="Task"``) or a
  Case feed post (``"FeedItem"``), upsert on ``Telecase_Event_Id__c``.
- ``agent.replied`` with ``via="telegram"`` → a published CaseComment naming the agent, upsert
  on ``Telecase_Event_Id__c``. ``via="salesforce"`` came from Salesforce: nothing is written.
- ``ticket.assigned`` with a ``salesforce_user_id`` → the Case's ``OwnerId`` (upsert on
  ``Telecase_Ticket_Id__c``); ``salesforce_user_id=None`` leaves the owner alone.
- ``sla.escalated`` → each ``set_case_field`` action sets that Case field (upsert on
  ``Telecase_Ticket_Id__c``), each ``post_case_comment`` action becomes a CaseComment
  (``IsPublished`` from ``public``, internal when unset), upsert on ``Telecase_Event_Id__c``
  = ``<event_id>/comment/<action index>``, so a redelivery or a replay posts it once.
  ``notify_telegram`` (the Telegram mirror's) and ``reassign`` (the desk turns it into a
  ``ticket.assigned``) write nothing here.
- ``customer.message_edited``, ``salesforce.case_linked``, ``case.status_changed``,
  ``case.owner_changed``, ``sla.started``/``warning``/``breached``/``met``,
  ``ticket.routed``: nothing (they came from Salesforce, edits are not mirrored yet, or they
  only feed the SLA clock and the desk); see :data:`IGNORED`. ``knowledge.requested`` and
  ``agent_command.refused`` are the agent-tools runner's (``connectors.salesforce.knowledge``:
  it also links articles and notes what a Salesforce command sent); a command's
  ``agent.replied`` from Telegram is written here like any reply from Telegram.

Case writes in order. The Case fields a batch changes for one ticket go out as *segments*,
in event order: consecutive lifecycle changes (open, rename, close, reopen) merge into one
record keyed by the ticket, while an owner change or an escalation's fields are a record of
their own keyed by their event, so that a value Salesforce refuses (an inactive owner, an
unknown field, a restricted picklist value) dead-letters that one event and leaves the Case
and the rest of the batch alone. Segment *k* of every ticket goes in collection round *k*
(a collection may not name one Case twice): a batch where a ticket is opened and assigned
costs one more call than before, steady traffic none.

Contact or Lead (``customer_object``). Default ``"Contact"``: a Case is a service record and
its standard link to the person is ``Case.ContactId`` (a lookup to Contact only; Case has no
Lead field), the way Email-to-Case and Web-to-Case integrations work. Choose ``"Lead"`` when
Telegram is a sales channel and unknown people belong in the lead funnel (assignment rules,
qualification, conversion): they become Leads (``Company`` "[not provided]", ``LeadSource``
from ``lead_source``), and the Case points at the Lead through a custom lookup
``Telecase_Lead__c`` (``case_lead_field``), because standard Salesforce offers none. Either
way an existing Contact or Lead is reused, never duplicated. Lead conversion should map
``Telegram_User_Id__c``/``Telegram_Username__c`` to the Contact so the person is found again.
Task ``WhoId`` is set only for a Contact (Salesforce refuses a ``WhatId`` next to a Lead
``WhoId``, and the Case link matters more).

Task or FeedItem (``message_object``). Default ``"Task"``: a completed Task per message is an
activity with a date, reportable (first-response and volume reports), and carries custom
fields. ``"FeedItem"`` posts each message to the Case feed, which reads like a conversation in
the Service Console; caveat: Salesforce does not let admins add custom fields to FeedItem in
a real org (the simulator accepts ``Telecase_Event_Id__c`` there), so check your org first.

Cost: a batch needs at most about eight API calls whatever its size (one composite call
matching people, claim and create collections, one Case collection, one query for Case ids
and CaseNumbers, one collection each for messages and comments; 200 records a collection), so
calls per message fall as volume rises. Ids learned are kept, so steady traffic on known
tickets costs one call per batch.

The link back: :attr:`SyncResult.linked` holds, per ticket whose ``ticket.opened`` was synced
in the batch, the Case Id, CaseNumber and the Contact or Lead id (:class:`CaseLink`).

Errors::

    ConnectorError
    ├── TransientError   outage (5xx, network), REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW
    │                    still locked after in-place retries: retry the same batch later;
    │                    the upserts make the retry harmless
    └── PermanentError   a refused request retrying cannot fix (MALFORMED_QUERY, INVALID_FIELD
                         for the whole call, INSUFFICIENT_ACCESS, an expired session with no
                         way to log in again): dead-letter the batch, or stop

An expired session is renewed (simple-salesforce logs in again when it holds credentials; else
``login``) and the call repeated. A single record Salesforce rejects (REQUIRED_FIELD_MISSING,
FIELD_CUSTOM_VALIDATION_EXCEPTION...) does not fail the batch: it is returned in
:attr:`SyncResult.rejected` as ``(event_id or ticket_id, "CODE: message")`` for the
dead-letter topic.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import quote

from connectors.errors import PermanentError, TransientError
from streams.core.intake import summary as intake_summary
from streams.schema.events import (
    INTAKE_FORM_EVENTS,
    AgentCommandRefused,
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    Customer,
    CustomerMessageEdited,
    CustomerMessageReceived,
    IntakeAnswers,
    IntakeTopicOpened,
    KnowledgeRequested,
    SalesforceCaseLinked,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TicketRouted,
    TopicClosed,
    TopicRenamed,
    TopicReopened,
)

CustomerObject = Literal["Contact", "Lead"]
MessageObject = Literal["Task", "FeedItem"]

COLLECTION_MAX = 200
QUERY_KEYS_MAX = 100
"""Values per SOQL ``IN`` list: keeps each query well under the URI limits."""
COMPOSITE_MAX = 25
SUBJECT_MAX = 255
LEAD_COMPANY = "[not provided]"
LEAD_PRODUCT, LEAD_REGION, LEAD_DEAL_SIZE = ("Telecase_Product_Interest__c",
                                            "Telecase_Region__c", "Telecase_Deal_Size__c")
LOCK_ATTEMPTS = 3
TG_ID, TG_USERNAME, EVENT_ID = "Telegram_User_Id__c", "Telegram_Username__c", \
    "Telecase_Event_Id__c"
TICKET_ID = "Telecase_Ticket_Id__c"
RESERVED_CASE_FIELDS = frozenset({"id", TICKET_ID.lower()})
"""Case fields an escalation may not set (the sync's own keys)."""

IGNORED: tuple[type, ...] = (CustomerMessageEdited, SalesforceCaseLinked, CaseStatusChanged,
                             CaseOwnerChanged, SlaStarted, SlaWarning, SlaBreached, SlaMet,
                             TicketRouted, *INTAKE_FORM_EVENTS, IntakeTopicOpened,
                             KnowledgeRequested, AgentCommandRefused)
"""Events the sync skips on purpose (the others in ``EVENT_TYPES`` are written)."""


class SalesforceApi(Protocol):
    """The calls the sync makes (``SimpleSalesforceApi`` adapts simple-salesforce)."""

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]: ...

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class SimpleSalesforceApi:
    """:class:`SalesforceApi` over an (unmodified) ``simple_salesforce.Salesforce``.

    ``login`` returns a fresh client; it is used when a session expires and the client cannot
    log in again by itself (one built from a session id)."""

    def __init__(self, sf: Any, login: Callable[[], Any] | None = None) -> None:
        self.sf = sf
        self.login = login

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from simple_salesforce.exceptions import SalesforceExpiredSession
        try:
            return _translate(getattr(self.sf, name), *args, **kwargs)
        except SalesforceExpiredSession as exc:
            if self.login is None:
                raise PermanentError("salesforce: session expired and no way to log in "
                                     "again") from exc
            self.sf = _translate(self.login)
            try:
                return _translate(getattr(self.sf, name), *args, **kwargs)
            except SalesforceExpiredSession as again:
                raise TransientError("salesforce: session expired again after login",
                                     retry_after=5) from again

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call("query_all", soql)["records"])

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]:
        """Run up to 25 queries in one composite call (one API call)."""
        answers: list[list[dict[str, Any]]] = []
        for group in _chunks(soqls, COMPOSITE_MAX):
            version = getattr(self.sf, "sf_version", "59.0")
            body = {"allOrNone": False, "compositeRequest": [
                {"method": "GET", "referenceId": f"q{i}",
                 "url": f"/services/data/v{version}/query?q={quote(soql)}"}
                for i, soql in enumerate(group)]}
            reply = self._call("restful", "composite", method="POST", json=body)
            for sub in reply["compositeResponse"]:
                if sub["httpStatusCode"] >= 400:
                    raise _refusal(sub["httpStatusCode"], sub["body"])
                page = sub["body"]
                rows = list(page["records"])
                while not page.get("done", True):
                    page = self._call("query_more", page["nextRecordsUrl"],
                                      identifier_is_url=True)
                    rows.extend(page["records"])
                answers.append(rows)
        return answers

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        return list(self._call("restful", f"composite/sobjects/{sobject}/"
                               f"{external_id_field}", method="PATCH", json=body) or [])

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        return list(self._call("restful", "composite/sobjects", method="PATCH",
                               json=body) or [])


def _translate(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call simple-salesforce, mapping its errors onto transient and permanent ones."""
    from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
    try:
        return fn(*args, **kwargs)
    except SalesforceExpiredSession:
        raise
    except SalesforceError as exc:
        raise _refusal(int(getattr(exc, "status", 0) or 0), getattr(exc, "content", None)) \
            from exc
    except OSError as exc:  # connection refused, reset, timeout (requests' errors included)
        raise TransientError(f"salesforce unreachable: {type(exc).__name__}") from exc


def _refusal(status: int, content: Any) -> TransientError | PermanentError:
    """The error for a refused request (HTTP ``status``, Salesforce's error array)."""
    first = content[0] if isinstance(content, list) and content \
        and isinstance(content[0], dict) else {}
    code = str(first.get("errorCode", ""))
    text = f"{code}: {first.get('message', '')}" if code else f"HTTP {status}"
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return TransientError(f"salesforce refused: {code}", retry_after=60)
    if code == "UNABLE_TO_LOCK_ROW":
        return TransientError("salesforce: UNABLE_TO_LOCK_ROW", retry_after=1)
    if status >= 500 or status == 429:
        return TransientError(f"salesforce unavailable: {status} {code}".rstrip())
    return PermanentError(f"salesforce rejected the request: {text}"[:1000])


# -- values ----------------------------------------------------------------------------------

def normalize_phone(raw: str | None) -> str | None:
    """E.164-ish: ``+`` and digits only; an ``00`` international prefix becomes ``+``.
    Telegram sends ``phone_number`` with or without ``+``. ``None`` unless 7-15 digits."""
    if not raw:
        return None
    digits = re.sub(r"\D", "", raw)
    if raw.strip().startswith("00"):
        digits = digits[2:]
    return f"+{digits}" if 7 <= len(digits) <= 15 else None


def same_phone(a: str | None, b: str | None) -> bool:
    """Whether two numbers as people type them are the same line: equal digits, or one is
    the other without its country code (a national number, trunk ``0`` dropped, >= 8
    digits), as CRM records often hold ``(415) 555-1212`` or ``07700 900123``."""
    da, db = re.sub(r"\D", "", a or ""), re.sub(r"\D", "", b or "")
    if not da or not db:
        return False
    if da == db:
        return True
    short, long = sorted((da.lstrip("0"), db.lstrip("0")), key=len)
    return len(short) >= 8 and long.endswith(short)


def _phone_pattern(phone: str) -> str:
    """A LIKE pattern finding the last eight digits whatever the formatting between them."""
    return "%" + "%".join(re.sub(r"\D", "", phone)[-8:])


def _quote(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[Any], size: int = COLLECTION_MAX) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _error(answer: dict[str, Any]) -> tuple[str, str]:
    errors = answer.get("errors") or [{}]
    code = str(errors[0].get("statusCode") or errors[0].get("errorCode", ""))
    return code, f"{code}: {errors[0].get('message', '')}"


# -- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """The Contact or Lead a Telegram user is in Salesforce."""

    sobject: str
    id: str


@dataclass(frozen=True)
class CaseLink:
    """A ticket's Case and its person, as the log's ``salesforce.case_linked`` wants them."""

    case_id: str
    case_number: str | None
    contact_id: str | None = None
    lead_id: str | None = None
    created: bool = False
    """The Case was created by this batch (else it existed: a retry, a replay)."""


@dataclass
class SyncResult:
    contacts: int = 0
    leads: int = 0
    """Contacts/Leads created or claimed (found by phone or username) in the batch."""
    cases: int = 0
    owners: int = 0
    """Case owners set (``ticket.assigned``)."""
    case_fields: int = 0
    """Escalations whose Case fields were set (``sla.escalated``)."""
    tasks: int = 0
    feed_items: int = 0
    comments: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """``(event_id or ticket_id, Salesforce's error)`` for records Salesforce refused."""
    linked: dict[str, CaseLink] = field(default_factory=dict)
    """Per ticket whose ``ticket.opened`` was synced in the batch."""

    def count(self, sobject: str) -> None:
        name = {"Contact": "contacts", "Lead": "leads", "Case": "cases", "Task": "tasks",
                "FeedItem": "feed_items", "CaseComment": "comments"}[sobject]
        setattr(self, name, getattr(self, name) + 1)


@dataclass
class _CaseWrite:
    """One segment of a ticket's Case changes (see the module docstring)."""

    key: str
    """The ticket id (its first lifecycle segment), else the event id: what a refusal
    dead-letters."""
    ticket: str
    fields: dict[str, Any]
    kind: Literal["case", "owner", "fields"]


@dataclass
class _Wanted:
    customer: Customer
    event_id: str
    phone: str | None = None
    intake: IntakeAnswers | None = None
    """The bot intake form's answers: the person is (or becomes) a Lead holding them."""


# -- the sync --------------------------------------------------------------------------------

class CaseSync:
    """Applies batches of ticket events to Salesforce. Synchronous (simple-salesforce is);
    runners call :meth:`apply` in a thread. One instance per consumer: it remembers the ids
    it learned, so steady traffic costs few calls."""

    def __init__(self, api: SalesforceApi, *, customer_object: CustomerObject = "Contact",
                 message_object: MessageObject = "Task",
                 case_lead_field: str = "Telecase_Lead__c", lead_source: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if customer_object not in ("Contact", "Lead"):
            raise ValueError("customer_object is 'Contact' or 'Lead'")
        if message_object not in ("Task", "FeedItem"):
            raise ValueError("message_object is 'Task' or 'FeedItem'")
        self.api = api
        self.customer_object, self.message_object = customer_object, message_object
        self.case_lead_field, self.lead_source = case_lead_field, lead_source
        self.sleep = sleep
        self.people: dict[int, Person] = {}
        self.case_ids: dict[str, str] = {}
        self.case_numbers: dict[str, str] = {}

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        result = SyncResult()
        self._people(events, result)
        opened = self._cases(events, result)
        replies = [e for e in events if isinstance(e, AgentReplied) and e.via == "telegram"]
        messages = [e for e in events if isinstance(e, CustomerMessageReceived)]
        escalations = [e for e in events if isinstance(e, SlaEscalated)
                       and any(a.do == "post_case_comment" for a in e.actions)]
        self._case_details({e.ticket_id for e in [*messages, *replies, *escalations]}
                           | opened.keys())
        for ticket, created in opened.items():
            self._link(ticket, created, events, result)
        self._messages(messages, result)
        self._comments(replies, escalations, result)
        return result

    # -- people ------------------------------------------------------------------------

    def _people(self, events: Sequence[TicketEvent], result: SyncResult) -> None:
        wanted: dict[int, _Wanted] = {}
        for e in events:
            if not isinstance(e, TicketOpened) or e.customer is None:
                continue
            uid = e.customer.telegram_user_id
            if e.intake is not None:  # matched again: the Lead takes the newest answers
                wanted[uid] = _Wanted(e.customer, e.event_id, normalize_phone(e.intake.phone),
                                      e.intake)
            elif uid not in self.people:
                wanted.setdefault(uid, _Wanted(e.customer, e.event_id))
        if not wanted:
            return
        for e in events:  # a phone shared anywhere in the batch helps matching
            for who in _customers(e):
                if who.telegram_user_id in wanted and wanted[who.telegram_user_id].phone is None:
                    wanted[who.telegram_user_id].phone = normalize_phone(
                        getattr(who, "phone", None))
        rows = self._candidates(list(wanted.values()))
        claimed: set[str] = set()
        claims: dict[str, list[tuple[str, dict[str, Any]]]] = {"Contact": [], "Lead": []}
        creates: dict[str, list[tuple[str, dict[str, Any]]]] = {"Contact": [], "Lead": []}
        keys: dict[str, int] = {}
        for uid, want in wanted.items():
            found, by = _match(uid, want, rows, claimed)
            keys[want.event_id] = uid
            sobject = found["attributes"]["type"] if found is not None else None
            answers = (self._lead_fields(want.intake)
                       if want.intake is not None and sobject in ("Lead", None) else {})
            if found is not None and by == "telegram id":
                self.people[uid] = Person(found["attributes"]["type"], found["Id"])
                if answers:
                    claims["Lead"].append((want.event_id, {"Id": found["Id"], **answers}))
            elif found is not None:
                claimed.add(found["Id"])
                claims[found["attributes"]["type"]].append((want.event_id, {
                    "Id": found["Id"], TG_ID: str(uid), TG_USERNAME: want.customer.username,
                    **answers}))
            else:
                target = "Lead" if want.intake is not None else self.customer_object
                creates[target].append((want.event_id,
                                        {**self._new_person(uid, want, target), **answers}))
        for sobject, rows_ in claims.items():
            self._store(sobject, self._send(sobject, rows_), keys, result)
        for sobject, rows_ in creates.items():
            self._store(sobject, self._send(sobject, rows_, TG_ID), keys, result)

    def _candidates(self, wanted: list[_Wanted]) -> list[dict[str, Any]]:
        """Contacts, then unconverted Leads, that any of ``wanted`` may be (oldest first)."""
        soqls = []
        for chunk in _chunks(wanted, QUERY_KEYS_MAX):
            ids = ",".join(_quote(str(w.customer.telegram_user_id)) for w in chunk)
            terms = [f"{TG_ID} IN ({ids})"]
            names = [w.customer.username for w in chunk if w.customer.username]
            if names:
                terms.append(f"{TG_USERNAME} IN ({','.join(_quote(n) for n in names)})")
            for phone in (w.phone for w in chunk if w.phone):
                terms += [f"Phone LIKE {_quote(_phone_pattern(phone))}",
                          f"MobilePhone LIKE {_quote(_phone_pattern(phone))}"]
            where = " OR ".join(terms)
            for sobject, extra in (("Contact", ""), ("Lead", "IsConverted = false AND ")):
                soqls.append(f"SELECT Id, {TG_ID}, {TG_USERNAME}, Phone, MobilePhone FROM "
                             f"{sobject} WHERE {extra}({where}) ORDER BY CreatedDate")
        answers = self.api.query_many(soqls)
        contacts = [r for rows, s in zip(answers, soqls, strict=True) if " FROM Contact " in s
                    for r in rows]
        leads = [r for rows, s in zip(answers, soqls, strict=True) if " FROM Lead " in s
                 for r in rows]
        for row in contacts:
            row.setdefault("attributes", {})["type"] = "Contact"
        for row in leads:
            row.setdefault("attributes", {})["type"] = "Lead"
        return contacts + leads

    def _new_person(self, uid: int, want: _Wanted, sobject: str) -> dict[str, Any]:
        c = want.customer
        last = c.last_name or c.first_name or c.username or str(uid)
        fields: dict[str, Any] = {TG_ID: str(uid), TG_USERNAME: c.username,
                                  "LastName": last[:80],
                                  "FirstName": c.first_name[:40] if c.last_name else None}
        if want.phone:
            fields["MobilePhone"] = want.phone
        if sobject == "Lead":
            fields["Company"] = LEAD_COMPANY
            if self.lead_source:
                fields["LeadSource"] = self.lead_source
        return fields

    def _lead_fields(self, intake: IntakeAnswers) -> dict[str, Any]:
        """A Lead as a bot intake form describes it."""
        first, _, last = intake.name.rpartition(" ")
        fields: dict[str, Any] = {"LastName": last[:80], "Company": intake.company[:255],
                                  "MobilePhone": intake.phone, LEAD_PRODUCT: intake.product,
                                  LEAD_REGION: intake.region,
                                  LEAD_DEAL_SIZE: float(intake.deal_size)}
        if first:
            fields["FirstName"] = first[:40]
        if self.lead_source:
            fields["LeadSource"] = self.lead_source
        return fields

    def _store(self, sobject: str, answers: dict[str, dict[str, Any]], keys: dict[str, int],
               result: SyncResult) -> None:
        for event_id, answer in answers.items():
            if answer.get("success"):
                self.people[keys[event_id]] = Person(sobject, answer["id"])
                result.count(sobject)
            else:
                result.rejected.append((event_id, _error(answer)[1]))

    # -- cases -------------------------------------------------------------------------

    def _cases(self, events: Sequence[TicketEvent], result: SyncResult) -> dict[str, bool]:
        """Upsert the Cases the batch changes, segment round by segment round;
        ``{ticket: created}`` for opened tickets."""
        segments = self._case_segments(events, result)
        opened = {e.ticket_id for e in events if isinstance(e, TicketOpened)}
        created: dict[str, bool] = {}
        rounds = max((len(s) for s in segments.values()), default=0)
        for k in range(rounds):
            writes = [segs[k] for segs in segments.values() if len(segs) > k]
            rows = [(w.key, {TICKET_ID: w.ticket, **w.fields}) for w in writes]
            answers = self._send("Case", rows, TICKET_ID)
            for w in writes:
                answer = answers[w.key]
                if not answer.get("success"):
                    result.rejected.append((w.key, _error(answer)[1]))
                    continue
                self.case_ids[w.ticket] = answer["id"]
                if w.kind == "owner":
                    result.owners += 1
                elif w.kind == "fields":
                    result.case_fields += 1
                else:
                    result.count("Case")
                if w.key == w.ticket and w.ticket in opened:
                    created[w.ticket] = bool(answer.get("created"))
        return created

    def _case_segments(self, events: Sequence[TicketEvent],
                       result: SyncResult) -> dict[str, list[_CaseWrite]]:
        """Per ticket, its Case changes in event order: lifecycle changes merged, each owner
        change and each escalation's fields a segment of its own."""
        segments: dict[str, list[_CaseWrite]] = {}
        for e in events:
            segs = segments.setdefault(e.ticket_id, [])
            if isinstance(e, TicketAssigned):
                if e.salesforce_user_id:
                    segs.append(_CaseWrite(e.event_id, e.ticket_id,
                                           {"OwnerId": e.salesforce_user_id}, "owner"))
            elif isinstance(e, SlaEscalated):
                fields, problem = _escalation_fields(e)
                if problem is not None:
                    result.rejected.append((e.event_id, problem))
                elif fields:
                    segs.append(_CaseWrite(e.event_id, e.ticket_id, fields, "fields"))
            else:
                fields = self._lifecycle_fields(e)
                if not fields:
                    continue
                if segs and segs[-1].kind == "case":
                    segs[-1].fields.update(fields)
                else:
                    first = not any(w.kind == "case" for w in segs)
                    segs.append(_CaseWrite(e.ticket_id if first else e.event_id, e.ticket_id,
                                           fields, "case"))
        return {t: segs for t, segs in segments.items() if segs}

    def _lifecycle_fields(self, e: TicketEvent) -> dict[str, Any]:
        """The Case fields an opening, rename, close or reopen sets (else none)."""
        if isinstance(e, TicketOpened):
            fields: dict[str, Any] = {"Subject": e.subject[:SUBJECT_MAX], "Origin": "Telegram"}
            person = self.people.get(e.customer.telegram_user_id) if e.customer else None
            if person is not None and person.sobject == "Contact":
                fields["ContactId"] = person.id
            elif person is not None:
                fields[self.case_lead_field] = person.id
            if e.intake is not None:
                fields["Description"] = intake_summary(e.intake)
            return fields
        if isinstance(e, TopicRenamed):
            return {"Subject": e.name[:SUBJECT_MAX]}
        if isinstance(e, TopicClosed | TicketClosed):
            return {"Status": "Closed"}
        if isinstance(e, TopicReopened):
            return {"Status": "Working"}
        return {}

    def _case_details(self, tickets: Iterable[str]) -> None:
        """Learn the Id and CaseNumber of Cases this sync has not seen yet (one call)."""
        missing = sorted(t for t in tickets
                         if t not in self.case_ids or t not in self.case_numbers)
        if not missing:
            return
        soqls = ["SELECT Id, CaseNumber, Telecase_Ticket_Id__c FROM Case WHERE "
                 f"Telecase_Ticket_Id__c IN ({','.join(_quote(t) for t in chunk)})"
                 for chunk in _chunks(missing, QUERY_KEYS_MAX)]
        for rows in self.api.query_many(soqls):
            for row in rows:
                self.case_ids[row["Telecase_Ticket_Id__c"]] = row["Id"]
                self.case_numbers[row["Telecase_Ticket_Id__c"]] = row["CaseNumber"]

    def _link(self, ticket: str, created: bool, events: Sequence[TicketEvent],
              result: SyncResult) -> None:
        customer = next((e.customer for e in events
                         if isinstance(e, TicketOpened) and e.ticket_id == ticket), None)
        person = self.people.get(customer.telegram_user_id) if customer else None
        result.linked[ticket] = CaseLink(
            self.case_ids[ticket], self.case_numbers.get(ticket),
            contact_id=person.id if person and person.sobject == "Contact" else None,
            lead_id=person.id if person and person.sobject == "Lead" else None,
            created=created)

    # -- messages and comments ---------------------------------------------------------

    def _messages(self, messages: list[CustomerMessageReceived], result: SyncResult) -> None:
        rows = []
        for m in messages:
            case_id = self.case_ids.get(m.ticket_id)
            if case_id is None:
                result.rejected.append((m.event_id, "no Case for this ticket"))
                continue
            who = (m.sender.username and f"@{m.sender.username}") or m.sender.first_name
            if self.message_object == "FeedItem":
                rows.append((m.event_id, {EVENT_ID: m.event_id, "ParentId": case_id,
                                          "Type": "TextPost",
                                          "Body": f"Telegram message from {who}:\n{m.text}"}))
                continue
            person = self.people.get(m.sender.telegram_user_id)
            rows.append((m.event_id, {
                EVENT_ID: m.event_id, "WhatId": case_id, "Status": "Completed",
                "Subject": f"Telegram message from {who}"[:SUBJECT_MAX],
                "Description": m.text, "ActivityDate": m.occurred_at.date().isoformat(),
                **({"WhoId": person.id} if person and person.sobject == "Contact" else {})}))
        self._write_once(self.message_object, rows, result)

    def _comments(self, replies: list[AgentReplied], escalations: list[SlaEscalated],
                  result: SyncResult) -> None:
        """Agents' Telegram replies (published) and escalations' ``post_case_comment``
        actions, in one CaseComment collection."""
        rows: list[tuple[str, dict[str, Any]]] = []
        owners: dict[str, str] = {}
        for r in replies:
            case_id = self.case_ids.get(r.ticket_id)
            if case_id is None:
                result.rejected.append((r.event_id, "no Case for this ticket"))
                continue
            name = r.agent.display_name or r.actor.display_name or "an agent"
            rows.append((r.event_id, {EVENT_ID: r.event_id, "ParentId": case_id,
                                      "IsPublished": True,
                                      "CommentBody": f"{name} (in Telegram):\n{r.text}"}))
        for e in escalations:
            case_id = self.case_ids.get(e.ticket_id)
            if case_id is None:
                result.rejected.append((e.event_id, "no Case for this ticket"))
                continue
            for i, action in enumerate(e.actions):
                if action.do != "post_case_comment":
                    continue
                if not action.text:
                    result.rejected.append((e.event_id, f"action {i}: post_case_comment "
                                            "without text"))
                    continue
                key = f"{e.event_id}/comment/{i}"
                owners[key] = e.event_id
                rows.append((key, {EVENT_ID: key, "ParentId": case_id,
                                   "IsPublished": bool(action.public),
                                   "CommentBody": action.text}))
        self._write_once("CaseComment", rows, result, owners)

    def _write_once(self, sobject: str, rows: list[tuple[str, dict[str, Any]]],
                    result: SyncResult, owners: dict[str, str] | None = None) -> None:
        """Upsert on ``Telecase_Event_Id__c``. FeedItem and CaseComment cannot move to
        another parent, so a repeated upsert of one that exists is refused with
        INVALID_FIELD_FOR_INSERT_UPDATE; those are looked up, and count as written when
        they are there. A refused row is reported under ``owners[key]`` (the event it
        came from) when given, else its key."""
        answers = self._send(sobject, rows, EVENT_ID)
        recheck = [k for k, a in answers.items() if not a.get("success")
                   and _error(a)[0] == "INVALID_FIELD_FOR_INSERT_UPDATE"]
        present: set[str] = set()
        if recheck:
            soqls = [f"SELECT {EVENT_ID} FROM {sobject} WHERE {EVENT_ID} IN "
                     f"({','.join(_quote(k) for k in chunk)})"
                     for chunk in _chunks(recheck, QUERY_KEYS_MAX)]
            present = {r[EVENT_ID] for rows_ in self.api.query_many(soqls) for r in rows_}
        for key, answer in answers.items():
            if answer.get("success") or key in present:
                result.count(sobject)
            else:
                result.rejected.append(((owners or {}).get(key, key), _error(answer)[1]))

    # -- the wire ----------------------------------------------------------------------

    def _send(self, sobject: str, rows: list[tuple[str, dict[str, Any]]],
              external_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Upsert (or update, without ``external_id``) in collections; ``{key: answer}``.
        Records refused with UNABLE_TO_LOCK_ROW are sent again after a short pause; still
        locked after :data:`LOCK_ATTEMPTS`, the batch is transient."""
        answers: dict[str, dict[str, Any]] = {}
        pending = rows
        for attempt in range(LOCK_ATTEMPTS):
            locked = []
            for chunk in _chunks(pending):
                records = [r for _, r in chunk]
                got = (self.api.upsert_collection(sobject, external_id, records)
                       if external_id else self.api.update_collection(sobject, records))
                for (key, record), answer in zip(chunk, got, strict=True):
                    if not answer.get("success") and _error(answer)[0] == "UNABLE_TO_LOCK_ROW":
                        locked.append((key, record))
                    else:
                        answers[key] = answer
            if not locked:
                return answers
            pending = locked
            if attempt + 1 < LOCK_ATTEMPTS:
                self.sleep(0.2 * 2 ** attempt)
        raise TransientError(f"salesforce: UNABLE_TO_LOCK_ROW on {len(pending)} {sobject} "
                             "records", retry_after=1)


def _escalation_fields(event: SlaEscalated) -> tuple[dict[str, Any], str | None]:
    """The Case fields an escalation's ``set_case_field`` actions set, or why they cannot
    be sent (a field missing, or one of the sync's own keys)."""
    fields: dict[str, Any] = {}
    for i, action in enumerate(event.actions):
        if action.do != "set_case_field":
            continue
        if not action.field:
            return {}, f"action {i}: set_case_field without a field"
        if action.field.lower() in RESERVED_CASE_FIELDS:
            return {}, f"action {i}: set_case_field may not set {action.field}"
        fields[action.field] = action.value
    return fields, None


def _customers(event: TicketEvent) -> list[Customer]:
    if isinstance(event, TicketOpened):
        return [event.customer] if event.customer is not None else []
    sender = getattr(event, "sender", None)
    return [sender] if isinstance(sender, Customer) else []


def _match(uid: int, want: _Wanted, rows: list[dict[str, Any]],
           claimed: set[str]) -> tuple[dict[str, Any] | None, str]:
    """The record ``uid`` is, and the key that found it: Telegram id, phone, username.
    ``rows`` hold Contacts before Leads, oldest first, so the first hit is preferred."""
    for row in rows:
        if str(row.get(TG_ID) or "") == str(uid):
            return row, "telegram id"
    free = [r for r in rows if not r.get(TG_ID) and r["Id"] not in claimed]
    if want.phone:
        for row in free:
            if same_phone(want.phone, row.get("MobilePhone")) \
                    or same_phone(want.phone, row.get("Phone")):
                return row, "phone"
    name = (want.customer.username or "").lower()
    if name:
        for row in free:
            if str(row.get(TG_USERNAME) or "").lower() == name:
                return row, "username"
    return None, ""
