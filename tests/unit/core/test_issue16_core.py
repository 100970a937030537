"""Telegram as it really is, in the pure core: edits dated by ``edit_date``, forms timed by
arrival, phones in E.164, anonymous admins and channels (issue 16, items 1 to 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.core.phones import e164
from streams.core.routing import ANONYMOUS_ADMIN_ID, Skipped, route
from streams.core.ticket import ReceiveTelegramMessage, ThreadState, decide, fold, initial_state
from streams.schema.events import TicketEvent
from streams.schema.telegram import Update
from tests.telegram_factory import BOT_ID, Script, forum, private, user
from tests.unit.core.test_intake_thread import RULES, Worker

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANN = user(11, "Ann", "ann")


def _feed(raw: list[dict[str, Any]]) -> list[TicketEvent]:
    states: dict[str, ThreadState] = {}
    log: list[TicketEvent] = []
    for item in raw:
        routed = route(Update.model_validate(item), BOT_ID)
        if isinstance(routed, Skipped):
            continue
        state = states.get(routed.thread_key) or initial_state(routed.thread_key)
        events = decide(ReceiveTelegramMessage(item["update_id"], routed, NOW), state)
        states[routed.thread_key] = fold(events, state)
        log.extend(events)
    return log


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_an_edit_is_dated_by_its_edit_date_not_the_message_date(gap: int, later: int) -> None:
    s = Script(private(11))
    original = s.write(ANN, "v1", 1_000)
    second = s.write(ANN, "another", 1_000 + gap)
    edit = s.edit(original, "v2", 1_000 + gap + later)
    log = _feed([original, second, edit])
    edited = log[-1]
    assert edited.type == "customer.message_edited"
    assert edited.occurred_at == datetime.fromtimestamp(1_000 + gap + later, tz=UTC)
    ordered = sorted(log, key=lambda e: e.occurred_at)
    assert ordered[-1] is edited  # the audit trail lists the edit after the later message
    assert ordered[-1].occurred_at - log[1].occurred_at == timedelta(seconds=gap + later)


@given(st.integers(min_value=601, max_value=30 * 86_400), st.integers(min_value=0, max_value=599))
def test_a_late_redelivered_start_is_timed_by_its_arrival(late: int, tick_after: int) -> None:
    chat = Script(private(501))
    worker = Worker()
    sent = 1_780_000_000
    worker.update(chat.write(user(501, "Ann", "ann"), "/start", sent), at=sent + late)
    assert worker.types() == ["intake.started", "intake.question_asked"]
    arrived = sent + late
    assert worker.tick(arrived + tick_after).events == []  # not abandoned at the next tick
    timeout = int(RULES.timeout.total_seconds())
    [abandoned] = worker.tick(arrived + timeout + 1).events
    assert abandoned.type == "intake.abandoned"
    assert abandoned.occurred_at == datetime.fromtimestamp(arrived + timeout, tz=UTC)


SPELLINGS = ["+44 20 7946 0000", "442079460000", "0044 20 7946 0000", "+44 (20) 7946-0000",
             "44-20-7946-0000"]


@given(st.sampled_from(SPELLINGS), st.sampled_from([None, "GB", "US", "DE"]))
def test_every_spelling_of_one_number_is_one_e164(spelling: str, region: str | None) -> None:
    assert e164(spelling, region) == "+442079460000"
    assert e164(e164(spelling, region), region) == "+442079460000"  # idempotent


def test_a_number_without_country_code_takes_the_default_region() -> None:
    assert e164("020 7946 0000", "GB") == "+442079460000"
    assert e164("(415) 555-2671", "US") == "+14155552671"
    assert e164("not a phone") is None


def test_a_shared_contact_is_stored_in_e164_with_the_default_region() -> None:
    s = Script(private(11))
    shared = s.write(ANN, "", 100)
    del shared["message"]["text"]
    shared["message"]["contact"] = {"phone_number": "020 7946 0000", "first_name": "Ann",
                                    "user_id": 11}
    routed = route(Update.model_validate(shared), BOT_ID)
    assert not isinstance(routed, Skipped)
    events = decide(ReceiveTelegramMessage(shared["update_id"], routed, NOW,
                                           phone_region="GB"), initial_state(routed.thread_key))
    [received] = [e for e in events if e.type == "customer.message_received"]
    assert received.sender.phone == "+442079460000"  # type: ignore[union-attr]


GROUP = forum()
ANONYMOUS = {"id": ANONYMOUS_ADMIN_ID, "is_bot": True, "first_name": "Group",
             "username": "GroupAnonymousBot"}
CHANNEL = {"id": -1002000000009, "type": "channel", "title": "Acme News"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel",
               "username": "Channel_Bot"}


def _on_behalf(update: dict[str, Any], chat: dict[str, Any], sender: dict[str, Any],
               signature: str | None = None) -> dict[str, Any]:
    msg = update["message"]
    msg["from"], msg["sender_chat"] = sender, chat
    if signature is not None:
        msg["author_signature"] = signature
    return update


@given(st.one_of(st.none(), st.text(min_size=1, max_size=30)))
def test_an_anonymous_admin_in_a_topic_is_an_agent_reply(signature: str | None) -> None:
    s = Script(GROUP)
    created = s.create_topic(ANN, "Pricing", 100)
    t = created["message"]["message_id"]
    team = _on_behalf(s.write(ANONYMOUS, "Hello from the team", 110, t), GROUP, ANONYMOUS,
                      signature)
    log = _feed([created, s.write(ANN, "How much?", 105, t), team])
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received",
                                     "agent.replied"]
    reply = log[-1]
    assert reply.actor.kind == "agent"
    assert reply.agent.display_name == (signature or GROUP["title"])  # type: ignore[union-attr]


def test_an_anonymous_admin_in_general_answers_the_customer_replied_to() -> None:
    s = Script(GROUP)
    asked = s.write(ANN, "Anyone there?", 100)
    answer = _on_behalf(s.write(ANONYMOUS, "Yes!", 101), GROUP, ANONYMOUS, "Maria")
    answer["message"]["reply_to_message"] = asked["message"]
    log = _feed([asked, answer])
    assert [e.type for e in log] == ["ticket.opened", "customer.message_received",
                                     "agent.replied"]
    assert log[-1].actor.display_name == "Maria"


def test_a_channel_is_the_author_of_its_message_and_opens_no_ticket() -> None:
    s = Script(GROUP)
    created = s.create_topic(ANN, "Pricing", 100)
    t = created["message"]["message_id"]
    alone = Script(GROUP, start_update=5000)
    lonely = alone.create_topic(ANN, "x", 90)
    lt = lonely["message"]["message_id"]
    post = _on_behalf(alone.write(CHANNEL_BOT, "News!", 91, lt), CHANNEL, CHANNEL_BOT)
    assert _feed([post]) == []  # a channel's message in a topic with no ticket: nothing
    general = _on_behalf(alone.write(CHANNEL_BOT, "News!", 92), CHANNEL, CHANNEL_BOT)
    assert isinstance(route(Update.model_validate(general), BOT_ID), Skipped)
    in_topic = _on_behalf(s.write(CHANNEL_BOT, "We can help", 110, t), CHANNEL, CHANNEL_BOT)
    log = _feed([created, s.write(ANN, "How much?", 105, t), in_topic])
    received = log[-1]
    assert received.type == "customer.message_received"
    assert received.sender.telegram_user_id == CHANNEL["id"]  # type: ignore[union-attr]
    assert received.actor.display_name == "Acme News"
    assert log[0].customer.telegram_user_id == ANN["id"]  # type: ignore[union-attr]
