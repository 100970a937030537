"""SLA escalation notices through the reply mirror: embedded log in, the Telegram simulator
(real HTTP) out. Each ``notify_telegram`` action of an ``sla.escalated`` event is one message
to its chat, delivered once, within Telegram's limits, and a chat that refuses it blocks
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.telegram.reply_mirror import Limits, notice_id
from simulators.telegram import RateLimits
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    Actor,
    EscalationAction,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    SourceRef,
    TicketAssigned,
    TicketEvent,
    TicketRouted,
)
from tests.adapters.telegram_out.conftest import T0, Harness, harness, opened, replied

UNKNOWN_CHAT = -1009999999999


def notify(chat_id: int | None, text: str | None) -> EscalationAction:
    return EscalationAction(do="notify_telegram", chat_id=chat_id, text=text)


def _clock(ticket_id: str, seq: int, at: datetime | None) -> dict[str, Any]:
    """The envelope of an event the SLA clock fired."""
    when = at or T0 + timedelta(minutes=seq)
    return {"event_id": f"{ticket_id}#{seq}", "ticket_id": ticket_id, "seq": seq,
            "occurred_at": when, "recorded_at": when,
            "source": SourceRef(kind="clock", tick_at=when), "actor": Actor(kind="system")}


def escalated(ticket_id: str, seq: int, *actions: EscalationAction, level: int = 1,
              at: datetime | None = None) -> SlaEscalated:
    return SlaEscalated(**_clock(ticket_id, seq, at), signal=f"escalation:{level}",
                        tier="gold", team="sales", reason="first response overdue",
                        level=level, escalate_to="team_lead", actions=actions)


def other_sla_and_desk_events(ticket_id: str, first_seq: int) -> list[TicketEvent]:
    """One of each new event type the mirror has nothing to do with."""
    seq = iter(range(first_seq, first_seq + 6))
    signal = {"tier": "gold", "team": "sales", "reason": "policy"}
    return [
        SlaStarted(**_clock(ticket_id, next(seq), None), tier="gold", team="sales", rule=None,
                   reason="default tier", first_response_target=timedelta(minutes=15),
                   resolution_target=timedelta(hours=8), next_due_at=None),
        SlaWarning(**_clock(ticket_id, next(seq), None), **signal,
                   signal="first_response_warning:0.8", clock="first_response",
                   threshold=0.8, target=timedelta(minutes=15)),
        SlaBreached(**_clock(ticket_id, next(seq), None), **signal,
                    signal="first_response_breach", clock="first_response",
                    target=timedelta(minutes=15)),
        SlaMet(**_clock(ticket_id, next(seq), None), **signal, signal="first_response_met",
               clock="first_response", target=timedelta(minutes=15),
               elapsed=timedelta(minutes=20), on_time=False),
        TicketRouted(**_clock(ticket_id, next(seq), None), queue="sales", rule=None,
                     reason="default queue"),
        TicketAssigned(**_clock(ticket_id, next(seq), None), decision_id="d1",
                       agent_id="ann", salesforce_user_id=None, previous_agent_id=None,
                       queue="sales", assigned_by="policy", reason="least loaded"),
    ]


async def _lead_and_manager(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """The team leads' forum group and the manager's private chat with the bot."""
    leads = await h.tg.create_forum("Team leads")
    manager = await h.tg.create_user("Maria", username="maria")
    return leads, await h.tg.create_private_chat(manager["id"])


async def test_each_notify_action_is_one_message_to_its_chat(h: Harness) -> None:
    leads, manager = await _lead_and_manager(h)
    ticket = "tg:-1001:t5"
    event = escalated(
        ticket, 9,
        notify(leads["id"], "Ticket tg:-1001:t5 (gold) has no first response after 15 min."),
        EscalationAction(do="set_case_field", field="Escalated__c", value=True),
        EscalationAction(do="reassign", to="team_lead"),
        notify(manager["id"], "Escalation level 1: tg:-1001:t5"),
        EscalationAction(do="post_case_comment", text="Escalated to the team lead",
                         public=False))
    await h.append(opened(ticket, -1001, 5), *other_sla_and_desk_events(ticket, 2), event)
    mirror = h.start()
    await h.wait(lambda: mirror.stats.notified == 2 and mirror.pending == 0)

    sent = await h.sent()
    assert sorted((m["chat_id"], m["message_thread_id"], m["text"]) for m in sent) == sorted([
        (leads["id"], None, "Ticket tg:-1001:t5 (gold) has no first response after 15 min."),
        (manager["id"], None, "Escalation level 1: tg:-1001:t5")])
    assert not any(m["is_topic_message"] for m in sent)  # the forum's General topic
    rows = {r.event_id: r for r in h.ledger.deliveries()}
    assert sorted(rows) == [notice_id(event.event_id, 0), notice_id(event.event_id, 3)]
    lead_row = rows[notice_id(event.event_id, 0)]
    assert (lead_row.ticket_id, lead_row.chat_id, lead_row.thread_id) == (
        ticket, leads["id"], None)
    assert lead_row.message_id == next(m["message_id"] for m in sent
                                       if m["chat_id"] == leads["id"])
    assert mirror.stats.sent == 0 and mirror.stats.dead_lettered == 0
    await h.stop()
    assert await h.records(h.names.dead_letters) == []
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 8}


async def test_a_long_notice_is_split_like_a_reply(h: Harness) -> None:
    leads, _ = await _lead_and_manager(h)
    text = "\n".join(f"Overdue ticket {n}: no first response yet." for n in range(200))
    assert len(text) > 2 * 4096
    event = escalated("tg:-1001:t5", 4, notify(leads["id"], text))
    await h.append(event)
    mirror = h.start()
    await h.wait(lambda: mirror.stats.notified == 3 and mirror.pending == 0)
    sent = await h.sent(leads["id"])
    assert "".join(m["text"] for m in sent) == text
    assert all(len(m["text"]) <= 4096 for m in sent)
    key = notice_id(event.event_id, 0)
    assert sorted(r.event_id for r in h.ledger.deliveries()) == [key, f"{key}/2", f"{key}/3"]


async def test_redelivered_escalations_and_restarts_send_nothing_twice(h: Harness) -> None:
    leads, manager = await _lead_and_manager(h)
    ticket = "tg:-1001:t5"
    first = escalated(ticket, 4, notify(leads["id"], "level 1"), notify(manager["id"], "m1"))
    # the worker derived the same event twice (a redelivery): same event id, same seq
    await h.append(first, first)
    mirror = h.start()
    await h.wait(lambda: mirror.stats.notified == 2 and mirror.pending == 0)
    assert mirror.stats.already_delivered == 2
    await h.stop()

    again = h.start()  # same group, after a restart: re-derived once more, plus a new level
    await h.append(first, escalated(ticket, 5, notify(leads["id"], "level 2"), level=2))
    await h.wait(lambda: again.stats.notified == 1 and again.stats.already_delivered == 2)
    await h.stop()

    rebuilt = h.start(group="telegram-mirror-rebuilt")  # re-reads the whole log
    await h.wait(lambda: rebuilt.stats.already_delivered == 3 * 2 + 1)
    await h.stop()
    assert rebuilt.stats.notified == 0
    assert [m["text"] for m in await h.sent(leads["id"])] == ["level 1", "level 2"]
    assert [m["text"] for m in await h.sent(manager["id"])] == ["m1"]
    assert h.ledger.delivery_count() == 3


async def test_a_mirror_stopped_part_way_delivers_the_rest_once(h: Harness) -> None:
    leads, _ = await _lead_and_manager(h)
    event = escalated("tg:-1001:t5", 4, *[notify(leads["id"], f"notice {n}") for n in range(4)])
    await h.append(event)
    paced = Limits(per_chat=1, per_chat_period=0.4, margin=0.0)
    first = h.start(limits=paced)
    await h.wait(lambda: first.stats.notified >= 1)
    await h.stop()
    assert first.stats.notified < 4  # the rest is still owed: the position stayed behind
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 0}
    second = h.start(limits=paced)
    await h.wait(lambda: first.stats.notified + second.stats.notified == 4
                 and second.pending == 0)
    await h.stop()
    assert [m["text"] for m in await h.sent(leads["id"])] == [f"notice {n}" for n in range(4)]
    assert second.stats.already_delivered == first.stats.notified
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 1}


async def test_chats_that_refuse_the_bot_block_no_other_notice_or_reply(h: Harness) -> None:
    leads, manager = await _lead_and_manager(h)
    ann, bob = await h.tg.create_user("Ann"), await h.tg.create_user("Bob")
    gone = await h.tg.create_forum("Old leads group")
    await h.tg.kick_bot(gone["id"], ann["id"])
    blocked = await h.tg.create_private_chat(bob["id"])
    await h.tg.block_bot(bob["id"])
    customer = await h.tg.create_private_chat(ann["id"])
    ticket = f"tg:{customer['id']}:p1"
    event = escalated(ticket, 3,
                      notify(UNKNOWN_CHAT, "to a chat that does not exist"),
                      notify(gone["id"], "to a group that removed the bot"),
                      notify(blocked["id"], "to a manager who blocked the bot"),
                      notify(None, "to no chat at all"),
                      notify(leads["id"], "to the leads"))
    await h.append(replied(ticket, 2, "before", customer["id"], None), event,
                   escalated(ticket, 4, notify(UNKNOWN_CHAT, "again nowhere"),
                             notify(manager["id"], "to the manager"), level=2),
                   replied(ticket, 5, "after", customer["id"], None))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.dead_lettered == 5 and mirror.stats.notified == 2
                 and mirror.stats.sent == 2 and mirror.pending == 0)
    await h.stop()

    assert [m["text"] for m in await h.sent(customer["id"])] == ["Alice:\nbefore",
                                                                "Alice:\nafter"]
    assert [m["text"] for m in await h.sent(leads["id"])] == ["to the leads"]
    assert [m["text"] for m in await h.sent(manager["id"])] == ["to the manager"]
    letters = {d.key: d for d in (DeadLetter.model_validate_json(r.value)
                                  for r in await h.records(h.names.dead_letters))}
    assert {k: (d.reason, d.detail) for k, d in letters.items()} == {
        notice_id(event.event_id, 0): ("telegram_rejected", "Bad Request: chat not found"),
        notice_id(event.event_id, 1): ("telegram_rejected",
                                       "Forbidden: bot was kicked from the supergroup chat"),
        notice_id(event.event_id, 2): ("telegram_rejected",
                                       "Forbidden: bot was blocked by the user"),
        notice_id(event.event_id, 3): ("no_destination", "it names no Telegram chat"),
        notice_id(f"{ticket}#4", 0): ("telegram_rejected", "Bad Request: chat not found"),
    }
    letter = letters[notice_id(event.event_id, 1)]
    assert (letter.consumer, letter.topic, letter.offset) == (
        "telegram-mirror", h.names.ticket_events, 1)
    assert SlaEscalated.model_validate_json(letter.payload()) == event
    assert await h.bus.committed("telegram-mirror", h.names.ticket_events) == {0: 4}
    # nothing refused is retried after a restart either
    again = h.start()
    await h.append(replied(ticket, 6, "later", customer["id"], None))
    await h.wait(lambda: again.stats.sent == 1 and again.pending == 0)
    assert again.stats.dead_lettered == 0


async def test_notices_are_retried_after_429_and_5xx_and_sent_once(h: Harness) -> None:
    leads, _ = await _lead_and_manager(h)
    await h.tg.fail_next(1, 429, methods=["sendMessage"], retry_after=1)
    await h.tg.fail_next(1, 502, methods=["sendMessage"])
    await h.append(escalated("tg:-1001:t5", 4, notify(leads["id"], "level 1")))
    mirror = h.start()
    await h.wait(lambda: mirror.stats.notified == 1 and mirror.pending == 0)
    assert (mirror.stats.flood_429, mirror.stats.retries) == (1, 1)
    assert [m["text"] for m in await h.sent()] == ["level 1"]


async def test_a_burst_of_notices_to_one_group_gets_no_429(tmp_path: Path) -> None:
    async with harness(tmp_path, RateLimits()) as h:  # Telegram's limits, enforced
        leads, manager = await _lead_and_manager(h)
        burst = [escalated(f"tg:-1001:t{n}", 4, notify(leads["id"], f"ticket {n} overdue"),
                           notify(manager["id"], f"ticket {n}"))
                 for n in range(5)]
        await h.append(*burst)
        mirror = h.start(limits=Limits())
        await h.wait(lambda: mirror.stats.notified == 10, timeout=20)
        assert mirror.stats.flood_429 == 0
        sent = await h.sent(leads["id"])
        assert [m["text"] for m in sent] == [f"ticket {n} overdue" for n in range(5)]
        times = sorted(d.sent_at for d in h.ledger.deliveries() if d.chat_id == leads["id"])
        assert (times[-1] - times[0]).total_seconds() >= 3.5  # paced at ~1 a second
