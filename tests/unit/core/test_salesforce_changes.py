"""The core takes Salesforce changes and topic re-links into the ticket they name: only what
differs from the ticket's state becomes an event, so re-reads and retries are harmless."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.routing import continuation_name
from streams.core.ticket import (
    ApplySalesforceChange,
    DecisionError,
    RelinkTopic,
    ThreadState,
    decide,
    fold,
    forum_thread_of,
    thread_key_of,
)
from streams.runtime.fold import Position, UpdateFolder
from streams.schema.envelope import RawTelegramUpdate, TopicRecreated
from streams.schema.events import TicketEvent
from streams.schema.salesforce import SalesforceChange, routing_key
from tests.telegram_factory import BOT, BOT_ID, Script, forum
from tests.unit.core.test_ticket_core import ANN, NOW, feed

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def opened_topic() -> tuple[ThreadState, str, int]:
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing", 100)
    thread = created["message"]["message_id"]
    states, _, _ = feed([created, s.write(ANN, "How much?", 105, thread)])
    (state,) = states.values()
    assert state.current is not None
    return state, state.current.ticket_id, thread


def change(ticket_id: str, kind: str, n: int = 0, **fields: Any) -> SalesforceChange:
    ids = {"case_linked": "linked:500A", "case_comment": f"comment:00a{n}",
           "case_updated": f"case:500A:{n}"}
    return SalesforceChange(change=kind, change_id=ids[kind], ticket_id=ticket_id,
                            case_id="500A", observed_at=T0 + timedelta(seconds=n),
                            occurred_at=T0 + timedelta(seconds=n), **fields)


def apply(state: ThreadState, *changes: SalesforceChange
          ) -> tuple[ThreadState, list[TicketEvent]]:
    log: list[TicketEvent] = []
    for c in changes:
        events = decide(ApplySalesforceChange(c, NOW), state)
        state = fold(events, state)
        log.extend(events)
    return state, log


def test_ticket_ids_name_their_threads() -> None:
    assert thread_key_of("tg:-100123:t45") == "-100123:t45"
    assert thread_key_of("tg:777:p:3") == "777:p"
    assert thread_key_of("tg:-100123:g11:2") == "-100123:g11"
    assert routing_key("tg:-100123:t45") == "chat:-100123"
    assert [forum_thread_of(t) for t in ("tg:-100123:t45", "tg:777:p:3", "tg:-1:g11:2")] == [
        45, None, None]
    with pytest.raises(ValueError, match="not a telecase ticket id"):
        thread_key_of("sf:123:t4")


def test_case_link_is_recorded_once() -> None:
    state, tid, _ = opened_topic()
    linked = change(tid, "case_linked", case_number="00001001", contact_id="003A")
    state, log = apply(state, linked, linked)
    assert [e.type for e in log] == ["salesforce.case_linked"]
    ticket = state.current
    assert ticket is not None
    assert (ticket.case_id, ticket.case_number, ticket.contact_id) == ("500A", "00001001", "003A")
    assert log[0].seq == 3 and log[0].source.kind == "salesforce"


def test_agent_comment_becomes_one_reply_addressed_to_the_thread() -> None:
    state, tid, thread = opened_topic()
    comment = change(tid, "case_comment", 1, comment_id="00a1", comment_body="It is $10",
                     actor_id="005B", actor_name="Dana Agent")
    state, log = apply(state, comment, comment)
    assert len(log) == 1
    reply = log[0]
    assert reply.type == "agent.replied" and reply.via == "salesforce"
    assert (reply.chat_id, reply.thread_id, reply.comment_id) == (forum()["id"], thread, "00a1")
    assert reply.agent.salesforce_user_id == "005B" and reply.text == "It is $10"
    assert reply.actor.kind == "agent"
    assert state.current is not None
    assert state.current.first_response_at == T0 + timedelta(seconds=1)


def test_status_and_owner_changes_only_when_they_differ_and_never_go_back() -> None:
    state, tid, _ = opened_topic()
    state, log = apply(state, change(tid, "case_updated", 1, status="New", owner_id="005A"))
    assert [e.type for e in log] == ["case.owner_changed"]  # "New" is where a Case starts
    state, log = apply(state, change(tid, "case_updated", 3, status="Working", owner_id="005A"),
                       change(tid, "case_updated", 2, status="Escalated", owner_id="005Z"))
    assert [(e.type, getattr(e, "status", None)) for e in log] == [
        ("case.status_changed", "Working")]  # the stale read (stamp 2) changes nothing
    state, log = apply(state, change(tid, "case_updated", 4, status="Closed", is_closed=True))
    assert [e.type for e in log] == ["case.status_changed"]
    assert state.current is not None and state.current.status == "closed"
    assert state.current.case_status == "Closed"


def test_a_change_for_an_unknown_ticket_is_a_decision_error() -> None:
    state, _, _ = opened_topic()
    with pytest.raises(DecisionError):
        decide(ApplySalesforceChange(change("tg:-1:t9", "case_linked"), NOW), state)


@given(st.lists(st.tuples(st.sampled_from(["New", "Working", "Closed"]),
                          st.sampled_from(["005A", "005B"])), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(0, 20)), max_size=10))
def test_case_versions_with_any_repeats_end_at_the_newest(
        versions: list[tuple[str, str]], repeats: list[tuple[int, int]]) -> None:
    """The poller reads a Case's current version, so versions arrive in ``SystemModstamp``
    order; overlapping polls and restarts repeat versions already delivered, at any later
    point. Whatever the repeats, the ticket ends at the newest version."""
    state, tid, _ = opened_topic()
    reads = [change(tid, "case_updated", n, status=s, owner_id=o, is_closed=s == "Closed")
             for n, (s, o) in enumerate(versions)]
    deliveries = list(reads)
    for which, at in repeats:  # a repeat of version ``which``, somewhere after its first read
        first = deliveries.index(reads[which % len(reads)])
        deliveries.insert(min(len(deliveries), first + 1 + at), reads[which % len(reads)])
    state, _ = apply(state, *deliveries)
    newest = reads[-1]
    ticket = state.current
    assert ticket is not None and ticket.owner_id == newest.owner_id
    assert (ticket.case_status or "New") == newest.status
    assert ticket.status == ("closed" if newest.status == "Closed" else "open")


def test_a_recreated_topic_continues_the_same_ticket() -> None:
    state, tid, old_thread = opened_topic()
    record = TopicRecreated(ticket_id=tid, chat_id=forum()["id"], old_thread_id=old_thread,
                            new_thread_id=old_thread + 50, name="Pricing", recreated_at=T0)
    events = decide(RelinkTopic(record, T0), state)
    assert [e.type for e in events] == ["topic.recreated"]
    relinked = fold(events, state)
    assert decide(RelinkTopic(record, T0), relinked) == []
    assert relinked.current is not None and relinked.current.thread_id == old_thread + 50


def test_folder_routes_messages_in_the_recreated_topic_to_the_old_ticket() -> None:
    state, tid, old_thread = opened_topic()
    new_thread = old_thread + 50
    stored = {state.thread_key: state}
    folder = UpdateFolder()
    where = Position("telegram.updates", 0, 0, None)
    record = TopicRecreated(ticket_id=tid, chat_id=forum()["id"], old_thread_id=old_thread,
                            new_thread_id=new_thread, name="Pricing", recreated_at=T0)
    folded = folder.fold(record.to_bytes(), stored, where, NOW)
    assert [e.type for e in folded.events] == ["topic.recreated"]
    assert folded.thread is not None
    for s in folded.states:
        stored[s.thread_key] = s
    s = Script(forum(), start_update=5000)
    s._mid = itertools.count(new_thread)
    assert s.create_topic(BOT, "Pricing", 290)["message"]["message_id"] == new_thread
    update = s.write(ANN, "Still there?", 300, new_thread)
    raw = RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=NOW,
                            update=update).to_bytes()
    folded = folder.fold(raw, stored, where, NOW)
    assert [(e.type, e.ticket_id) for e in folded.events] == [
        ("customer.message_received", tid)]
    assert folded.thread is not None and folded.thread.thread_key == state.thread_key


def test_folder_dead_letters_a_malformed_change() -> None:
    folded = UpdateFolder().fold(b'{"kind": "salesforce.change", "ticket_id": 5}', {},
                                 Position("salesforce.changes", 1, 7, "chat:1"), NOW)
    assert folded.dead_letter is not None
    assert folded.dead_letter.reason == "invalid_change"
    assert folded.dead_letter.topic == "salesforce.changes"


@given(st.permutations(["created", "customer", "relink"]))
def test_a_continuation_topic_joins_its_ticket_whatever_arrives_first(order: list[str]) -> None:
    """The bot's creation message, the customer's first message there and the mirror's
    re-link record can reach the worker in any order: one ticket, which moves to the new
    topic and gets the customer's message."""
    state, tid, old_thread = opened_topic()
    new_thread = old_thread + 50
    stored = {state.thread_key: state}
    s = Script(forum(), start_update=5000)
    s._mid = itertools.count(new_thread)
    records = {
        "created": s.create_topic(BOT, continuation_name("Pricing", old_thread), 290),
        "customer": s.write(ANN, "Still there?", 300, new_thread),
    }
    raw = {k: RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=NOW,
                                update=u).to_bytes() for k, u in records.items()}
    raw["relink"] = TopicRecreated(ticket_id=tid, chat_id=forum()["id"],
                                   old_thread_id=old_thread, new_thread_id=new_thread,
                                   name="Pricing", recreated_at=T0).to_bytes()
    folder, log = UpdateFolder(), []
    for kind in order:
        folded = folder.fold(raw[kind], stored, Position("telegram.updates", 0, 0, None), NOW)
        for s2 in folded.states:
            if s2 is not None:
                stored[s2.thread_key] = s2
        log.extend(folded.events)
    assert sorted(e.type for e in log) == ["customer.message_received", "topic.recreated"]
    assert {e.ticket_id for e in log} == {tid}
    ticket = stored[state.thread_key].current
    assert ticket is not None and ticket.thread_id == new_thread
    assert ticket.message_count == 2 and ticket.subject == "Pricing"
    assert len(stored[state.thread_key].tickets) == 1


def test_only_the_bots_own_topics_can_continue_a_ticket() -> None:
    s = Script(forum(), start_update=7000)
    s._mid = itertools.count(900)
    forged = s.create_topic(ANN, continuation_name("Pricing", 1), 100)  # a customer's topic
    _, log, _ = feed([forged])
    assert [e.ticket_id for e in log] == [f"tg:{forum()['id']}:t900"]
    assert continuation_name("x" * 300, 12).endswith(" (continued from #12)")
    assert len(continuation_name("x" * 300, 12)) == 128
