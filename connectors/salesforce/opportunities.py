"""Deals (issue 17 item 4): a qualified ticket also becomes an Opportunity, whose stage
follows the ticket.

**When** (:class:`DealRule`). A ticket qualifies when its bot intake form's deal size is at
least ``min_deal_size`` (``TELECASE_SALESFORCE_OPPORTUNITY_MIN_DEAL_SIZE``), or when the desk
routes it to one of ``queues`` (``TELECASE_SALESFORCE_OPPORTUNITY_QUEUES``, e.g. ``deals``).
Nothing else makes an Opportunity, and the whole feature is off unless
``TELECASE_SALESFORCE_OPPORTUNITIES`` is on.

**Which Account** (the customer's, read from the ticket's Case, which the Case sync writes;
until it exists the batch waits, :class:`CasePending`):

- the Case's Contact → its ``AccountId`` (none: the Opportunity has no Account);
- the Case's Lead (``Telecase_Lead__c``) → the Lead is **converted**: Salesforce's
  ``convertLead()`` makes its Account and Contact (as the org's lead conversion settings and
  field mappings say) and marks the Lead converted. The REST API has no conversion resource;
  the call is the SOAP API's ``convertLead()``
  (https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_convertlead.htm),
  sent with the REST session (an OAuth access token is a SOAP session id) to
  ``/services/Soap/u/<version>`` (:class:`LeadConverter`). Creating an Account and a
  Contact by hand would leave the Lead unconverted, and ``IsConverted`` cannot be written
  (it is read-only); Apex ``Database.convertLead`` would need code deployed in the org. The
  conversion asks for no Opportunity (``doNotCreateOpportunity``): telecase upserts its own,
  so a retry can never make a second one. ``convertedStatus`` is
  ``TELECASE_SALESFORCE_LEAD_CONVERTED_STATUS``, else the org's first LeadStatus with
  ``IsConverted``. A Lead already converted (a retry, or a salesperson did it) is not
  converted again: its ``ConvertedAccountId`` and ``ConvertedContactId`` are used. A Lead
  Salesforce will not convert (a validation rule, a status that is no converted one:
  :class:`ConversionRefused`) holds back only its own deal (refused, tried again at the
  ticket's next step); an expired session or a locked row is transient.

  **After the conversion the Case points at the customer's new records**: its ``ContactId``
  and ``AccountId`` are set to the ``LeadConvertResult``'s ``contactId`` and ``accountId``
  (upsert on the ticket id, before the Opportunity), and the Case sync's people matching is
  told (:class:`~connectors.salesforce.people.Conversions`), so the customer's later messages
  and tickets name the Contact and no Lead is made or updated again. A Case still without a
  Contact whose Lead is converted already (a salesperson did it, or a crash came between the
  conversion and the Case) is pointed the same way. The ``Telecase_Lead__c`` lookup stays: it
  tells which Lead the customer came in as.

**One Opportunity per ticket.** It is upserted on ``Telecase_Ticket_Id__c``
(``PATCH /sobjects/Opportunity/Telecase_Ticket_Id__c/<ticket>``, in collections), so restarts,
retries and replays find the same record. A new one gets ``Name`` (the Case's subject, or the
intake's company), ``StageName``, ``CloseDate`` (today + ``close_in_days``; Salesforce
requires all three), ``AccountId``, ``ContactId``, ``Amount`` (the deal size) and
``LeadSource``; an existing one only its stage.

**Stage** (:class:`StageMap`, documented in the README): opened → ``Qualification``, the
first agent reply (not outreach) → ``Needs Analysis``, closed →
``TELECASE_SALESFORCE_OPPORTUNITY_CLOSED_STAGE`` (default ``Closed Won``), reopened → back to
the replied (or opened) stage. The stage is written when the ticket's step changes, never
read back: a salesperson's later move stands until the ticket's next step.

The fold is per ticket and in memory, bounded: a closed ticket whose closed stage is written
(or that is no deal) leaves it for the last :data:`CLOSED_MAX` closed ones. A ticket this
instance has not seen qualify (it qualified before a restart, or was forgotten since it
closed) is looked up in Salesforce when one of its steps arrives: an Opportunity found is
followed, none means the ticket is no deal (a forgotten deal reopened goes back to the
opened stage: the reply before its closing is not read back). Its other events (an owner
change, an edit, an SLA signal) say nothing of its step, so they write nothing: a closed
deal's stage is not taken back to the opened one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import structlog

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.api import (
    QUERY_KEYS_MAX,
    SalesforceApi,
    Writer,
    chunks,
    record_error,
    soql_quote,
)
from connectors.salesforce.people import Conversions
from connectors.salesforce.results import SyncResult
from streams.schema.events import (
    AgentReplied,
    CaseStatusChanged,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TicketRouted,
    TopicClosed,
    TopicReopened,
)

log = structlog.get_logger(__name__)

TICKET_ID = "Telecase_Ticket_Id__c"
CASE_LEAD = "Telecase_Lead__c"
OPENED, REPLIED, CLOSED = "opened", "replied", "closed"
CLOSED_MAX = 10_000
"""Settled closed tickets the deals keep (the most recent), beside the open ones."""


class CasePending(TransientError):
    """A qualified ticket's Case does not exist yet (the Case sync has not written it)."""


class ConversionRefused(PermanentError):
    """Salesforce refused to convert one Lead (its ``LeadConvertResult`` has ``errors``: a
    validation rule, a status that is no converted one...); the other Leads go on."""


_TRANSIENT_FAULTS = {"INVALID_SESSION_ID", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED",
                     "SERVER_UNAVAILABLE"}
"""SOAP faults that a later try cures (the session: the retry's REST call logs in again)."""


@dataclass(frozen=True)
class DealRule:
    """When a ticket is a deal."""

    min_deal_size: Decimal | None = None
    queues: frozenset[str] = frozenset()

    def by_intake(self, deal_size: Decimal | None) -> bool:
        return (self.min_deal_size is not None and deal_size is not None
                and deal_size >= self.min_deal_size)


@dataclass(frozen=True)
class StageMap:
    """The Opportunity stage of each ticket step (values of the org's StageName)."""

    opened: str = "Qualification"
    replied: str = "Needs Analysis"
    closed: str = "Closed Won"

    def of(self, step: str) -> str:
        return {OPENED: self.opened, REPLIED: self.replied, CLOSED: self.closed}[step]


@dataclass
class Deal:
    """One ticket, as far as deals go."""

    qualified: bool = False
    step: str = OPENED
    replied: bool = False
    amount: Decimal | None = None
    company: str | None = None
    written_step: str | None = None
    """The step whose stage Salesforce holds (``None``: no Opportunity known)."""
    opened_here: bool = False
    """This instance folded the ticket's opening (so it saw whether the intake qualifies)."""
    checked: bool = False
    """Salesforce was asked whether the ticket has an Opportunity."""
    stepped: bool = False
    """The ticket's step is known: its opening, its routing, a reply, a closing or a reopening
    was folded here. A ticket known only from other events (an owner change or an edit after
    a restart, or after it was forgotten) has no step to write: its stage stands."""
    last_seq: int = -1

    def fold(self, event: TicketEvent, rule: DealRule) -> None:
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        if isinstance(event, TicketOpened):
            self.opened_here = self.stepped = True
            if event.intake is not None:
                self.amount, self.company = event.intake.deal_size, event.intake.company
                self.qualified = self.qualified or rule.by_intake(event.intake.deal_size)
        elif isinstance(event, TicketRouted) and event.queue in rule.queues:
            self.qualified = self.stepped = True  # routed at its opening
        elif isinstance(event, AgentReplied) and event.via != "outreach":
            self.replied = self.stepped = True
            if self.step != CLOSED:
                self.step = REPLIED
        elif isinstance(event, TicketClosed | TopicClosed) or (
                isinstance(event, CaseStatusChanged) and event.is_closed):
            self.step, self.stepped = CLOSED, True
        elif isinstance(event, TopicReopened) or (
                isinstance(event, CaseStatusChanged) and not event.is_closed
                and self.step == CLOSED):
            self.step = REPLIED if self.replied else OPENED
            self.stepped = True


class Converter(Protocol):
    def convert(self, lead_id: str, status: str) -> tuple[str, str]:
        """Convert a Lead (no Opportunity): ``(account id, contact id)``."""
        ...


@dataclass
class Opportunities:
    """Upserts the Opportunities of a batch's qualified tickets."""

    api: SalesforceApi
    writer: Writer
    converter: Converter
    rule: DealRule = DealRule()
    stages: StageMap = StageMap()
    close_in_days: int = 30
    lead_source: str | None = "Telegram"
    converted_status: str | None = None
    conversions: Conversions | None = None
    """Where the Leads converted here are told to the Case sync's people matching."""
    deals: dict[str, Deal] = field(default_factory=dict)
    """The open tickets (and the closed ones not settled yet)."""
    closed: OrderedDict[str, Deal] = field(default_factory=OrderedDict)
    """Closed tickets, settled (their closed stage written, or no deal): the last
    ``closed_max``, so a ticket reopened soon picks up where it was."""
    closed_max: int = CLOSED_MAX

    def apply(self, events: Sequence[TicketEvent], result: SyncResult) -> None:
        """Fold ``events``; write what changed. Raises :class:`CasePending` (nothing
        remembered as written) when a qualified ticket's Case is not in Salesforce yet."""
        last: dict[str, TicketEvent] = {}
        for e in events:
            if not e.type.startswith("intake."):
                deal = self.deals.get(e.ticket_id)
                if deal is None:
                    deal = self.deals[e.ticket_id] = self.closed.pop(e.ticket_id, Deal())
                deal.fold(e, self.rule)
                last[e.ticket_id] = e
        deals = {t: d for t in last if (d := self.deals[t]).stepped}
        unsure = sorted(t for t, d in deals.items() if d.written_step is None
                        and (d.qualified or not (d.opened_here or d.checked)))
        existing = self._existing(unsure) if unsure else set()
        for ticket in unsure:
            deals[ticket].checked = True
            deals[ticket].qualified = deals[ticket].qualified or ticket in existing
        due = {t: d for t, d in deals.items() if d.qualified and d.step != d.written_step}
        new = sorted(t for t, d in due.items() if d.written_step is None and t not in existing)
        cases, refused = self._cases(new) if new else ({}, {})
        for ticket, reason in refused.items():
            result.rejected.append((last[ticket].event_id, reason))
        rows: list[tuple[str, dict[str, Any]]] = []
        for ticket, deal in due.items():
            if ticket in refused:
                continue  # tried again at the ticket's next step
            fields: dict[str, Any] = {TICKET_ID: ticket,
                                      "StageName": self.stages.of(deal.step)}
            if ticket in cases:
                fields.update(self._new_fields(deal, cases[ticket], last[ticket]))
            rows.append((ticket, fields))
        for ticket, answer in self.writer.send("Opportunity", rows, TICKET_ID).items():
            deal = self.deals[ticket]
            if answer.get("success"):
                deal.written_step = deal.step
                log.info("salesforce.opportunity.written", ticket_id=ticket,
                         opportunity_id=answer.get("id"), created=answer.get("created"),
                         step=deal.step)
            else:
                result.rejected.append((last[ticket].event_id, record_error(answer)[1]))
        self._prune(last)

    def _prune(self, tickets: Iterable[str]) -> None:
        """Move the settled closed tickets out of :attr:`deals` (bounded, see
        :attr:`closed`): one forgotten and reopened is looked up in Salesforce again."""
        for ticket in tickets:
            deal = self.deals[ticket]
            if not deal.stepped:  # nothing to write, nothing worth keeping
                del self.deals[ticket]
            elif deal.step == CLOSED and (deal.written_step == CLOSED or not deal.qualified):
                self.closed[ticket] = self.deals.pop(ticket)
                self.closed.move_to_end(ticket)
                while len(self.closed) > self.closed_max:
                    self.closed.popitem(last=False)

    def _existing(self, tickets: list[str]) -> set[str]:
        """The tickets that have an Opportunity already."""
        soqls = [f"SELECT {TICKET_ID} FROM Opportunity WHERE {TICKET_ID} IN "
                 f"({','.join(soql_quote(t) for t in group)})"
                 for group in chunks(tickets, QUERY_KEYS_MAX)]
        return {row[TICKET_ID] for rows in self.api.query_many(soqls) for row in rows}

    def _cases(self, tickets: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Each new deal's Case with its customer's Account and Contact (Leads converted),
        and the tickets whose Lead Salesforce refused to convert (with the reason)."""
        soqls = [f"SELECT Id, Subject, ContactId, Contact.AccountId, {CASE_LEAD}, {TICKET_ID} "
                 f"FROM Case WHERE {TICKET_ID} IN ({','.join(soql_quote(t) for t in group)})"
                 for group in chunks(tickets, QUERY_KEYS_MAX)]
        cases = {row[TICKET_ID]: row for rows in self.api.query_many(soqls) for row in rows}
        missing = [t for t in tickets if t not in cases]
        if missing:
            raise CasePending(f"salesforce: no Case yet for {len(missing)} deal tickets")
        leads = sorted({c[CASE_LEAD] for c in cases.values()
                        if not c.get("ContactId") and c.get(CASE_LEAD)})
        converted, refused = self._converted(leads) if leads else ({}, {})
        repoint: list[tuple[str, dict[str, Any]]] = []
        for ticket, case in cases.items():
            contact = case.get("Contact") or {}
            account, contact_id = contact.get("AccountId"), case.get("ContactId")
            if not contact_id and case.get(CASE_LEAD) in converted:
                account, contact_id = converted[case[CASE_LEAD]]
                repoint.append((ticket, {TICKET_ID: ticket, "ContactId": contact_id,
                                         "AccountId": account}))
            case["_account"], case["_contact"] = account, contact_id
        refusals = {t: refused[c[CASE_LEAD]] for t, c in cases.items()
                    if not c.get("ContactId") and c.get(CASE_LEAD) in refused}
        for ticket, answer in self.writer.send("Case", repoint, TICKET_ID).items():
            if not answer.get("success"):  # the Opportunity waits: tried again next step
                refusals[ticket] = "the Case of the converted Lead: " + record_error(answer)[1]
        return cases, refusals

    def _converted(self, leads: list[str],
                   ) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
        """Lead -> (Account, Contact), converting the Leads not converted yet; and the Leads
        Salesforce refused to convert -> its reason."""
        soql = ("SELECT Id, IsConverted, ConvertedAccountId, ConvertedContactId FROM Lead "
                f"WHERE Id IN ({','.join(soql_quote(lead) for lead in leads)})")
        out: dict[str, tuple[str, str]] = {}
        refused: dict[str, str] = {}
        for row in self.api.query_many([soql])[0]:
            if row.get("IsConverted"):
                out[row["Id"]] = (row["ConvertedAccountId"], row["ConvertedContactId"])
            else:
                try:
                    out[row["Id"]] = self.converter.convert(row["Id"], self._status())
                except ConversionRefused as exc:
                    refused[row["Id"]] = str(exc)
                    continue
                log.info("salesforce.lead.converted", lead_id=row["Id"],
                         account_id=out[row["Id"]][0], contact_id=out[row["Id"]][1])
            if self.conversions is not None:
                self.conversions.add(row["Id"], out[row["Id"]][1])
        return out, refused

    def _status(self) -> str:
        if self.converted_status is None:
            rows = self.api.query_many(["SELECT MasterLabel FROM LeadStatus WHERE "
                                        "IsConverted = true ORDER BY SortOrder LIMIT 1"])[0]
            if not rows:
                raise PermanentError("salesforce: the org has no converted LeadStatus")
            self.converted_status = str(rows[0]["MasterLabel"])
        return self.converted_status

    def _new_fields(self, deal: Deal, case: dict[str, Any],
                    event: TicketEvent) -> dict[str, Any]:
        name = case.get("Subject") or deal.company or f"Telegram deal {event.ticket_id}"
        fields: dict[str, Any] = {
            "Name": str(name)[:120],
            "CloseDate": (event.occurred_at + timedelta(days=self.close_in_days))
            .date().isoformat(),
            "AccountId": case["_account"], "ContactId": case["_contact"]}
        if deal.amount is not None:
            fields["Amount"] = float(deal.amount)
        if self.lead_source:
            fields["LeadSource"] = self.lead_source
        return fields


class LeadConverter:
    """SOAP ``convertLead()`` over a logged-in simple-salesforce client's session."""

    def __init__(self, sf: Any) -> None:
        self.sf = sf

    def convert(self, lead_id: str, status: str) -> tuple[str, str]:
        sf = self.sf
        url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
        body = (
            '<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
            f"<urn:sessionId>{escape(sf.session_id)}</urn:sessionId></urn:SessionHeader>"
            "</soapenv:Header><soapenv:Body><urn:convertLead><urn:leadConverts>"
            f"<urn:convertedStatus>{escape(status)}</urn:convertedStatus>"
            "<urn:doNotCreateOpportunity>true</urn:doNotCreateOpportunity>"
            f"<urn:leadId>{escape(lead_id)}</urn:leadId>"
            "<urn:overwriteLeadSource>false</urn:overwriteLeadSource>"
            "<urn:sendNotificationEmail>false</urn:sendNotificationEmail>"
            "</urn:leadConverts></urn:convertLead></soapenv:Body></soapenv:Envelope>")
        try:
            answer = sf.session.post(url, data=body.encode(), timeout=60, headers={
                "Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"})
        except OSError as exc:
            raise TransientError(f"salesforce unreachable: {type(exc).__name__}") from exc
        if answer.status_code >= 500 and b"Fault" not in answer.content:
            raise TransientError(f"salesforce unavailable: {answer.status_code}")
        found = _values(answer.content)
        if found.get("success") == "true":
            return found["accountId"], found["contactId"]
        fault = found.get("exceptionCode") or found.get("faultcode", "").removeprefix("sf:")
        if fault in _TRANSIENT_FAULTS:
            raise TransientError(f"salesforce: convertLead: {fault}")
        if fault or "statusCode" not in found:  # the call itself was refused
            raise PermanentError(f"salesforce refused convertLead: {fault or answer.status_code}"
                                 f": {found.get('exceptionMessage') or found.get('faultstring')}")
        raise ConversionRefused(f"{found['statusCode']}: {found.get('message', '')}")


def _values(xml: bytes) -> dict[str, str]:
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    return {e.tag.rsplit("}", 1)[-1]: e.text or "" for e in root.iter()}
