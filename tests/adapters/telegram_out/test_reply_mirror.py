"""The reply mirror end to end: embedded log in, the Telegram simulator (real HTTP) out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.telegram.reply_mirror import Limits, history_note, split_text
from simulators.telegram import RateLimits
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import TopicRecreated
from streams.schema.events import Actor, SourceRef, TopicClosed
from tests.adapters.telegram_out.conftest import T0, Harness, harness, opened, replied


async def _topic(h: Harness, forum: dict[str, Any], ann: dict[str, Any],
                 name: str = "Pricing") -> int:
    return (await h.tg.open_topic(forum["id"], ann["id"], name)).thread_id


async def test_a_reply_lands_in_its_thread_once(h: Harness, forum: dict[str, Any],
                                                 ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(opened(ticket, forum["id"], thread),
                   replied(ticket, 2, "It is 10 EUR a seat.", forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    sent = await h.sent(forum["id"])
    assert [(m["message_thread_id"], m["is_topic_message"], m["text"]) for m in sent] == [
        (thread, True, "Alice:\nIt is 10 EUR a seat.")]
    [row] = h.ledger.deliveries()
    assert (row.event_id, row.ticket_id, row.chat_id, row.thread_id, row.message_id) == (
        f"{ticket}#2", ticket, forum["id"], thread, sent[0]["message_id"])
    await h.wait(lambda: mirror.pending == 0)
    await h.stop()
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 2}


async def test_a_restart_does_not_resend(h: Harness, forum: dict[str, Any],
                                         ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(*[replied(ticket, n, f"answer {n}", forum["id"], thread)
                     for n in range(2, 6)])
    first = h.start()
    await h.wait(lambda: first.stats.sent == 4)
    await h.stop()
    # same group: the position is past everything
    again = h.start()
    await h.append(replied(ticket, 6, "one more", forum["id"], thread))
    await h.wait(lambda: again.stats.sent == 1)
    await h.stop()
    # a group with no position at all re-reads the log: the ledger keeps it from resending
    fresh = h.start(group="telegram-mirror-rebuilt")
    await h.wait(lambda: fresh.stats.already_delivered == 5)
    await h.stop()
    texts = [m["text"] for m in await h.sent(forum["id"])]
    assert texts == [f"Alice:\nanswer {n}" for n in range(2, 6)] + ["Alice:\none more"]
    assert fresh.stats.sent == 0


async def test_replies_written_in_telegram_are_not_sent(h: Harness, forum: dict[str, Any],
                                                        ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(replied(ticket, 2, "typed in the group", forum["id"], thread,
                           via="telegram"),
                   replied(ticket, 3, "from Salesforce", forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1 and mirror.pending == 0)
    assert [m["text"] for m in await h.sent()] == ["Alice:\nfrom Salesforce"]


async def test_a_private_chat_ticket_is_answered_in_the_private_chat(
        h: Harness, ann: dict[str, Any]) -> None:
    chat = await h.tg.create_private_chat(ann["id"])
    ticket = f"tg:{chat['id']}:p1"
    await h.append(opened(ticket, chat["id"], None),
                   replied(ticket, 2, "Hello Ann", chat["id"], None, agent=None))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    [message] = await h.sent()
    assert (message["chat_id"], message["message_thread_id"], message["text"]) == (
        ann["id"], None, "Hello Ann")


async def test_order_per_thread_holds_whatever_the_deadlines_and_failures(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    one, two = await _topic(h, forum, ann, "One"), await _topic(h, forum, ann, "Two")
    events = []
    for n in range(2, 12):
        for thread in (one, two):
            events.append(replied(f"tg:{forum['id']}:t{thread}", n, f"{thread}-{n}",
                                  forum["id"], thread))
    await h.append(*events)
    await h.tg.fail_next(2, 502, methods=["sendMessage"])
    # later replies get earlier deadlines: the scheduler still never reorders a thread
    mirror = h.start(deadline=lambda e: T0 - timedelta(seconds=e.seq), max_in_flight=4)
    await h.wait(lambda: mirror.stats.sent == 20)
    sent = await h.sent(forum["id"])
    for thread in (one, two):
        assert [m["text"] for m in sent if m["message_thread_id"] == thread] == [
            f"Alice:\n{thread}-{n}" for n in range(2, 12)]
    assert mirror.stats.retries == 2


async def test_a_closed_topic_is_reopened_then_answered(h: Harness, forum: dict[str, Any],
                                                        ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    await h.tg.close_topic(forum["id"], thread, ann["id"])
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(replied(ticket, 3, "Reopening for you", forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    [topic] = await h.tg.topics(forum["id"])
    assert topic["closed"] is False
    assert [m["message_thread_id"] for m in await h.sent()] == [thread]
    assert mirror.stats.reopened == 1


async def test_a_topic_known_open_is_not_reopened_again_until_a_close_is_read(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    """One reopenForumTopic learns that a topic is open; later replies there go straight out
    (no second Bot API call per reply) until the log says some topic closed."""
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(*[replied(ticket, n, f"reply {n}", forum["id"], thread) for n in (3, 4, 5)])
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 3)

    async def reopens() -> int:
        return sum(1 for c in await h.tg.calls() if c["method"] == "reopenForumTopic")

    assert await reopens() == 1
    await h.tg.close_topic(forum["id"], thread, ann["id"])
    closed_at = T0 + timedelta(seconds=6)
    await h.append(TopicClosed(
        event_id=f"{ticket}#6", ticket_id=ticket, seq=6, occurred_at=closed_at,
        recorded_at=closed_at, source=SourceRef(kind="telegram", chat_id=forum["id"],
                                                message_id=900),
        actor=Actor(kind="customer", id=str(ann["id"])), message_id=900),
        replied(ticket, 7, "after the close", forum["id"], thread))
    await h.wait(lambda: mirror.stats.sent == 4)
    [topic] = await h.tg.topics(forum["id"])
    assert topic["closed"] is False  # reopened before the reply, so the customer can answer
    assert await reopens() == 2 and mirror.stats.reopened == 1


async def test_a_deleted_topic_is_recreated_linked_noted_then_answered(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann, "Pricing for 50 seats")
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.append(opened(ticket, forum["id"], thread, "Pricing for 50 seats"))
    await h.tg.delete_topic(forum["id"], thread, ann["id"])
    await h.append(replied(ticket, 3, "Here is the quote", forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)

    topics = await h.tg.topics(forum["id"])
    [new] = [t for t in topics if not t["deleted"]]
    assert new["name"] == f"Pricing for 50 seats (continued from #{thread})"
    assert new["message_thread_id"] != thread
    sent = await h.sent(forum["id"])
    assert [(m["message_thread_id"], m["text"]) for m in sent] == [
        (new["message_thread_id"], history_note(ticket)),
        (new["message_thread_id"], "Alice:\nHere is the quote")]
    assert ticket in sent[0]["text"]
    assert h.ledger.links() == {(forum["id"], thread): new["message_thread_id"]}
    assert h.ledger.unannounced_links() == []
    [record] = await h.records(h.names.telegram_updates)
    recreated = TopicRecreated.model_validate_json(record.value)
    assert (recreated.ticket_id, recreated.old_thread_id, recreated.new_thread_id,
            recreated.name) == (ticket, thread, new["message_thread_id"], new["name"])
    assert record.key == f"chat:{forum['id']}".encode()

    # a later reply still naming the old thread (the worker has not re-linked yet) follows
    # the link, also after a restart
    await h.stop()
    again = h.start()
    await h.append(replied(ticket, 4, "And the contract", forum["id"], thread))
    await h.wait(lambda: again.stats.sent == 1)
    assert (await h.sent(forum["id"]))[-1]["message_thread_id"] == new["message_thread_id"]
    assert again.stats.recreated == 0 and mirror.stats.recreated == 1


async def test_a_topic_recreated_without_a_known_subject_gets_a_generic_name(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    await h.tg.delete_topic(forum["id"], thread, ann["id"])
    await h.append(replied(ticket, 7, "Still here", forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1)
    names = [t["name"] for t in await h.tg.topics(forum["id"]) if not t["deleted"]]
    assert names == [f"Ticket {ticket} (continued from #{thread})"]


async def test_refused_replies_are_dead_lettered_and_the_rest_delivered(
        h: Harness, ann: dict[str, Any]) -> None:
    chat = await h.tg.create_private_chat(ann["id"])
    await h.append(replied("tg:x:p1", 2, "to nowhere", -1009999999999, None),
                   replied("tg:y:p1", 2, "no chat at all", None, None),
                   replied(f"tg:{ann['id']}:p1", 2, "to Ann", chat["id"], None))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 1 and mirror.stats.dead_lettered == 2)
    await h.wait(lambda: mirror.pending == 0)
    letters = [DeadLetter.model_validate_json(r.value)
               for r in await h.records(h.names.dead_letters)]
    assert sorted((d.reason, d.key) for d in letters) == [
        ("no_destination", "tg:y:p1#2"), ("telegram_rejected", "tg:x:p1#2")]
    rejected = next(d for d in letters if d.reason == "telegram_rejected")
    assert rejected.detail == "Bad Request: chat not found"
    assert rejected.consumer == "telegram-mirror" and rejected.offset == 0
    await h.stop()
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 3}


async def test_429_is_honoured_retried_and_nothing_is_doubled(
        h: Harness, ann: dict[str, Any]) -> None:
    bob = await h.tg.create_user("Bob")
    chats = [await h.tg.create_private_chat(u["id"]) for u in (ann, bob)]
    await h.append(*[replied(f"tg:{c['id']}:p1", n, f"{c['id']}-{n}", c["id"], None)
                     for n in range(2, 5) for c in chats])
    await h.tg.fail_next(1, 429, methods=["sendMessage"], retry_after=1)
    mirror = h.start()
    await h.wait(lambda: mirror.stats.sent == 6)
    sent = await h.sent()
    assert sorted(m["text"] for m in sent) == sorted(f"Alice:\n{c['id']}-{n}"
                                                     for n in range(2, 5) for c in chats)
    for c in chats:
        assert [m["text"] for m in sent if m["chat_id"] == c["id"]] == [
            f"Alice:\n{c['id']}-{n}" for n in range(2, 5)]
    assert mirror.stats.flood_429 == 1
    # the flooded chat waited; the other one did not wait for it
    by_event = {d.event_id: d.sent_at for d in h.ledger.deliveries()}
    flooded, other = (f"tg:{c['id']}:p1#2" for c in chats)
    assert by_event[other] < by_event[flooded]
    assert (by_event[flooded] - min(by_event.values())).total_seconds() >= 0.9


async def test_pushed_past_telegrams_limits_everything_arrives_once(tmp_path: Path) -> None:
    async with harness(tmp_path, RateLimits(per_chat_burst=2)) as h:
        ann = await h.tg.create_user("Ann")
        chat = await h.tg.create_private_chat(ann["id"])
        ticket = f"tg:{chat['id']}:p1"
        await h.append(*[replied(ticket, n, f"part {n}", chat["id"], None)
                         for n in range(2, 6)])
        mirror = h.start(limits=Limits(per_chat=100, margin=0.0))
        await h.wait(lambda: mirror.stats.sent == 4, timeout=15)
        assert [m["text"] for m in await h.sent()] == [f"Alice:\npart {n}" for n in range(2, 6)]
        assert mirror.stats.flood_429 >= 1


async def test_within_telegrams_limits_no_429(tmp_path: Path) -> None:
    async with harness(tmp_path, RateLimits()) as h:
        ann, bob = await h.tg.create_user("Ann"), await h.tg.create_user("Bob")
        forum = await h.tg.create_forum("Sales")
        threads = [(await h.tg.open_topic(forum["id"], ann["id"], f"T{n}")).thread_id
                   for n in range(2)]
        chat = await h.tg.create_private_chat(bob["id"])
        events = [replied(f"tg:{forum['id']}:t{t}", n, f"{t}-{n}", forum["id"], t)
                  for t in threads for n in range(2, 3)]
        events += [replied(f"tg:{chat['id']}:p1", n, f"p-{n}", chat["id"], None)
                   for n in range(2, 4)]
        await h.append(*events)
        mirror = h.start(limits=Limits())
        await h.wait(lambda: mirror.stats.sent == len(events), timeout=20)
        assert mirror.stats.flood_429 == 0
        assert len(await h.sent()) == len(events)


@given(st.text(alphabet=st.sampled_from("ab \n"), max_size=400), st.integers(8, 60))
def test_a_long_text_splits_into_parts_that_join_back(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert "".join(parts) == text
    assert all(0 < len(p) <= limit for p in parts) or parts == [""]
    assert all(len(p) >= limit // 2 for p in parts[:-1])  # no tiny fragments mid-way


async def test_a_reply_longer_than_one_message_arrives_in_order_once(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = await _topic(h, forum, ann)
    ticket = f"tg:{forum['id']}:t{thread}"
    long_text = "\n\n".join(f"Paragraph {n}: " + "details " * 120 for n in range(10))
    assert len("Alice:\n" + long_text) > 2 * 4096
    await h.append(opened(ticket, forum["id"], thread),
                   replied(ticket, 2, long_text, forum["id"], thread))
    mirror = h.start()
    await h.wait(lambda: mirror.pending == 0 and mirror.stats.sent == 3)
    await h.stop()
    sent = await h.sent(forum["id"])
    assert "".join(m["text"] for m in sent) == "Alice:\n" + long_text
    assert all(len(m["text"]) <= 4096 and m["message_thread_id"] == thread for m in sent)
    assert sorted(r.event_id for r in h.ledger.deliveries()) == sorted(
        [f"{ticket}#2", f"{ticket}#2/2", f"{ticket}#2/3"])
    fresh = h.start(group="telegram-mirror-rebuilt")  # re-reads the log: nothing resent
    await h.wait(lambda: fresh.stats.already_delivered == 3)
    await h.stop()
    assert len(await h.sent(forum["id"])) == 3
