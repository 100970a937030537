"""Tickets a person opens: outreach and manual tickets, as a Decider (pure).

A :class:`~streams.schema.ticket_requests.TicketRequest` (``ticket.commands``) becomes
:class:`OpenRequestedTicket`, decided by :func:`decide_request` against the state of the
thread :func:`request_thread` names:

- **Outreach in a forum topic** (``thread_id`` set): the ticket is the topic's,
  ``tg:<chat>:t<thread>``, exactly as if a customer had opened the topic, so the customer's
  answers in it continue it. The requester opened the topic; the bot's creation message opens
  no ticket of its own (``streams.core.ticket``), so whichever of the two the worker sees first,
  there is one ticket, with the requested customer.
- **Outreach in a private chat** (``chat_id == customer_id``): the chat's open ticket when it
  has one, else its next one (``tg:<chat>:p:<n>``); the customer's answer continues it.
- **Manual** (``chat_id`` 0): a ticket of its own, ``tg:0:m<request id>:1``, channel
  ``manual``, no Telegram customer. It is routed, assigned, timed and synced like any other
  ticket. Its ``ticket.requested`` carries the caller's phone in E.164 (as typed when it is
  not a phone number); a Telegram customer who shares that phone as their own is linked to
  it (``streams.core.phone_links``).

A new ticket gets ``ticket.opened``, then ``ticket.requested`` (who, which origin, the
manual details), then, for outreach with a message, ``agent.replied`` with
``via="outreach"``, which the reply mirror sends (paced, ledgered). Outreach is
``outbound``: the SLA clocks wait for the customer's first answer. A request whose id the
thread has taken in before decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streams.core.phones import e164
from streams.core.ticket import SUBJECT_MAX, DecisionError, ThreadState, TicketState, evolve_ticket
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    Channel,
    Customer,
    SourceRef,
    TicketEvent,
    TicketOpened,
    TicketRequested,
)
from streams.schema.ticket_requests import MANUAL_CHAT_ID, TicketRequest


@dataclass(frozen=True)
class OpenRequestedTicket:
    """Open (or, for outreach, continue) the ticket a person asked for."""

    request: TicketRequest
    received_at: datetime
    phone_region: str | None = None
    """The region of a caller's phone without a country code (``streams.core.phones``)."""


def request_thread(request: TicketRequest) -> str:
    """The thread key the request is decided in."""
    if request.mode == "manual":
        return f"{MANUAL_CHAT_ID}:m{request.request_id}"
    if request.thread_id is not None:
        return f"{request.chat_id}:t{request.thread_id}"
    if request.customer_id is None or request.chat_id != request.customer_id:
        raise DecisionError(f"outreach request {request.request_id}: without a topic, the chat "
                            "must be the customer's private chat")
    return f"{request.chat_id}:p"


def decide_request(command: OpenRequestedTicket, state: ThreadState) -> list[TicketEvent]:
    request = command.request
    _check(request)
    if any(request.request_id in t.requests for t in state.tickets):
        return []
    ticket = _continued(request, state)
    events: list[TicketEvent] = []
    if ticket is None:
        opened = _opened(command, state)
        events.append(opened)
        ticket = evolve_ticket(None, opened)
    seq = ticket.seq
    envelope = _envelope(command, ticket.ticket_id)
    seq += 1
    events.append(TicketRequested(
        **envelope, event_id=f"{ticket.ticket_id}#{seq}", seq=seq,
        request_id=request.request_id, origin=request.origin,
        direction="inbound" if request.mode == "manual" else "outbound",
        requested_by=request.requested_by, customer_name=request.customer_name,
        phone=e164(request.phone, command.phone_region) or request.phone, note=request.note,
        case_id=request.case_id))
    if request.mode == "outreach" and request.message.strip():
        seq += 1
        events.append(AgentReplied(
            **envelope, event_id=f"{ticket.ticket_id}#{seq}", seq=seq, via="outreach",
            chat_id=ticket.chat_id, thread_id=ticket.thread_id,
            agent=Agent(display_name=request.requested_by), text=request.message))
    return events


def _check(request: TicketRequest) -> None:
    if request.mode == "manual":
        if request.chat_id != MANUAL_CHAT_ID:
            raise DecisionError(f"manual request {request.request_id} names chat "
                                f"{request.chat_id}")
        if not (request.customer_name or request.phone):
            raise DecisionError(f"manual request {request.request_id}: no customer name or "
                                "phone")
    elif request.customer_id is None:
        raise DecisionError(f"outreach request {request.request_id}: no customer")


def _continued(request: TicketRequest, state: ThreadState) -> TicketState | None:
    """The ticket an outreach request continues: the topic's ticket (a customer wrote there
    before the request was decided), or the private chat's open ticket."""
    current = state.current
    if request.mode == "manual" or current is None:
        return None
    if request.thread_id is not None or current.status == "open":
        return current
    return None


def _opened(command: OpenRequestedTicket, state: ThreadState) -> TicketOpened:
    request = command.request
    channel: Channel
    if request.mode == "manual":
        channel, ticket_id = "manual", f"tg:{MANUAL_CHAT_ID}:m{request.request_id}:1"
    elif request.thread_id is not None:
        channel, ticket_id = "forum_topic", f"tg:{request.chat_id}:t{request.thread_id}"
    else:
        channel = "private_chat"
        ticket_id = f"tg:{request.chat_id}:p:{len(state.tickets) + 1}"
    customer = None if request.customer_id is None else Customer(
        telegram_user_id=request.customer_id, username=request.customer_username,
        first_name=request.customer_name or "")
    subject = (request.subject or _default_subject(request)).strip()[:SUBJECT_MAX]
    return TicketOpened(
        **_envelope(command, ticket_id), event_id=f"{ticket_id}#1", seq=1, channel=channel,
        chat_id=request.chat_id, thread_id=request.thread_id, thread_key=state.thread_key,
        subject=subject, subject_message_id=request.thread_id or 0, customer=customer,
        customer_message_id=0)


def _default_subject(request: TicketRequest) -> str:
    who = request.customer_name or request.phone or (
        f"@{request.customer_username}" if request.customer_username
        else str(request.customer_id))
    return f"Manual ticket: {who}" if request.mode == "manual" else f"Outreach to {who}"


def _envelope(command: OpenRequestedTicket, ticket_id: str) -> dict[str, object]:
    request = command.request
    return {"ticket_id": ticket_id, "occurred_at": request.at,
            "recorded_at": command.received_at,
            "source": SourceRef(kind="command", chat_id=request.chat_id or None,
                                change_id=request.request_id),
            "actor": Actor(kind="agent", id=request.requested_by,
                           display_name=request.requested_by)}


__all__ = ["OpenRequestedTicket", "decide_request", "request_thread"]
