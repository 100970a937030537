"""Case writes: the Case of each ticket, and the customer's messages on it (Task or FeedItem).

The Case (Subject, Origin ``Telegram``, Status, the person, the owner, an escalation's fields)
is an upsert on ``Telecase_Ticket_Id__c``. The Case fields a batch changes for one ticket go
out as *segments*, in event order: consecutive lifecycle changes (open, rename, close, reopen)
merge into one record keyed by the ticket, while an owner change or an escalation's fields are
a record of their own keyed by their event, so that a value Salesforce refuses (an inactive
owner, an unknown field, a restricted picklist value) dead-letters that one event and leaves
the Case and the rest of the batch alone. Segment *k* of every ticket goes in collection round
*k* (a collection may not name one Case twice).

Assignment rules: every Case write sends ``Sforce-Auto-Assign: FALSE``, except, when
``assign_on_create`` is set, the opening write of a Case that does not exist yet (the sync
asks Salesforce which of the batch's opened tickets have a Case first), so the org's rules
assign new Cases and never undo an owner an agent chose (:mod:`connectors.salesforce.api`).

A customer message is a completed Task (upsert on ``Telecase_Event_Id__c``: Task takes custom
fields) or a Case feed post (FeedItem, which takes none: written once through
:class:`~connectors.salesforce.comments.NoteWriter`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from connectors.salesforce.api import (
    QUERY_KEYS_MAX,
    SalesforceApi,
    Writer,
    chunks,
    record_error,
    soql_quote,
)
from connectors.salesforce.callers import Callers, caller_case_fields
from connectors.salesforce.case_report import ReportFold
from connectors.salesforce.comments import Note, NoteWriter
from connectors.salesforce.folding import provisional
from connectors.salesforce.people import People
from connectors.salesforce.results import CaseLink, SyncResult
from streams.core.intake import summary as intake_summary
from streams.schema.events import (
    CustomerMessageReceived,
    SlaEscalated,
    TicketAssigned,
    TicketClosed,
    TicketCustomerLinked,
    TicketEvent,
    TicketOpened,
    TicketRequested,
    TopicClosed,
    TopicRenamed,
    TopicReopened,
)

MessageObject = Literal["Task", "FeedItem"]

SUBJECT_MAX = 255
EVENT_ID, TICKET_ID = "Telecase_Event_Id__c", "Telecase_Ticket_Id__c"
RESERVED_CASE_FIELDS = frozenset({"id", TICKET_ID.lower()})
"""Case fields an escalation may not set (the sync's own keys)."""


@dataclass
class _CaseWrite:
    """One segment of a ticket's Case changes (see the module docstring)."""

    key: str
    """The ticket id (its first lifecycle segment), else the event id: what a refusal
    dead-letters."""
    ticket: str
    fields: dict[str, Any]
    kind: Literal["case", "owner", "fields", "report"]
    report: dict[str, Any] | None = None
    """The reportable fields among :attr:`fields` (:mod:`connectors.salesforce.case_report`)."""


class CaseWrites:
    """Upserts Cases and writes messages; remembers each ticket's Case Id and CaseNumber."""

    def __init__(self, api: SalesforceApi, writer: Writer, people: People,
                 feed: NoteWriter, *, message_object: MessageObject = "Task",
                 case_lead_field: str = "Telecase_Lead__c",
                 assign_on_create: bool = False, report_fields: bool = False) -> None:
        self.api, self.writer, self.people, self.feed = api, writer, people, feed
        self.message_object, self.case_lead_field = message_object, case_lead_field
        self.assign_on_create = assign_on_create
        self.case_ids: dict[str, str] = {}
        self.case_numbers: dict[str, str] = {}
        self.callers = Callers(api, writer)
        self.report = ReportFold() if report_fields else None

    # -- Cases ---------------------------------------------------------------------------

    def cases(self, events: Sequence[TicketEvent],
              result: SyncResult) -> dict[str, dict[str, Any]]:
        """Upsert the Cases the batch changes, segment round by segment round; for opened
        tickets, Salesforce's answer to the opening write (``created``: the Case is new)."""
        self.callers.sync(events, result)  # manual tickets' callers' Contacts
        segments = self._segments(events, result)
        opened = {e.ticket_id for e in events if isinstance(e, TicketOpened)}
        if self.assign_on_create:
            self.details(opened)  # which opened tickets already have a Case
        created: dict[str, dict[str, Any]] = {}
        rounds = max((len(s) for s in segments.values()), default=0)
        for k in range(rounds):
            writes = [segs[k] for segs in segments.values() if len(segs) > k]
            new = [w for w in writes if self.assign_on_create and w.kind == "case"
                   and w.key == w.ticket
                   and w.ticket in opened and w.ticket not in self.case_ids]
            answers = self._upsert([w for w in writes if w not in new], auto_assign=False)
            answers.update(self._upsert(new, auto_assign=True))
            for w in writes:
                answer = answers[w.key]
                if not answer.get("success"):
                    result.rejected.append((w.key, record_error(answer)[1]))
                    continue
                self.case_ids[w.ticket] = answer["id"]
                if w.kind == "owner":
                    result.owners += 1
                elif w.kind == "fields":
                    result.case_fields += 1
                elif w.kind != "report":
                    result.count("Case")
                if w.report is not None and self.report is not None:
                    self.report.confirm(w.ticket, w.report)
                if w.kind == "case" and w.key == w.ticket and w.ticket in opened:
                    created[w.ticket] = answer
        return created

    def _upsert(self, writes: list[_CaseWrite], *,
                auto_assign: bool) -> dict[str, dict[str, Any]]:
        rows = [(w.key, {TICKET_ID: w.ticket, **w.fields}) for w in writes]
        return self.writer.send("Case", rows, TICKET_ID, auto_assign=auto_assign) if rows \
            else {}

    def _segments(self, events: Sequence[TicketEvent],
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
        self._report_segments(events, segments)
        return {t: segs for t, segs in segments.items() if segs}

    def _report_segments(self, events: Sequence[TicketEvent],
                         segments: dict[str, list[_CaseWrite]]) -> None:
        """The reportable fields the batch changed: on the ticket's last lifecycle write when
        that is its last segment (no extra call), else a segment of their own."""
        if self.report is None:
            return
        for ticket, (key, fields) in self.report.changes(list(events)).items():
            segs = segments.setdefault(ticket, [])
            if segs and segs[-1].kind == "case":
                segs[-1].fields.update(fields)
                segs[-1].report = fields
            else:
                segs.append(_CaseWrite(key, ticket, fields, "report", fields))

    def _lifecycle_fields(self, e: TicketEvent) -> dict[str, Any]:
        """The Case fields an opening, rename, close or reopen sets (else none)."""
        if isinstance(e, TicketOpened):
            fields: dict[str, Any] = {"Subject": e.subject[:SUBJECT_MAX], "Origin": "Telegram"}
            person = self.people.known.get(e.customer.telegram_user_id) if e.customer else None
            if person is not None and person.sobject == "Contact":
                fields["ContactId"] = person.id
            elif person is not None:
                fields[self.case_lead_field] = person.id
            if e.intake is not None:
                fields["Description"] = intake_summary(e.intake)
            return fields
        if isinstance(e, TicketRequested | TicketCustomerLinked):  # a manual ticket's caller
            return caller_case_fields(e, self.people, self.callers, self.case_lead_field)
        if isinstance(e, TopicRenamed):
            return {"Subject": e.name[:SUBJECT_MAX]}
        if isinstance(e, TopicClosed | TicketClosed):
            return {"Status": "Closed"}
        if isinstance(e, TopicReopened):
            return {"Status": "Working"}
        return {}

    def details(self, tickets: Iterable[str]) -> None:
        """Learn the Id and CaseNumber of Cases this sync has not seen yet (one call)."""
        soqls = self.detail_queries(tickets)
        for rows in self.api.query_many(soqls) if soqls else []:
            self.learn(rows)

    def detail_queries(self, tickets: Iterable[str]) -> list[str]:
        """The queries :meth:`details` runs (none when every Case is known)."""
        missing = sorted(t for t in tickets
                         if t not in self.case_ids or t not in self.case_numbers
                         or provisional(self.case_ids[t]))
        return ["SELECT Id, CaseNumber, Telecase_Ticket_Id__c FROM Case WHERE "
                f"Telecase_Ticket_Id__c IN ({','.join(soql_quote(t) for t in chunk)})"
                for chunk in chunks(missing, QUERY_KEYS_MAX)]

    def learn(self, rows: list[dict[str, Any]]) -> None:
        """Remember the Ids and CaseNumbers of a :meth:`detail_queries` answer."""
        for row in rows:
            self.case_ids[row["Telecase_Ticket_Id__c"]] = row["Id"]
            self.case_numbers[row["Telecase_Ticket_Id__c"]] = row["CaseNumber"]

    def report_state(self, tickets: Iterable[str]) -> dict[str, tuple[Any, Any, Any]]:
        """What the report fold holds for ``tickets``, a pruned closed ticket's state included
        (:meth:`restore_report` puts it back when a folded write was rolled back)."""
        if self.report is None:
            return {}
        fold = self.report
        return {t: (copy.deepcopy(fold.reports.get(t)),
                    dict(fold.written[t]) if t in fold.written else None,
                    copy.deepcopy(fold.closed.get(t)))
                for t in tickets}

    def restore_report(self, state: dict[str, tuple[Any, Any, Any]]) -> None:
        """The report fold as :meth:`report_state` saw it: a ticket pruned before is pruned
        again (a revival undone), one pruned by the writes undone is not."""
        if self.report is None:
            return
        for ticket, (report, written, closed) in state.items():
            for table, value in ((self.report.reports, report),
                                 (self.report.written, written),
                                 (self.report.closed, closed)):
                if value is None:
                    table.pop(ticket, None)
                else:
                    table[ticket] = value

    def link(self, ticket: str, created: bool, events: Sequence[TicketEvent],
             result: SyncResult) -> None:
        customer = next((e.customer for e in events
                         if isinstance(e, TicketOpened) and e.ticket_id == ticket), None)
        person = self.people.known.get(customer.telegram_user_id) if customer else None
        result.linked[ticket] = CaseLink(
            self.case_ids[ticket], self.case_numbers.get(ticket),
            contact_id=person.id if person and person.sobject == "Contact" else None,
            lead_id=person.id if person and person.sobject == "Lead" else None,
            created=created)

    # -- messages ------------------------------------------------------------------------

    def messages(self, messages: list[CustomerMessageReceived], result: SyncResult) -> None:
        rows, posts = [], []
        for m in messages:
            case_id = self.case_ids.get(m.ticket_id)
            if case_id is None:
                result.rejected.append((m.event_id, "no Case for this ticket"))
                continue
            who = (m.sender.username and f"@{m.sender.username}") or m.sender.first_name
            if self.message_object == "FeedItem":
                posts.append(Note(m.event_id, m.event_id, case_id,
                                  f"Telegram message from {who}:\n{m.text}", m.occurred_at,
                                  {"Type": "TextPost"}))
                continue
            person = self.people.known.get(m.sender.telegram_user_id)
            rows.append((m.event_id, {
                EVENT_ID: m.event_id, "WhatId": case_id, "Status": "Completed",
                "Subject": f"Telegram message from {who}"[:SUBJECT_MAX],
                "Description": m.text, "ActivityDate": m.occurred_at.date().isoformat(),
                **({"WhoId": person.id} if person and person.sobject == "Contact" else {})}))
        self.feed.write(posts, result)
        for key, answer in self.writer.send("Task", rows, EVENT_ID).items():
            if answer.get("success"):
                result.count("Task")
            else:
                result.rejected.append((key, record_error(answer)[1]))


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
