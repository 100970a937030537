"""Outbound sync (issue 4): ticket events become Contact/Lead, Case, Task/FeedItem and
CaseComment records in Salesforce.

The sync is four modules along its seams: :mod:`~connectors.salesforce.api` (the calls,
the headers every write carries, how failures are classified),
:mod:`~connectors.salesforce.people` (matching and creating Contacts and Leads, names),
:mod:`~connectors.salesforce.case_writes` (Cases, Tasks/FeedItems) and
:mod:`~connectors.salesforce.comments` (CaseComments and FeedItems written once without a
custom field: a ledger, a marker, crash recovery). This module applies a batch through them.

What each event writes (a retried batch, a restarted consumer or a replayed log never creates
a second record: upserts on an external id where the object takes custom fields, the write
ledger and its marker where it does not):

- the customer of ``ticket.opened`` → a person (:mod:`~connectors.salesforce.people`). A
  Telegram ticket opened with no customer (a topic the team opened) is held back, all its
  events, until its first customer message names one (:mod:`~connectors.salesforce.holds`).
- a ``ticket.opened`` carrying a bot intake form's answers (``intake``) → a **Lead**, matched
  the same way (the form's phone number helps): a Lead found is updated with the answers, none
  found creates one by upsert on ``Telegram_User_Id__c`` whatever ``customer_object`` says;
  a Contact found stays the ticket's person (an existing customer is not made a Lead again),
  and the answers are on the Case either way (its ``Description``). Lead fields: FirstName
  and LastName from the name, Company, MobilePhone, LeadSource, ``Telecase_Product_Interest__c``,
  ``Telecase_Region__c``, ``Telecase_Deal_Size__c``. A Lead is matched again at every form,
  so answers given later replace earlier ones.
- ``ticket.opened``, ``topic.renamed``, ``topic.closed``/``reopened``, ``ticket.closed`` → the
  Case (Subject, Origin ``Telegram``, Status, and the person), upsert on
  ``Telecase_Ticket_Id__c``. Status is left to the org's default on creation, so a replayed
  ``ticket.opened`` never undoes an agent's status.
- ``customer.message_received`` → a completed Task on the Case (``message_object="Task"``,
  upsert on ``Telecase_Event_Id__c``) or a Case feed post (``"FeedItem"``, written once through
  the ledger, key: the event id).
- ``agent.replied`` with ``via="telegram"`` → a published CaseComment naming the agent, written
  once through the ledger (key: the event id). ``via="salesforce"`` came from Salesforce:
  nothing is written.
- ``ticket.assigned`` with a ``salesforce_user_id`` → the Case's ``OwnerId`` (upsert on
  ``Telecase_Ticket_Id__c``); ``salesforce_user_id=None`` leaves the owner alone.
- ``sla.escalated`` → each ``set_case_field`` action sets that Case field (upsert on
  ``Telecase_Ticket_Id__c``), each ``post_case_comment`` action becomes a CaseComment
  (``IsPublished`` from ``public``, internal when unset), written once through the ledger
  (key: ``<event_id>/comment/<action index>``), so a redelivery or a replay posts it once.
  ``notify_telegram`` (the Telegram mirror's) and ``reassign`` (the desk turns it into a
  ``ticket.assigned``) write nothing here.
- with ``report_fields`` on, any event that changes a ticket's reportable state (the opening,
  the first reply, closing and reopening, the SLA signals, escalations) → the Case's
  reportable fields (:mod:`~connectors.salesforce.case_report`), on the ticket's last
  lifecycle write when there is one, else a write of their own keyed by the ticket's last
  event (what a refusal dead-letters).
- with ``entitlements`` (tier -> Entitlement), ``sla.started`` → the Case's ``EntitlementId``;
  the first agent reply and the closing complete the Case's First Response and Resolution
  milestones (:mod:`~connectors.salesforce.milestones`).
- ``customer.message_edited``, ``salesforce.case_linked``, ``case.status_changed``,
  ``case.owner_changed``, ``agent.file_shared`` (the File is on the Case already),
  ``sla.started``/``warning``/``breached``/``met``, ``sla.target_adopted`` (Salesforce's own
  milestone target), ``ticket.routed``: nothing (they came from Salesforce, edits are not mirrored
  yet, or they only feed the SLA clock and the desk); see :data:`IGNORED`. ``knowledge.requested``
  and ``agent_command.refused`` are the agent-tools runner's (``connectors.salesforce.knowledge``:
  it also links articles and notes what a Salesforce command sent); a command's ``agent.replied``
  from Telegram is written here like any reply from Telegram.

Contact or Lead (``customer_object``). Default ``"Contact"``: a Case is a service record and
its standard link to the person is ``Case.ContactId`` (a lookup to Contact only; Case has no
Lead field), the way Email-to-Case and Web-to-Case integrations work. Choose ``"Lead"`` when
Telegram is a sales channel and unknown people belong in the lead funnel (assignment rules,
qualification, conversion): they become Leads (``Company`` "[not provided]", ``LeadSource``
from ``lead_source``), and the Case points at the Lead through a custom lookup
``Telecase_Lead__c`` (``case_lead_field``), because standard Salesforce offers none. Either
way an existing Contact or Lead is reused, never duplicated. Once a Lead is converted, the
person is the Contact it became (:mod:`~connectors.salesforce.people`, "Converted Leads"):
found through the Lead's ``ConvertedContactId`` whatever the org's lead field mapping copies.
Task ``WhoId`` is set only for a Contact (Salesforce refuses a ``WhatId`` next to a Lead
``WhoId``, and the Case link matters more).

Task or FeedItem (``message_object``). Default ``"Task"``: a completed Task per message is an
activity with a date, reportable (first-response and volume reports), and carries custom
fields. ``"FeedItem"`` posts each message to the Case feed, which reads like a conversation in
the Service Console.

Assignment rules (``assign_on_create``, ``TELECASE_SALESFORCE_ASSIGNMENT_RULES_ON_CREATE``):
every update carries ``Sforce-Auto-Assign: FALSE``; new Cases, Contacts and Leads run the org's
assignment rules only when this is set (leave it off when telecase's desk assigns).

Cost: a batch needs two API calls whatever its size, up to a few hundred messages. First one
composite call of queries (:meth:`CaseSync._read`): the candidates of the people the batch
names and the Cases not known yet. Then one Composite call holding every write
(:mod:`~connectors.salesforce.folding`): claims and creates of people, the Case collections
(a new person named by reference, ``@{w0[3].id}``), the query for the new Cases' CaseNumbers,
and the Task collection (a new Case named by reference), ``allOrNone``, so Salesforce applies
all of it or none. When it cannot be one call (more than five collections and queries, as in
a batch of more than about 400 messages; assignment rules on creation; FeedItems, written
through the ledger after it) or Salesforce refused any of it, the batch is written step by
step as before, which finds the record Salesforce refuses: a collection per object and
segment round, a query for CaseNumbers, one for messages, one query and one collection for
comments (200 records a collection). Ids learned are kept, so a batch naming only known
tickets needs the write call alone.

The link back: :attr:`SyncResult.linked` holds, per ticket whose ``ticket.opened`` was synced
in the batch, the Case Id, CaseNumber and the Contact or Lead id (:class:`CaseLink`).

Errors: see :mod:`connectors.salesforce.api`. Logins failing, sessions that cannot be renewed,
timeouts, connection errors, 5xx, the API limit and locked rows are transient (the batch is
kept and retried); a request Salesforce refuses as a whole is permanent. A single record
Salesforce rejects (REQUIRED_FIELD_MISSING, FIELD_CUSTOM_VALIDATION_EXCEPTION,
DUPLICATES_DETECTED...) does not fail the batch: it is returned in :attr:`SyncResult.rejected`
as ``(event_id or ticket_id, "CODE: message")`` for the dead-letter topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import structlog

from connectors.salesforce.api import SalesforceApi, SimpleSalesforceApi, Writer
from connectors.salesforce.case_writes import (
    EVENT_ID,
    RESERVED_CASE_FIELDS,
    SUBJECT_MAX,
    TICKET_ID,
    CaseWrites,
    MessageObject,
)
from connectors.salesforce.comments import (
    MemoryWriteLedger,
    Note,
    NoteWriter,
    WriteLedger,
    integration_user,
)
from connectors.salesforce.folding import Fold, provisional
from connectors.salesforce.holds import CustomerHold
from connectors.salesforce.milestones import Milestones
from connectors.salesforce.people import (
    Conversions,
    CustomerObject,
    People,
    Person,
    candidates_from,
    display_name,
    normalize_phone,
    same_phone,
)
from connectors.salesforce.results import CaseLink, SyncResult
from streams.schema.events import (
    INTAKE_FORM_EVENTS,
    AgentCommandRefused,
    AgentFileShared,
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    CustomerMessageEdited,
    CustomerMessageReceived,
    IntakeTopicOpened,
    KnowledgeRequested,
    SalesforceCaseLinked,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaTargetAdopted,
    SlaWarning,
    TicketEvent,
    TicketRouted,
)

__all__ = ["EVENT_ID", "IGNORED", "RESERVED_CASE_FIELDS", "SUBJECT_MAX", "TICKET_ID",
           "CaseLink", "CaseSync", "CustomerObject", "MessageObject", "Person",
           "SalesforceApi", "SimpleSalesforceApi", "SyncResult", "display_name",
           "normalize_phone", "same_phone"]

IGNORED: tuple[type, ...] = (CustomerMessageEdited, SalesforceCaseLinked, CaseStatusChanged,
                             CaseOwnerChanged, SlaStarted, SlaWarning, SlaBreached, SlaMet,
                             SlaTargetAdopted, TicketRouted, *INTAKE_FORM_EVENTS, IntakeTopicOpened,
                             KnowledgeRequested, AgentCommandRefused, AgentFileShared)
"""Events the sync skips on purpose (the others in ``EVENT_TYPES`` are written)."""
log = structlog.get_logger("telecase.salesforce.sync")
K = TypeVar("K", int, str)


class CaseSync:
    """Applies batches of ticket events to Salesforce. Synchronous (simple-salesforce is);
    runners call :meth:`apply` in a thread. One instance per consumer: it remembers the ids
    it learned, so steady traffic costs few calls.

    ``ledger``: where CaseComments and FeedItems written are recorded (default: in memory,
    crash recovery covering its loss); ``integration_user_id``/``integration_username``: the
    user telecase writes as, which crash recovery requires of a record it finds;
    ``report_fields``: keep the Case's reportable fields current
    (:mod:`~connectors.salesforce.case_report`; the org needs them: ``telecase salesforce
    setup``); ``entitlements``: SLA tier -> Entitlement name or Id, whose milestones telecase
    completes (:mod:`~connectors.salesforce.milestones`); ``conversions``: the Leads the
    deals convert in this process, whose Contacts replace them
    (:mod:`~connectors.salesforce.people`)."""

    def __init__(self, api: SalesforceApi, *, customer_object: CustomerObject = "Contact",
                 message_object: MessageObject = "Task",
                 case_lead_field: str = "Telecase_Lead__c", lead_source: str | None = None,
                 assign_on_create: bool = False, report_fields: bool = False,
                 entitlements: dict[str, str] | None = None,
                 ledger: WriteLedger | None = None,
                 integration_user_id: str | None = None,
                 integration_username: str | None = None,
                 conversions: Conversions | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if customer_object not in ("Contact", "Lead"):
            raise ValueError("customer_object is 'Contact' or 'Lead'")
        if message_object not in ("Task", "FeedItem"):
            raise ValueError("message_object is 'Task' or 'FeedItem'")
        self.api = api
        writer = Writer(api, sleep)
        ledger = ledger if ledger is not None else MemoryWriteLedger()
        me = integration_user(api, integration_user_id, integration_username)
        self.people = People(api, writer, customer_object=customer_object,
                             lead_source=lead_source, assign_on_create=assign_on_create,
                             conversions=conversions)
        self.comments = NoteWriter(api, writer, ledger, sobject="CaseComment",
                                   body_field="CommentBody", integration_user=me)
        feed = NoteWriter(api, writer, ledger, sobject="FeedItem", body_field="Body",
                          integration_user=me)
        self.cases = CaseWrites(api, writer, self.people, feed, message_object=message_object,
                                case_lead_field=case_lead_field,
                                assign_on_create=assign_on_create,
                                report_fields=report_fields)
        self.milestones = Milestones(api, writer, entitlements) if entitlements else None
        self.hold = CustomerHold()  # tickets with no customer yet (connectors.salesforce.holds)

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        self.people.follow()  # Leads converted meanwhile are their Contacts now
        events = self.hold.take(events)
        replies = [e for e in events if isinstance(e, AgentReplied) and e.via == "telegram"]
        messages = [e for e in events if isinstance(e, CustomerMessageReceived)]
        escalations = [e for e in events if isinstance(e, SlaEscalated)
                       and any(a.do == "post_case_comment" for a in e.actions)]
        candidates = self._read(events, {e.ticket_id for e in [*messages, *replies,
                                                                *escalations]})
        foldable = isinstance(self.api, SimpleSalesforceApi) and not self.cases.assign_on_create
        result = self._folded(events, messages, candidates) if foldable else None
        if result is None:  # step by step: each write its own call
            result = SyncResult()
            self.people.sync(events, result, candidates)
            opened = self.cases.cases(events, result)
            self.cases.details(opened.keys())
            for ticket, answer in opened.items():
                self.cases.link(ticket, bool(answer.get("created")), events, result)
            self.cases.messages(messages, result)
        if self.milestones is not None:
            self.cases.details({e.ticket_id for e in events})
            self.milestones.apply(events, self.cases.case_ids, result)
        self.comments.write(self._comment_notes(replies, escalations, result), result)
        return result

    def _read(self, events: Sequence[TicketEvent],
              tickets: set[str]) -> list[dict[str, Any]] | None:
        """One call for what the writes need to know first: the people the batch may name
        (their candidates, returned) and the Cases of ``tickets`` not known yet."""
        wanted = list(self.people.wanted(events).values())
        people = self.people.candidate_queries(wanted) if wanted else []
        cases = self.cases.detail_queries(tickets)
        answers = self.api.query_many(people + cases) if people or cases else []
        for rows in answers[len(people):]:
            self.cases.learn(rows)
        return candidates_from(people, answers[:len(people)]) if wanted else None

    def _folded(self, events: Sequence[TicketEvent], messages: list[CustomerMessageReceived],
                candidates: list[dict[str, Any]] | None) -> SyncResult | None:
        """People, Cases, the Cases' numbers and Tasks in one Composite call
        (:mod:`connectors.salesforce.folding`); ``None`` when that call could not be made or
        was rolled back: nothing was written, and what was learned meanwhile is forgotten."""
        assert isinstance(self.api, SimpleSalesforceApi)
        result = SyncResult()
        tickets = {e.ticket_id for e in events}
        people = set(self.people.wanted(events))
        report = self.cases.report_state(tickets)
        tasks = self.cases.message_object == "Task"
        with self.api.folding() as fold:
            self.people.sync(events, result, candidates)
            opened = self.cases.cases(events, result)
            for soql in self.cases.detail_queries(opened.keys()):
                fold.query(soql, self.cases.learn)
            if tasks:
                self.cases.messages(messages, result)
        sent = self.api.send_fold(fold)
        _settle(self.people.known, people, fold, sent)
        _settle(self.cases.callers.known, tickets, fold, sent)
        for ticket in tickets & self.cases.case_ids.keys():
            if provisional(self.cases.case_ids[ticket]):
                if sent:
                    self.cases.case_ids[ticket] = fold.real(self.cases.case_ids[ticket])
                else:
                    del self.cases.case_ids[ticket]
        if not sent:
            self.cases.restore_report(report)
            if fold.subrequests:
                log.info("salesforce.sync.unfolded", reason=fold.refused or "rolled back",
                         subrequests=len(fold.subrequests))
            return None
        for ticket, answer in opened.items():
            self.cases.link(ticket, bool(answer.get("created")), events, result)
        if not tasks:
            self.cases.messages(messages, result)
        return result

    def _comment_notes(self, replies: list[AgentReplied], escalations: list[SlaEscalated],
                       result: SyncResult) -> list[Note]:
        """Agents' Telegram replies (published) and escalations' ``post_case_comment``
        actions, as CaseComments."""
        notes: list[Note] = []
        case_ids = self.cases.case_ids
        for r in replies:
            case_id = case_ids.get(r.ticket_id)
            if case_id is None:
                result.rejected.append((r.event_id, "no Case for this ticket"))
                continue
            name = r.agent.display_name or r.actor.display_name or "an agent"
            notes.append(Note(r.event_id, r.event_id, case_id,
                              f"{name} (in Telegram):\n{r.text}", r.occurred_at,
                              {"IsPublished": True}))
        for e in escalations:
            case_id = case_ids.get(e.ticket_id)
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
                notes.append(Note(f"{e.event_id}/comment/{i}", e.event_id, case_id,
                                  action.text, e.occurred_at,
                                  {"IsPublished": bool(action.public)}))
        return notes


def _settle(known: dict[K, Person], keys: set[K], fold: Fold, sent: bool) -> None:
    """People learned provisionally in ``fold``: their real Ids when it was ``sent``, else
    forgotten."""
    for key in keys & known.keys():
        if provisional(known[key].id):
            found = fold.ids.get(known[key].id) if sent else None
            if found is None:
                del known[key]
            else:
                known[key] = replace(known[key], id=found)
