"""Tickets the Case sync holds back until they have a customer (issue 16 item 5).

A topic that an agent, an anonymous administrator or the bot opens in the forum is a ticket
whose ``ticket.opened`` names no customer: nobody has written from the customer's side yet.
Writing it would make a Case with no Contact or Lead, so the sync holds such a ticket's events
(in memory, in order) until its first ``customer.message_received``; then the held events go
out ahead of it, the opening carrying that message's sender as the customer, so the person,
the Case and its messages are written together. Manual tickets (channel ``manual``) have a
caller instead of a customer and are never held.

The hold lives in memory, and it is rebuilt after a restart with no operator step: the
sync's position moved past the held events (nothing was refused), so a restarted sync would
see the ticket's first customer message with no Case to write it on. The sync runner
(:mod:`connectors.salesforce.sync_runner`) therefore looks, before a batch, for the tickets
it writes events of that neither open in the batch, nor are held, nor have a Case in
Salesforce (one query, only for tickets it has not seen since it started); for those it reads
their earlier events from the log (:func:`connectors.salesforce.resync.history`) and
:meth:`CustomerHold.restore` holds again the ones still waiting for a customer. Cost: nothing
while the sync runs; after a restart, one Case query per batch naming tickets not seen yet,
and one read of the partition up to the batch for the tickets with no Case (each ticket is
looked up once).
"""

from __future__ import annotations

from collections.abc import Sequence

from streams.schema.events import CustomerMessageReceived, TicketEvent, TicketOpened

TELEGRAM_CHANNELS = frozenset({"forum_topic", "general_topic", "private_chat"})


def waits_for_customer(event: TicketEvent) -> bool:
    """A Telegram ticket's opening that names no customer."""
    return (isinstance(event, TicketOpened) and event.customer is None
            and event.channel in TELEGRAM_CHANNELS)


class CustomerHold:
    """The held tickets' events, per ticket id, oldest first."""

    def __init__(self) -> None:
        self.held: dict[str, list[TicketEvent]] = {}

    def take(self, events: Sequence[TicketEvent]) -> list[TicketEvent]:
        """The events to write now: a held ticket's are kept back until a customer message,
        then released ahead of it with the opening naming the message's sender."""
        out: list[TicketEvent] = []
        for event in events:
            if waits_for_customer(event):
                self.held.setdefault(event.ticket_id, []).append(event)
                continue
            waiting = self.held.get(event.ticket_id)
            if waiting is None:
                out.append(event)
            elif isinstance(event, CustomerMessageReceived):
                del self.held[event.ticket_id]
                out.extend(_named(e, event) for e in waiting)
                out.append(event)
            else:
                waiting.append(event)
        return out

    def restore(self, history: Sequence[TicketEvent]) -> set[str]:
        """Hold again the tickets of ``history`` (their earlier events, oldest first, as the
        log holds them) that still wait for a customer at its end; their ids."""
        replay = CustomerHold()
        replay.take(history)
        for ticket, events in replay.held.items():
            self.held.setdefault(ticket, events)
        return set(replay.held)


def _named(event: TicketEvent, first: CustomerMessageReceived) -> TicketEvent:
    if isinstance(event, TicketOpened) and event.customer is None:
        return event.model_copy(update={"customer": first.sender,
                                        "customer_message_id": first.message_id})
    return event
