"""The pure ticket core: routing by the Bot API's forum rules, decide and evolve."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.core.routing import Routed, Skipped, route
from streams.core.ticket import (
    CloseTicket,
    DecisionError,
    ReceiveTelegramMessage,
    ThreadState,
    decide,
    fold,
    initial_state,
    replaced,
)
from streams.schema.events import Actor, TicketEvent, decode_event, encode_event
from streams.schema.telegram import Update
from tests.telegram_factory import BOT, BOT_ID, Script, forum, private, user

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANN, BOB = user(11, "Ann", "ann"), user(12, "Bob")


def feed(raw: list[dict[str, Any]], states: dict[str, ThreadState] | None = None,
         agents: frozenset[int] = frozenset(),
         ) -> tuple[dict[str, ThreadState], list[TicketEvent], list[str]]:
    states = {} if states is None else states
    log: list[TicketEvent] = []
    skipped: list[str] = []
    for item in raw:
        routed = route(Update.model_validate(item), BOT_ID, agents)
        if isinstance(routed, Skipped):
            skipped.append(routed.reason)
            continue
        state = states.get(routed.thread_key) or initial_state(routed.thread_key)
        events = decide(ReceiveTelegramMessage(item["update_id"], routed, NOW), state)
        states[routed.thread_key] = fold(events, state)
        log.extend(events)
    return states, log, skipped


def test_topic_creation_then_message_opens_one_ticket_with_topic_name() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing for 50 seats", 100)
    thread = created["message"]["message_id"]
    states, log, _ = feed([created, s.write(ANN, "Hi, what does it cost?", 105, thread)])
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received"]
    ticket = states[f"{forum()['id']}:t{thread}"].tickets[0]
    assert ticket.ticket_id == f"tg:{forum()['id']}:t{thread}"
    assert ticket.subject == "Pricing for 50 seats"
    assert ticket.customer is not None and ticket.customer.telegram_user_id == 11
    assert ticket.message_count == 1
    assert [e.seq for e in log] == [1, 2]


def test_implicit_reply_to_creation_is_not_a_customer_reply() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Demo", 100)
    thread = created["message"]["message_id"]
    first = s.write(ANN, "hello", 101, thread)
    explicit = s.write(BOB, "re", 102, thread)
    explicit["message"]["reply_to_message"] = first["message"]
    _, log, _ = feed([first, explicit])
    received = [e for e in log if e.type == "customer.message_received"]
    assert received[0].reply_to_message_id is None  # type: ignore[union-attr]
    assert received[1].reply_to_message_id == first["message"]["message_id"]  # type: ignore[union-attr]
    # the subject came from the implicit reply, before the creation message itself arrived
    assert log[0].subject == "Demo"  # type: ignore[union-attr]


def test_general_topic_gives_each_customer_their_own_ticket() -> None:
    s = Script(forum())
    states, log, _ = feed([s.write(ANN, "Anyone here?", 100), s.write(BOB, "Price?", 101),
                           s.write(ANN, "Hello?", 102)])
    opened = [e for e in log if e.type == "ticket.opened"]
    assert {e.ticket_id for e in opened} == {f"tg:{forum()['id']}:g11:1",
                                              f"tg:{forum()['id']}:g12:1"}
    assert all(e.channel == "general_topic" for e in opened)  # type: ignore[union-attr]
    assert states[f"{forum()['id']}:g11"].tickets[0].message_count == 2


def test_duplicate_update_and_duplicate_message_yield_nothing() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Q", 100)
    msg = s.write(ANN, "x", 101, created["message"]["message_id"])
    again = dict(msg, update_id=msg["update_id"] + 500)  # same message, new update id
    _, log, _ = feed([created, msg, msg, created, again])
    assert len(log) == 2


def test_edits_keep_the_newest_version_and_stale_edits_are_dropped() -> None:
    s = Script(private(11))
    original = s.write(ANN, "v1", 100)
    e1, e2 = s.edit(original, "v2", 110), s.edit(original, "v3", 120)
    _, log, _ = feed([original, e2, e1])
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received",
                                     "customer.message_edited"]
    assert log[-1].text == "v3"  # type: ignore[union-attr]


def test_edit_before_original_records_the_message_once() -> None:
    s = Script(private(11))
    original = s.write(ANN, "v1", 100)
    edited = s.edit(original, "v2", 110)
    states, log, _ = feed([edited, original])
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received"]
    assert states["11:p"].tickets[0].messages == {original["message"]["message_id"]: 110}


def test_private_chat_opens_a_new_ticket_after_close() -> None:
    s = Script(private(11))
    states, log, _ = feed([s.write(ANN, "first inquiry", 100)])
    state = states["11:p"]
    ticket_id = state.tickets[0].ticket_id
    closing = decide(CloseTicket(ticket_id, "resolved", NOW, Actor(kind="agent", id="a1")), state)
    states["11:p"] = fold(closing, state)
    assert decide(CloseTicket(ticket_id, "again", NOW, Actor(kind="agent")), states["11:p"]) == []
    states, log, _ = feed([s.write(ANN, "second inquiry", 200)], states)
    assert [t.ticket_id for t in states["11:p"].tickets] == ["tg:11:p:1", "tg:11:p:2"]
    assert states["11:p"].current is not None and states["11:p"].current.status == "open"
    assert log[0].subject == "@ann: second inquiry"  # type: ignore[union-attr]


def test_closing_an_unknown_ticket_raises() -> None:
    with pytest.raises(DecisionError):
        decide(CloseTicket("tg:1:p:9", "x", NOW, Actor(kind="system")), initial_state("1:p"))


def test_topic_close_reopen_rename_follow_message_order() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Old", 100)
    t = created["message"]["message_id"]
    closed = s.service(ANN, t, 101, "forum_topic_closed")
    reopened = s.service(ANN, t, 102, "forum_topic_reopened")
    renamed = s.service(ANN, t, 103, "forum_topic_edited", "New")
    states, _, _ = feed([created, reopened, renamed, closed])  # closed arrives late: stale
    ticket = states[f"{forum()['id']}:t{t}"].tickets[0]
    assert (ticket.status, ticket.subject) == ("open", "New")


def test_bot_receives_its_own_forum_service_messages_as_bot_actions() -> None:
    s = Script(forum())
    created = s.create_topic(BOT, "Lead: ACME", 100)
    t = created["message"]["message_id"]
    closed = s.service(BOT, t, 101, "forum_topic_closed")
    states, log, skipped = feed([created, closed, s.write(BOT, "bot reply", 102, t)])
    assert skipped == ["sender_is_bot"]  # its own ordinary message: never customer input
    assert [(e.type, e.actor.kind) for e in log] == [("ticket.opened", "bot"),
                                                     ("topic.closed", "bot")]
    assert all(e.type != "customer.message_received" for e in log)
    assert states[f"{forum()['id']}:t{t}"].tickets[0].customer is None


@pytest.mark.parametrize(("raw", "reason"), [
    ({"update_id": 1, "callback_query": {"id": "1", "from": user(1), "chat_instance": "x"}},
     "update_type:callback_query"),
    ({"update_id": 2, "message": {"message_id": 5, "date": 1, "message_thread_id": 4,
                                  "chat": {"id": -1009, "type": "supergroup"},
                                  "from": user(1), "text": "comment"}}, "not_a_forum"),
    ({"update_id": 3, "message": {"message_id": 5, "date": 1,
                                  "chat": {"id": -1009, "type": "channel"}, "text": "post"}},
     "no_sender"),
    ({"update_id": 4, "message": {"message_id": 5, "date": 1, "chat": forum(),
                                  "from": {"id": 9, "is_bot": True, "first_name": "Other"},
                                  "text": "spam"}}, "sender_is_bot"),
])
def test_updates_that_are_not_tickets_are_skipped_with_a_reason(raw: dict[str, Any],
                                                                 reason: str) -> None:
    assert route(Update.model_validate(raw), BOT_ID) == Skipped(reason)


def test_events_round_trip_through_the_log_encoding() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Q", 100)
    _, log, _ = feed([created, s.write(ANN, "hi", 101, created["message"]["message_id"])])
    assert [decode_event(encode_event(e)) for e in log] == log


def test_route_gives_forum_topic_thread_from_service_creation() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Q", 100)
    routed = route(Update.model_validate(created), BOT_ID)
    assert isinstance(routed, Routed) and routed.service == "created"
    assert routed.thread_id == created["message"]["message_id"]


AGENT = user(90, "Alex", "alex_sales")
ROSTER = frozenset({90})


def test_a_rostered_agent_in_a_topic_is_an_agent_reply_not_a_customer_message() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing", 100)
    t = created["message"]["message_id"]
    question = s.write(ANN, "How much?", 110, t)
    answer = s.write(AGENT, "49 EUR per seat", 170, t)
    states, log, _ = feed([created, question, answer, answer, s.edit(answer, "48", 175)],
                          agents=ROSTER)
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received",
                                     "agent.replied"]
    reply = log[-1]
    assert reply.actor.kind == "agent" and reply.agent.telegram_user_id == 90  # type: ignore[union-attr]
    ticket = states[f"{forum()['id']}:t{t}"].tickets[0]
    assert ticket.message_count == 1 and ticket.customer is not None
    assert ticket.customer.telegram_user_id == 11
    assert ticket.first_response_at == datetime.fromtimestamp(170, UTC)


def test_a_topic_an_agent_opened_has_no_agent_as_customer() -> None:
    s = Script(forum())
    created = s.create_topic(AGENT, "Follow-up ACME", 100)
    t = created["message"]["message_id"]
    states, _, _ = feed([created, s.write(AGENT, "Hi Ann", 101, t),
                         s.write(ANN, "Hello", 102, t)], agents=ROSTER)
    ticket = states[f"{forum()['id']}:t{t}"].tickets[0]
    assert ticket.customer is not None and ticket.customer.telegram_user_id == 11


def test_in_general_an_agent_reply_joins_the_customer_it_answers() -> None:
    s = Script(forum())
    question = s.write(BOB, "Price?", 100)
    answer = s.write(AGENT, "Sent you a DM", 101)
    answer["message"]["reply_to_message"] = question["message"]
    loose = s.write(AGENT, "Good morning all", 102)
    _, log, skipped = feed([question, answer, loose], agents=ROSTER)
    assert skipped == ["agent_in_general_without_customer"]
    assert [(e.ticket_id, e.type) for e in log] == [
        (f"tg:{forum()['id']}:g12:1", "ticket.opened"),
        (f"tg:{forum()['id']}:g12:1", "customer.message_received"),
        (f"tg:{forum()['id']}:g12:1", "agent.replied")]


def test_an_agent_writing_to_the_bot_privately_opens_nothing() -> None:
    s = Script(private(90))
    assert route(Update.model_validate(s.write(AGENT, "test", 1)), BOT_ID, ROSTER) == Skipped(
        "agent_private_chat")


def test_a_customer_sharing_their_own_contact_gives_their_phone() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Call me", 100)
    t = created["message"]["message_id"]
    own = s.write(ANN, "", 101, t)
    del own["message"]["text"]
    own["message"]["contact"] = {"phone_number": "+44 20 7946 0000", "first_name": "Ann",
                                 "user_id": 11}
    other = s.write(ANN, "", 102, t)
    del other["message"]["text"]
    other["message"]["contact"] = {"phone_number": "+1 555 0100", "first_name": "Bob",
                                   "user_id": 12}
    _, log, _ = feed([created, own, other])
    received = [e for e in log if e.type == "customer.message_received"]
    assert [(e.content_kind, e.sender.phone) for e in received] == [
        ("contact", "+442079460000"), ("contact", None)]  # E.164 (issue 16)


def test_a_state_is_replaced_field_by_field_and_an_unknown_field_is_refused() -> None:
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing", 100)
    states, _, _ = feed([created, s.write(ANN, "hi", 101, created["message"]["message_id"])])
    (state,) = states.values()
    ticket = state.tickets[0]
    again = replaced(ticket, {"seq": ticket.seq + 1, "status": "closed"})
    assert again == dataclasses.replace(ticket, seq=ticket.seq + 1, status="closed")
    assert replaced(state, {"recent_updates": ()}) == dataclasses.replace(state,
                                                                           recent_updates=())
    with pytest.raises(TypeError, match=r"TicketState has no field \['colour'\]"):
        replaced(ticket, {"seq": 1, "colour": "red"})
