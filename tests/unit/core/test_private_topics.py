"""Private chats in topic mode (Bot API 9.3, issue 16 item 8): a bot whose private chats have
topics gets ``message_thread_id`` and ``is_topic_message`` on private messages; each private
topic is its own ticket ``tg:<chat>:pt<thread>``, in any order of its updates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.intake import wants_form
from streams.core.routing import Routed, route
from streams.core.ticket import ReceiveTelegramMessage, ThreadState, TicketState, initial_state
from streams.schema.telegram import Update
from tests.telegram_factory import BOT, BOT_ID, Script, private, user
from tests.unit.core.test_intake_thread import RULES
from tests.unit.core.test_ticket_core import NOW, feed

ANN = user(501, "Ann", "ann")
CHAT = private(501)


def test_each_private_topic_is_its_own_ticket_and_the_plain_chat_stays_one() -> None:
    s = Script(CHAT)
    billing = s.create_topic(ANN, "Billing", 100)
    setup = s.create_topic(ANN, "Setup", 101)
    b, t = billing["message"]["message_id"], setup["message"]["message_id"]
    states, log, skipped = feed([billing, setup, s.write(ANN, "Invoice?", 102, b),
                                 s.write(ANN, "Install?", 103, t), s.write(ANN, "Hi", 104)])
    assert skipped == []
    assert sorted(states) == sorted([f"501:pt{b}", f"501:pt{t}", "501:p"])
    assert [tk.ticket_id for st_ in states.values() for tk in st_.tickets] == [
        f"tg:501:pt{b}", f"tg:501:pt{t}", "tg:501:p:1"]
    topic = states[f"501:pt{b}"].tickets[0]
    assert (topic.subject, topic.thread_id, topic.channel) == ("Billing", b, "private_chat")
    assert topic.customer is not None and topic.customer.telegram_user_id == 501
    assert topic.message_count == 1
    assert [e.type for e in log if e.ticket_id == f"tg:501:pt{b}"] == [
        "ticket.opened", "customer.message_received"]


def test_a_closed_private_topic_keeps_its_one_ticket() -> None:
    s = Script(CHAT)
    created = s.create_topic(ANN, "Billing", 100)
    thread = created["message"]["message_id"]
    states, _, _ = feed([created, s.write(ANN, "one", 101, thread),
                         s.service(ANN, thread, 102, "forum_topic_closed"),
                         s.write(ANN, "two", 103, thread)])
    [ticket] = states[f"501:pt{thread}"].tickets
    assert ticket.ticket_id == f"tg:501:pt{thread}" and ticket.message_count == 2


def test_the_bots_own_private_topic_opens_no_ticket_until_the_customer_writes() -> None:
    s = Script(CHAT)
    created = s.create_topic(BOT, "Your order", 100)
    thread = created["message"]["message_id"]
    states, log, _ = feed([created])
    assert log == []
    states, log, _ = feed([s.write(ANN, "Thanks", 101, thread)], states)
    [ticket] = states[f"501:pt{thread}"].tickets
    assert ticket.subject == "Your order"
    assert ticket.customer is not None and ticket.customer.telegram_user_id == 501


def test_a_start_in_a_private_topic_runs_no_intake_form() -> None:
    s = Script(CHAT)
    created = s.create_topic(ANN, "Billing", 100)
    for start, wanted in ((s.write(ANN, "/start", 101, created["message"]["message_id"]), False),
                          (s.write(ANN, "/start", 102), True)):  # the plain chat: the form
        routed = route(Update.model_validate(start), BOT_ID)
        assert isinstance(routed, Routed)
        command = ReceiveTelegramMessage(start["update_id"], routed, NOW)
        assert wants_form(command, initial_state(routed.thread_key), RULES) is wanted


PEOPLE = [ANN, BOT]
Action = tuple[str, int, int, int]  # (kind, who, which message, which topic)

actions = st.lists(st.tuples(
    st.sampled_from(["write", "write", "edit", "rename", "close", "reopen", "plain"]),
    st.integers(0, 1), st.integers(0, 50), st.integers(0, 2)), max_size=25)


def history(plan: list[Action], creators: list[int]) -> list[dict[str, Any]]:
    s = Script(CHAT)
    threads = [s.create_topic(PEOPLE[c], f"Topic {i}", 1_700_000_000 + i)
               for i, c in enumerate(creators)]
    updates, written = list(threads), []
    for step, (kind, who, which, topic) in enumerate(plan, start=1):
        date, sender = 1_700_000_000 + 7 * step, PEOPLE[who]
        thread = threads[topic % len(threads)]["message"]["message_id"]
        services = {"rename": ("forum_topic_edited", f"name{which}"),
                    "close": ("forum_topic_closed", None),
                    "reopen": ("forum_topic_reopened", None)}
        if kind in services:
            updates.append(s.service(sender, thread, date, *services[kind]))
        elif kind == "edit":
            if written:
                updates.append(s.edit(written[which % len(written)], f"e{step}", date))
        else:  # a message in the topic, or in the chat outside its topics
            written.append(s.write(sender, f"m{step}", date,
                                   thread if kind == "write" else None))
            updates.append(written[-1])
    return updates


def view(states: dict[str, ThreadState]) -> dict[str, TicketState]:
    """Each private topic's ticket, without the log's bookkeeping (the plain chat's tickets
    are per arrival, not per topic, and are left out)."""
    return {k: replace(s.tickets[0], seq=0) for k, s in states.items()
            if s.tickets and ":pt" in k}


@settings(max_examples=150, deadline=None)
@given(plan=actions, creators=st.lists(st.integers(0, 1), min_size=1, max_size=3),
       data=st.data())
def test_private_topic_routing_is_order_independent(plan: list[Action], creators: list[int],
                                                    data: st.DataObject) -> None:
    updates = history(plan, creators)
    in_order, _, _ = feed(updates)
    dupes = data.draw(st.lists(st.sampled_from(updates), max_size=len(updates)))
    shuffled = data.draw(st.permutations(updates + dupes))
    reordered, relog, _ = feed(list(shuffled))
    assert view(reordered) == view(in_order)
    for ticket in view(in_order).values():
        assert ticket.ticket_id.startswith("tg:501:pt") and ticket.thread_id is not None
    per_ticket: dict[str, list[int]] = {}
    for e in relog:
        per_ticket.setdefault(e.ticket_id, []).append(e.seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in per_ticket.values())
