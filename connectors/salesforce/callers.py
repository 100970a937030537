"""Manual tickets' callers in Salesforce: a Contact for the caller, and the Case's person.

A manual ticket (``streams.core.requests``) has no Telegram customer, but its
``ticket.requested`` may name the caller and their phone (E.164). With both, the caller is a
Contact (:class:`Callers`, which ``connectors.salesforce.case_writes`` runs before the Cases):
an existing Contact whose ``Phone`` or ``MobilePhone`` is that number
(:func:`~connectors.salesforce.people.same_phone`; the oldest wins), else a new one
(``LastName`` and ``FirstName`` split at the last space, ``MobilePhone``; no Telegram id).
Found again by phone after a retry, so a redelivered batch creates no second Contact. The
manual ticket's Case gets it as ``ContactId`` (:func:`caller_case_fields`).

When a Telegram customer shares that phone, ``ticket.customer_linked``
(``streams.core.phone_links``) names them: :class:`~connectors.salesforce.people.People`
matches or creates their person as for any customer (Telegram id, then phone: a caller's
Contact has the phone and no Telegram id, so the customer claims it), and the manual ticket's
Case gets that person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.salesforce.api import SalesforceApi, Writer, record_error, soql_quote
from connectors.salesforce.people import People, Person, phone_pattern, same_phone
from connectors.salesforce.results import SyncResult
from streams.schema.events import TicketCustomerLinked, TicketEvent, TicketRequested

LAST_NAME_MAX, FIRST_NAME_MAX = 80, 40


class Callers:
    """Finds or creates the Contact of each manual ticket's caller; remembers it
    (:attr:`known`, by ticket id)."""

    def __init__(self, api: SalesforceApi, writer: Writer) -> None:
        self.api, self.writer = api, writer
        self.known: dict[str, Person] = {}

    def sync(self, events: Sequence[TicketEvent], result: SyncResult) -> None:
        wanted = [e for e in events if isinstance(e, TicketRequested) and e.origin == "manual"
                  and e.customer_name and e.phone and e.ticket_id not in self.known]
        if not wanted:
            return
        soqls = [f"SELECT Id, Phone, MobilePhone FROM Contact WHERE Phone LIKE {p} OR "
                 f"MobilePhone LIKE {p} ORDER BY CreatedDate"
                 for p in (soql_quote(phone_pattern(e.phone or "")) for e in wanted)]
        creates: list[tuple[str, dict[str, Any]]] = []
        for e, rows in zip(wanted, self.api.query_many(soqls), strict=True):
            found = next((r for r in rows if same_phone(e.phone, r.get("MobilePhone"))
                          or same_phone(e.phone, r.get("Phone"))), None)
            if found is not None:
                self.known[e.ticket_id] = Person("Contact", found["Id"])
            else:
                creates.append((e.event_id, _contact(e.customer_name or "", e.phone or "")))
        tickets = {e.event_id: e.ticket_id for e in wanted}
        for key, answer in (self.writer.create("Contact", creates) if creates else {}).items():
            if answer.get("success"):
                self.known[tickets[key]] = Person("Contact", answer["id"])
                result.count("Contact")
            else:
                result.rejected.append((key, record_error(answer)[1]))


def caller_case_fields(e: TicketRequested | TicketCustomerLinked, people: People,
                       callers: Callers, lead_field: str) -> dict[str, Any]:
    """The Case fields of a manual ticket's ``ticket.requested`` (Origin ``Phone``, the
    caller in the Description, their Contact) or ``ticket.customer_linked`` (the customer's
    person); none for an outreach request."""
    if isinstance(e, TicketCustomerLinked):
        person = people.known.get(e.customer.telegram_user_id)
    elif e.origin == "manual":  # a call, a walk-in
        caller = ", ".join(p for p in (e.customer_name, e.phone) if p)
        fields: dict[str, Any] = {"Origin": "Phone",
                                  "Description": f"Caller: {caller}\n\n{e.note or ''}"}
        contact = callers.known.get(e.ticket_id)
        return {**fields, "ContactId": contact.id} if contact is not None else fields
    else:
        return {}
    if person is None:
        return {}
    return {"ContactId": person.id} if person.sobject == "Contact" else {lead_field: person.id}


def _contact(name: str, phone: str) -> dict[str, Any]:
    first, _, last = name.strip().rpartition(" ")
    return {"LastName": last[:LAST_NAME_MAX], "FirstName": first[:FIRST_NAME_MAX] or None,
            "MobilePhone": phone}
