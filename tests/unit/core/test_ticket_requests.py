"""Tickets a person opens (``streams.core.requests``): outreach in a forum topic or a private
chat, and manual tickets. Folded through the worker's ``UpdateFolder``, so the records travel
as they do in ``ticket.commands`` and ``telegram.updates``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.requests import OpenRequestedTicket, decide_request, request_thread
from streams.core.ticket import DecisionError, ThreadState, initial_state
from streams.runtime.fold import Position, UpdateFolder
from streams.schema.commands import Tick
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import AgentReplied, TicketEvent, TicketOpened, TicketRequested
from streams.schema.ticket_requests import TicketRequest
from tests.telegram_factory import BOT, BOT_ID, Script, forum, private, user
from tests.unit.core.test_service_level import POLICY

T0 = 1_780_000_000
AT = datetime.fromtimestamp(T0, UTC)
ANN = user(501, "Ann", "ann")
CHAT = forum()["id"]


class Store(dict[str, ThreadState]):
    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return list(self)


def run(records: list[bytes], folder: UpdateFolder | None = None,
        store: Store | None = None) -> tuple[Store, list[TicketEvent]]:
    folder = folder or UpdateFolder()
    store = Store() if store is None else store
    log: list[TicketEvent] = []
    for payload in records:
        folded = folder.fold(payload, store, Position("ticket.commands", 0, 0, None), AT)
        assert folded.dead_letter is None, folded.dead_letter
        for state in folded.states:
            store[state.thread_key] = state
        log.extend(folded.events)
    return store, log


def raw(update: dict[str, Any]) -> bytes:
    return RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=AT,
                             update=update).to_bytes()


def outreach(thread: int | None, request_id: str = "req-1", **fields: Any) -> TicketRequest:
    chat = CHAT if thread is not None else ANN["id"]
    return TicketRequest(request_id=request_id, mode="outreach", chat_id=chat,
                         thread_id=thread, customer_id=ANN["id"], subject="Renewal offer",
                         message="Hi Ann, your plan renews next month.", requested_by="maria",
                         at=AT + timedelta(seconds=5), **fields)


def manual(request_id: str = "req-m1") -> TicketRequest:
    return TicketRequest(request_id=request_id, mode="manual", origin="manual",
                         customer_name="Carl Caller", phone="+15550001", note="Called about "
                         "an invoice", requested_by="maria", at=AT)


def topic_records() -> tuple[dict[str, bytes], int]:
    s = Script(forum())
    created = s.create_topic(BOT, "Renewal offer", T0)
    thread = created["message"]["message_id"]
    return {"request": outreach(thread).to_bytes(), "created": raw(created),
            "answer": raw(s.write(ANN, "Thanks, tell me more", T0 + 60, thread))}, thread


@given(st.permutations(["request", "created", "answer"]), st.booleans())
def test_outreach_in_a_topic_is_one_ticket_whatever_arrives_first(
        order: list[str], again: bool) -> None:
    """The request, the bot's creation message and the customer's answer in any order (the
    request delivered twice, too): one ticket, the topic's, with the requested customer, the
    agent's first message once and the answer on it; the bot's topic opens no ticket."""
    records, thread = topic_records()
    sequence = [records[k] for k in order] + ([records["request"]] if again else [])
    store, log = run(sequence)
    ticket_id = f"tg:{CHAT}:t{thread}"
    assert {e.ticket_id for e in log} == {ticket_id}
    types = sorted(e.type for e in log)
    assert types.count("ticket.opened") == 1 and types.count("ticket.requested") == 1
    assert "customer.message_received" in types
    state = store[f"{CHAT}:t{thread}"]
    assert len(state.tickets) == 1
    ticket = state.tickets[0]
    assert ticket.customer is not None and ticket.customer.telegram_user_id == ANN["id"]
    assert ticket.origin == "agent" and ticket.outbound and ticket.requests == {"req-1"}
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    if order.index("request") < order.index("answer"):
        replies = [e for e in log if isinstance(e, AgentReplied)]
        assert [(r.via, r.chat_id, r.thread_id) for r in replies] == [
            ("outreach", CHAT, thread)]
        assert replies[0].sent_by_telecase


def test_the_bots_own_topic_alone_opens_no_ticket() -> None:
    records, _ = topic_records()
    store, log = run([records["created"]])
    assert log == [] and not any(s.tickets for s in store.values())


def test_outreach_in_a_private_chat_opens_the_next_ticket_and_the_answer_continues_it() -> None:
    s = Script(private(ANN["id"]))
    store, log = run([outreach(None).to_bytes(), raw(s.write(ANN, "Yes please", T0 + 60))])
    state = store[f"{ANN['id']}:p"]
    assert [t.ticket_id for t in state.tickets] == [f"tg:{ANN['id']}:p:1"]
    assert [e.type for e in log] == ["ticket.opened", "ticket.requested", "agent.replied",
                                     "customer.message_received"]
    opened = log[0]
    assert isinstance(opened, TicketOpened) and opened.channel == "private_chat"
    assert opened.subject == "Renewal offer"


def test_outbound_sla_clocks_start_at_the_customers_answer() -> None:
    """No first-response clock until the customer answers: ticks before the answer fire
    nothing, not even the forum's start grace; the clocks then run from the answer."""
    records, thread = topic_records()
    folder = UpdateFolder(sla_policy=POLICY)
    store, log = run([records["created"], records["request"]], folder)
    assert not any(e.type.startswith("sla.") for e in log)
    late = Tick(partition=0, at=AT + timedelta(hours=3)).to_bytes()
    store, log = run([late], folder, store)
    assert log == []
    s = Script(forum())
    s.creations[thread] = {"message_id": thread, "date": T0, "chat": forum(), "from": BOT,
                           "forum_topic_created": {"name": "Renewal offer", "icon_color": 1},
                           "message_thread_id": thread, "is_topic_message": True}
    s._mid = iter(range(thread + 5, thread + 99))
    answer_at = T0 + 4 * 3600
    store, log = run([raw(s.write(ANN, "Tell me more", answer_at, thread))], folder, store)
    started = [e for e in log if e.type == "sla.started"]
    assert len(started) == 1
    ticket = store[f"{CHAT}:t{thread}"].tickets[0]
    assert ticket.sla is not None
    assert ticket.sla.next_at is not None
    assert ticket.sla.next_at > datetime.fromtimestamp(answer_at, UTC)  # not breached at once


def test_a_manual_ticket_is_opened_once_with_its_details() -> None:
    folder = UpdateFolder(sla_policy=POLICY)
    store, log = run([manual().to_bytes(), manual().to_bytes()], folder)
    assert [e.type for e in log if not e.type.startswith("sla.")] == [
        "ticket.opened", "ticket.requested"]
    opened, requested = log[0], log[1]
    assert isinstance(opened, TicketOpened) and isinstance(requested, TicketRequested)
    assert opened.ticket_id == "tg:0:mreq-m1:1" and opened.channel == "manual"
    assert opened.customer is None and opened.subject == "Manual ticket: Carl Caller"
    assert (requested.origin, requested.direction, requested.phone) == (
        "manual", "inbound", "+15550001")
    assert "sla.started" in [e.type for e in log]  # timed like any other ticket
    assert store[request_thread(manual())].tickets[0].origin == "manual"


def test_requests_the_core_cannot_decide_raise() -> None:
    with pytest.raises(DecisionError):
        decide_request(OpenRequestedTicket(manual().model_copy(update={"customer_name": None,
                                                                       "phone": None}), AT),
                       initial_state("0:mx"))
    with pytest.raises(DecisionError):
        request_thread(outreach(None).model_copy(update={"chat_id": CHAT}))


def test_a_bad_request_is_dead_lettered() -> None:
    folded = UpdateFolder().fold(b'{"kind": "telecase.ticket_request", "mode": "nope"}',
                                 Store(), Position("ticket.commands", 0, 3, None), AT)
    assert folded.dead_letter is not None
    assert folded.dead_letter.reason == "invalid_ticket_request"
