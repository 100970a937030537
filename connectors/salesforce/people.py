"""Who a Telegram customer is in Salesforce: matching Contacts and Leads, and creating them.

A customer of ``ticket.opened`` (or of ``ticket.customer_linked``: a manual ticket's caller,
see :mod:`connectors.salesforce.callers`) is matched against existing Contacts **and** Leads by, in
order, ``Telegram_User_Id__c``, then phone (``Phone``/``MobilePhone``, compared as digits,
see :func:`same_phone`), then ``Telegram_Username__c``. A record found by phone or username is
claimed by writing the Telegram id onto it (only records without a Telegram id are candidates:
a different id is a different person); when none is found, the configured ``customer_object``
is created by upsert on ``Telegram_User_Id__c``. A Contact is preferred over a Lead at the
same key. A bot intake form's answers make the person a Lead (see
:mod:`connectors.salesforce.case_sync`).

**Converted Leads** (``convertLead()``, by telecase's deals,
:mod:`connectors.salesforce.opportunities`, or by a salesperson): the person is the Contact the
Lead became from then on. A converted Lead found by any key stands for its
``ConvertedContactId`` (Object Reference, Lead: ``IsConverted``, ``ConvertedContactId``),
ranked after the Contacts found and before the unconverted Leads; found by phone or username,
that Contact is claimed (its Telegram id written), so it is found directly afterwards, whatever
the org's lead field mapping copied. A converted Lead is never updated (Salesforce refuses:
``CANNOT_UPDATE_CONVERTED_LEAD``) and never recreated. A person remembered as a Lead is matched
again at each new ticket (a salesperson may have converted it meanwhile), and the Leads this
process converted (:class:`Conversions`, shared with the deals) replace the Lead in
:attr:`People.known` at the next batch, so the customer's later Cases name the Contact
(``ContactId``) and their messages' Tasks its ``WhoId``. A message's sender the sync does not
know (it restarted since the ticket opened) is looked up by Telegram id in the same read, never
created.

Names. Salesforce requires ``LastName`` on Contact and Lead (80 characters; ``FirstName`` 40).
Telegram gives a required ``first_name``, an optional ``last_name`` and an optional
``username``. The mapping:

- first and last name: ``FirstName`` = first name, ``LastName`` = last name;
- no last name: ``LastName`` = the Telegram display name (:func:`display_name`: the name as
  Telegram shows it, e.g. "Anna Maria" or "Acme Support ✨", whole and unsplit), no
  ``FirstName``; an agent sees the same name in Salesforce as in the Telegram group;
- no name at all: ``LastName`` = ``@username``, else ``Telegram user <id>``.

A bot intake form's typed name is split at its last space (``FirstName`` before it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
from connectors.salesforce.results import SyncResult
from streams.core.phones import e164
from streams.schema.events import (
    Customer,
    CustomerMessageReceived,
    IntakeAnswers,
    TicketCustomerLinked,
    TicketEvent,
    TicketOpened,
)

CustomerObject = Literal["Contact", "Lead"]

TG_ID, TG_USERNAME = "Telegram_User_Id__c", "Telegram_Username__c"
LEAD_COMPANY = "[not provided]"
LEAD_PRODUCT, LEAD_REGION, LEAD_DEAL_SIZE = ("Telecase_Product_Interest__c",
                                            "Telecase_Region__c", "Telecase_Deal_Size__c")
LAST_NAME_MAX, FIRST_NAME_MAX = 80, 40
UNMATCHED_MAX = 10_000
LAST_RESORT = "converted_lead_last_resort"
"""Marks a candidate standing for a Contact that was also found itself: the converted Lead's
Telegram id finds it only when none of the Contact's own keys did (it is then claimed)."""


def normalize_phone(raw: str | None) -> str | None:
    """E.164, as the core recorded it (``streams.core.phones``: the events' phones are already
    normalised with the default region, so this reads them the same way)."""
    return e164(raw) if raw else None


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


def display_name(c: Customer) -> str:
    """The customer's name as Telegram shows it: first and last name, else ``@username``,
    else ``Telegram user <id>``."""
    shown = " ".join(p.strip() for p in (c.first_name, c.last_name or "") if p and p.strip())
    return shown or (f"@{c.username}" if c.username else f"Telegram user {c.telegram_user_id}")


def phone_pattern(phone: str) -> str:
    """A LIKE pattern finding the last eight digits whatever the formatting between them."""
    return "%" + "%".join(re.sub(r"\D", "", phone)[-8:])


@dataclass(frozen=True)
class Person:
    """The Contact or Lead a Telegram user is in Salesforce."""

    sobject: str
    id: str


@dataclass
class _Wanted:
    customer: Customer
    event_id: str
    phone: str | None = None
    intake: IntakeAnswers | None = None
    """The bot intake form's answers: the person is (or becomes) a Lead holding them."""
    look_only: bool = False
    """A message's sender not known (a restarted sync): found by Telegram id or not at all,
    never claimed nor created (the ticket's opening does that)."""


class Conversions:
    """The Leads this process converted: Lead id -> the Contact it became. Shared by the
    deals (which convert) and the Case sync's :class:`People` (which follow); at most
    ``most`` remembered (the oldest forgotten: a restart finds them in Salesforce anyway)."""

    def __init__(self, most: int = 10_000) -> None:
        self.most = most
        self.contacts: dict[str, str] = {}
        self.version = 0

    def add(self, lead_id: str, contact_id: str) -> None:
        if self.contacts.get(lead_id) == contact_id:
            return
        self.contacts[lead_id] = contact_id
        while len(self.contacts) > self.most:
            del self.contacts[next(iter(self.contacts))]
        self.version += 1


class People:
    """Finds or creates the person of each opened ticket; remembers whom it found
    (:attr:`known`, by Telegram user id)."""

    def __init__(self, api: SalesforceApi, writer: Writer, *,
                 customer_object: CustomerObject = "Contact", lead_source: str | None = None,
                 assign_on_create: bool = False,
                 conversions: Conversions | None = None) -> None:
        self.api, self.writer = api, writer
        self.customer_object, self.lead_source = customer_object, lead_source
        self.assign_on_create = assign_on_create
        self.known: dict[int, Person] = {}
        self.conversions = conversions
        self._followed = -1
        self._unmatched: dict[int, None] = {}
        """Message senders looked up and not found (the oldest forgotten past
        :data:`UNMATCHED_MAX`)."""

    def follow(self) -> None:
        """Replace the Leads known to be converted (:class:`Conversions`) by their Contacts."""
        conversions = self.conversions
        if conversions is None or conversions.version == self._followed:
            return
        self._followed = conversions.version
        for uid, person in list(self.known.items()):
            contact = conversions.contacts.get(person.id) if person.sobject == "Lead" else None
            if contact is not None:
                self.known[uid] = Person("Contact", contact)

    def sync(self, events: Sequence[TicketEvent], result: SyncResult,
             candidates: list[dict[str, Any]] | None = None) -> None:
        """Find or create the batch's people. ``candidates``: what :meth:`candidate_queries`
        found, when the caller ran them already (else they are run here)."""
        wanted = self.wanted(events)
        if not wanted:
            return
        rows = candidates if candidates is not None else self._candidates(list(wanted.values()))
        claimed: set[str] = set()
        claims: dict[str, list[tuple[str, dict[str, Any]]]] = {"Contact": [], "Lead": []}
        creates: dict[str, list[tuple[str, dict[str, Any]]]] = {"Contact": [], "Lead": []}
        keys: dict[str, int] = {}
        for uid, want in wanted.items():
            found, by = _match(uid, want, rows, claimed)
            if want.look_only:
                if found is not None and by in ("telegram id", "converted lead"):
                    self.known[uid] = Person(found["attributes"]["type"], found["Id"])
                else:
                    self._unmatched[uid] = None
                    while len(self._unmatched) > UNMATCHED_MAX:
                        del self._unmatched[next(iter(self._unmatched))]
                continue
            keys[want.event_id] = uid
            sobject = found["attributes"]["type"] if found is not None else None
            answers = (self._lead_fields(want.intake)
                       if want.intake is not None and sobject in ("Lead", None) else {})
            if found is not None and by == "telegram id":
                self.known[uid] = Person(found["attributes"]["type"], found["Id"])
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
            self._store(sobject, self.writer.send(sobject, rows_), keys, result)
        for sobject, rows_ in creates.items():  # none of them was found: each is new
            self._store(sobject, self.writer.send(sobject, rows_, TG_ID,
                                                  auto_assign=self.assign_on_create),
                        keys, result)

    def wanted(self, events: Sequence[TicketEvent]) -> dict[int, _Wanted]:
        """The people the batch needs matched, by Telegram user id."""
        wanted: dict[int, _Wanted] = {}
        for e in events:
            if isinstance(e, TicketCustomerLinked):  # a manual ticket's caller, on Telegram
                if self._unsure(e.customer.telegram_user_id):
                    wanted.setdefault(e.customer.telegram_user_id,
                                      _Wanted(e.customer, e.event_id, e.phone))
                continue
            if not isinstance(e, TicketOpened) or e.customer is None:
                continue
            uid = e.customer.telegram_user_id
            if e.intake is not None:  # matched again: the Lead takes the newest answers
                wanted[uid] = _Wanted(e.customer, e.event_id, normalize_phone(e.intake.phone),
                                      e.intake)
            elif self._unsure(uid):
                wanted.setdefault(uid, _Wanted(e.customer, e.event_id))
        for e in events:
            if isinstance(e, CustomerMessageReceived):
                uid = e.sender.telegram_user_id
                if uid not in self.known and uid not in self._unmatched:
                    wanted.setdefault(uid, _Wanted(e.sender, e.event_id, look_only=True))
        if not wanted:
            return wanted
        for e in events:  # a phone shared anywhere in the batch helps matching
            for who in customers_of(e):
                if who.telegram_user_id in wanted and wanted[who.telegram_user_id].phone is None:
                    wanted[who.telegram_user_id].phone = normalize_phone(
                        getattr(who, "phone", None))
        return wanted

    def _unsure(self, uid: int) -> bool:
        """Whether a new ticket's customer needs matching: unknown, or known as a Lead (it
        may have been converted since)."""
        person = self.known.get(uid)
        return person is None or person.sobject == "Lead"

    def candidate_queries(self, wanted: list[_Wanted]) -> list[str]:
        """The queries finding the Contacts and Leads any of ``wanted`` may be."""
        soqls = []
        for chunk in chunks(wanted, QUERY_KEYS_MAX):
            ids = ",".join(soql_quote(str(w.customer.telegram_user_id)) for w in chunk)
            terms = [f"{TG_ID} IN ({ids})"]
            names = [w.customer.username for w in chunk if w.customer.username]
            if names:
                terms.append(f"{TG_USERNAME} IN ({','.join(soql_quote(n) for n in names)})")
            for phone in (w.phone for w in chunk if w.phone):
                terms += [f"Phone LIKE {soql_quote(phone_pattern(phone))}",
                          f"MobilePhone LIKE {soql_quote(phone_pattern(phone))}"]
            where = " OR ".join(terms)
            for sobject, extra in (("Contact", ""), ("Lead", ", IsConverted, ConvertedContactId")):
                soqls.append(f"SELECT Id, {TG_ID}, {TG_USERNAME}, Phone, MobilePhone{extra} "
                             f"FROM {sobject} WHERE {where} ORDER BY CreatedDate")
        return soqls

    def _candidates(self, wanted: list[_Wanted]) -> list[dict[str, Any]]:
        soqls = self.candidate_queries(wanted)
        return candidates_from(soqls, self.api.query_many(soqls))


    def _new_person(self, uid: int, want: _Wanted, sobject: str) -> dict[str, Any]:
        """A new Contact or Lead named as the module docstring says."""
        c = want.customer
        first, last = (c.first_name.strip(), (c.last_name or "").strip())
        fields: dict[str, Any] = {TG_ID: str(uid), TG_USERNAME: c.username}
        if first and last:
            fields.update(FirstName=first[:FIRST_NAME_MAX], LastName=last[:LAST_NAME_MAX])
        else:
            fields.update(FirstName=None, LastName=display_name(c)[:LAST_NAME_MAX])
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
        fields: dict[str, Any] = {"LastName": last[:LAST_NAME_MAX],
                                  "Company": intake.company[:255],
                                  "MobilePhone": intake.phone, LEAD_PRODUCT: intake.product,
                                  LEAD_REGION: intake.region,
                                  LEAD_DEAL_SIZE: float(intake.deal_size)}
        if first:
            fields["FirstName"] = first[:FIRST_NAME_MAX]
        if self.lead_source:
            fields["LeadSource"] = self.lead_source
        return fields

    def _store(self, sobject: str, answers: dict[str, dict[str, Any]], keys: dict[str, int],
               result: SyncResult) -> None:
        for event_id, answer in answers.items():
            if answer.get("success"):
                self.known[keys[event_id]] = Person(sobject, answer["id"])
                result.count(sobject)
            else:
                result.rejected.append((event_id, record_error(answer)[1]))


def customers_of(event: TicketEvent) -> list[Customer]:
    if isinstance(event, TicketOpened):
        return [event.customer] if event.customer is not None else []
    sender = getattr(event, "sender", None)
    return [sender] if isinstance(sender, Customer) else []


def _match(uid: int, want: _Wanted, rows: list[dict[str, Any]],
           claimed: set[str]) -> tuple[dict[str, Any] | None, str]:
    """The record ``uid`` is, and the key that found it: Telegram id, phone, username.
    ``rows`` hold Contacts before Leads, oldest first, so the first hit is preferred."""
    for row in rows:
        if str(row.get(TG_ID) or "") == str(uid) and not row.get(LAST_RESORT):
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
    for row in rows:  # a found Contact no key of its own matched, that uid's Lead became
        if row.get(LAST_RESORT) and str(row.get(TG_ID) or "") == str(uid) \
                and row["Id"] not in claimed:
            return row, "converted lead"
    return None, ""


def candidates_from(soqls: list[str], answers: list[list[dict[str, Any]]],
                    ) -> list[dict[str, Any]]:
    """Contacts, then the Contacts converted Leads became, then unconverted Leads (oldest
    first), from :meth:`People.candidate_queries`' answers; last, for a Contact found itself
    that holds no Telegram id, the converted Lead standing for it (:data:`LAST_RESORT`: its
    Telegram id finds the Contact when none of the Contact's own keys matched)."""
    contacts = [r for rows, s in zip(answers, soqls, strict=True) if " FROM Contact " in s
                for r in rows]
    leads = [r for rows, s in zip(answers, soqls, strict=True) if " FROM Lead " in s
             for r in rows]
    for row in contacts:
        row.setdefault("attributes", {})["type"] = "Contact"
    became, found_too = [], []
    seen = {c["Id"]: c for c in contacts}
    for row in leads:
        row.setdefault("attributes", {})["type"] = "Lead"
        contact = row.get("ConvertedContactId") if row.get("IsConverted") else None
        if contact:
            stand_in = {**row, "Id": contact, "attributes": {"type": "Contact"},
                        "converted_lead": row["Id"]}
            if contact not in seen:
                became.append(stand_in)
                seen[contact] = stand_in
            elif not seen[contact].get(TG_ID):  # found too (by its keys, or another's),
                found_too.append({**stand_in, LAST_RESORT: True})  # and nobody's yet
    unconverted = [r for r in leads if not r.get("IsConverted")]
    return contacts + became + unconverted + found_too
