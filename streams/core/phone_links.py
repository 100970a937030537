"""Linking a manual ticket to the Telegram customer whose phone it was recorded with (pure).

A manual ticket (``streams.core.requests``) has no Telegram customer, only the caller's phone
on its ``ticket.requested`` (E.164). A Telegram customer's phone is known once they share
their own contact (``streams.core.ticket``: ``Customer.phone``). The two meet in a *phone
directory*: one thread per number, ``0:phone:<E.164>``, in the manual tickets' partition
(chat 0), whose :class:`~streams.core.ticket.PhoneBook` holds the manual tickets recorded with
the number and not linked yet, and the customer who last shared it.

- A customer's message that shares their phone (in any chat) yields a
  :class:`~streams.schema.phone_links.PhoneShared` record (:func:`shared_phones`), which the
  worker sends to chat 0's partition. There :func:`link_phone` links every manual ticket
  waiting in the directory to that customer and remembers the customer.
- A manual ticket recorded with a phone the directory already knows a customer for is linked
  at once; else it waits in the directory (:func:`file_manual`).

Linking is one event on the manual ticket, ``ticket.customer_linked`` (the customer, the
phone, the Telegram ticket the phone was shared in); the ticket's customer is set from it, and
the Salesforce sync gives the ticket's Case that customer's Contact. A ticket is linked once:
the first customer to share the phone keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from streams.core.ticket import DecisionError, PhoneBook, ThreadState, initial_state
from streams.schema.events import (
    Actor,
    Customer,
    CustomerMessageReceived,
    SourceRef,
    TicketCustomerLinked,
    TicketEvent,
    TicketRequested,
)
from streams.schema.phone_links import PhoneShared
from streams.schema.ticket_requests import MANUAL_CHAT_ID

MANUAL_TICKET_PREFIX = f"tg:{MANUAL_CHAT_ID}:"


@dataclass(frozen=True)
class LinkCustomer:
    """Link the manual ``ticket_id`` to ``customer``, who shared ``phone`` as their own."""

    ticket_id: str
    customer: Customer
    phone: str
    from_ticket_id: str | None
    change_id: str
    at: datetime
    received_at: datetime


def phone_thread(phone: str) -> str:
    """The directory thread of a phone number (E.164)."""
    return f"{MANUAL_CHAT_ID}:phone:{phone}"


def directory(state: ThreadState | None, phone: str) -> ThreadState:
    """The directory thread of ``phone`` as stored, or a new one."""
    state = state or initial_state(phone_thread(phone))
    return state if state.phone_book is not None else replace(state, phone_book=PhoneBook())


def shared_phones(events: list[TicketEvent]) -> list[PhoneShared]:
    """The phones customers shared as their own in ``events`` (not in manual tickets)."""
    return [PhoneShared(phone=e.sender.phone, customer=e.sender, ticket_id=e.ticket_id,
                        event_id=e.event_id, at=e.occurred_at)
            for e in events if isinstance(e, CustomerMessageReceived)
            and e.sender.phone and not e.ticket_id.startswith(MANUAL_TICKET_PREFIX)]


def manual_phone(events: list[TicketEvent]) -> tuple[str, str] | None:
    """``(ticket_id, phone)`` of a manual ticket recorded with a phone in ``events``."""
    for e in events:
        if isinstance(e, TicketRequested) and e.origin == "manual" and e.phone:
            return e.ticket_id, e.phone
    return None


def decide_link(command: LinkCustomer, state: ThreadState) -> list[TicketEvent]:
    ticket = state.ticket(command.ticket_id)
    if ticket is None:
        raise DecisionError(f"customer link for unknown ticket {command.ticket_id}")
    if ticket.customer is not None:
        return []  # linked before: the first customer to share the phone keeps it
    seq = ticket.seq + 1
    return [TicketCustomerLinked(
        event_id=f"{ticket.ticket_id}#{seq}", ticket_id=ticket.ticket_id, seq=seq,
        occurred_at=command.at, recorded_at=command.received_at,
        source=SourceRef(kind="command", change_id=command.change_id),
        actor=Actor(kind="system", display_name="telecase phone match"),
        customer=command.customer, phone=command.phone, from_ticket_id=command.from_ticket_id)]


def link_phone(record: PhoneShared, book: ThreadState,
               received_at: datetime) -> tuple[ThreadState, list[LinkCustomer]]:
    """The directory after ``record``, and the links it asks for (every waiting ticket)."""
    assert book.phone_book is not None
    links = [LinkCustomer(ticket, record.customer, record.phone, record.ticket_id,
                          record.event_id, record.at, received_at)
             for ticket in book.phone_book.tickets]
    return replace(book, phone_book=PhoneBook(customer=record.customer)), links


def file_manual(ticket_id: str, phone: str, book: ThreadState, at: datetime,
                received_at: datetime) -> tuple[ThreadState, LinkCustomer | None]:
    """The directory after a manual ticket with ``phone`` was recorded, and the link to ask
    for when the directory already knows the phone's customer."""
    assert book.phone_book is not None
    known = book.phone_book.customer
    if known is not None:
        return book, LinkCustomer(ticket_id, known, phone, None, f"{ticket_id}/phone", at,
                                  received_at)
    if ticket_id in book.phone_book.tickets:
        return book, None
    return replace(book, phone_book=replace(
        book.phone_book, tickets=(*book.phone_book.tickets, ticket_id))), None


__all__ = ["LinkCustomer", "decide_link", "directory", "file_manual", "link_phone",
           "manual_phone", "phone_thread", "shared_phones"]
