"""The worker's side of linking manual tickets to Telegram customers by phone
(``streams.core.phone_links`` decides; this module reads and stores the threads involved).

Three steps, each called with one line from :class:`~streams.runtime.fold.UpdateFolder`:

- :func:`phone_forwards`: the events of a message that shared a customer's own phone become a
  :class:`~streams.schema.phone_links.PhoneShared` record for ``ticket.commands``, keyed
  ``chat:0`` (the manual tickets' partition);
- :func:`fold_phone_shared`: that record links the manual tickets waiting in the phone's
  directory thread, and the directory remembers the customer;
- :func:`file_manual_ticket`: a manual ticket just recorded with a phone goes into the
  directory, or is linked at once when the directory knows the phone's customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from streams.core.phone_links import (
    LinkCustomer,
    decide_link,
    directory,
    file_manual,
    link_phone,
    manual_phone,
    phone_thread,
    shared_phones,
)
from streams.core.ticket import DecisionError, ThreadState, fold, thread_key_of
from streams.runtime.bus import Outgoing
from streams.schema.events import TicketEvent
from streams.schema.phone_links import PhoneShared

Store = Callable[[str], ThreadState | None]
Decided = tuple[list[TicketEvent], ThreadState | None, tuple[ThreadState, ...]]
"""The events, the thread's new state and further states to store (as ``Folded`` has them)."""


def phone_forwards(events: list[TicketEvent]) -> tuple[Outgoing, ...]:
    return tuple(Outgoing(r.routing_key().encode(), r.to_bytes())
                 for r in shared_phones(events))


def fold_phone_shared(record: PhoneShared, get: Store, received_at: datetime) -> Decided:
    book, links = link_phone(record, directory(get(phone_thread(record.phone)), record.phone),
                             received_at)
    events: list[TicketEvent] = []
    states: dict[str, ThreadState] = {}
    for link in links:
        key = thread_key_of(link.ticket_id)
        decided, state = _link(link, states.get(key) or get(key))
        events += decided
        states[key] = state
    return events, book, tuple(states.values())


def file_manual_ticket(decided: Decided, get: Store, received_at: datetime) -> Decided:
    """``decided``: a manual request just decided (its events and its thread's state)."""
    events, thread, others = decided
    recorded = manual_phone(events)
    if recorded is None or thread is None:
        return decided
    ticket_id, phone = recorded
    book, link = file_manual(ticket_id, phone, directory(get(phone_thread(phone)), phone),
                             events[0].occurred_at, received_at)
    if link is None:
        return events, thread, (*others, book)
    linked, state = _link(link, thread)
    return [*events, *linked], state, (*others, book)


def _link(link: LinkCustomer, state: ThreadState | None) -> tuple[list[TicketEvent],
                                                                 ThreadState]:
    if state is None:
        raise DecisionError(f"customer link for unknown ticket {link.ticket_id}")
    events = decide_link(link, state)
    return events, fold(events, state)
