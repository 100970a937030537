"""Telegram as it really is, through ``telecase run``'s webhook (issue 16, items 1 to 4):
updates shaped as Telegram sends them are posted to the webhook and the ticket events checked.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.schema.events import TicketEvent
from tests.adapters.telegram_in.hostile import post_json
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

ANN = {"id": 501, "is_bot": False, "first_name": "Ann"}


def _private(update_id: int, message_id: int, date: int, text: str, *,
             edit_date: int | None = None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": message_id, "date": date, "text": text,
                           "chat": {"id": ANN["id"], "type": "private", "first_name": "Ann"},
                           "from": ANN, **extra}
    if edit_date is not None:
        msg["edit_date"] = edit_date
    return {"update_id": update_id, "edited_message" if edit_date else "message": msg}


def _start(embedded: EmbeddedDeployment, telegram: SimulatorThread, **env: str) -> None:
    embedded.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url, **env)


def _post(embedded: EmbeddedDeployment, *updates: dict[str, Any]) -> None:
    for update in updates:
        assert post_json(embedded.webhook_port, update, secret=embedded.webhook_secret) == 200


def _events(embedded: EmbeddedDeployment, ticket_id: str, count: int) -> list[TicketEvent]:
    def enough() -> list[TicketEvent] | None:
        events = ticket_log(embedded).get(ticket_id, [])
        return events if len(events) >= count else None
    found = wait_for(enough, 12, what=f"{count} events of {ticket_id}")
    assert found is not None
    return found


def test_an_edit_through_the_webhook_is_dated_by_its_edit_date(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    _start(embedded, telegram, TELECASE_INTAKE_COMMAND="/nothing-here")
    base = 1_764_000_000
    _post(embedded, _private(1, 1, base, "first"), _private(2, 2, base + 60, "second"),
          _private(3, 1, base, "first, edited", edit_date=base + 600))
    events = _events(embedded, f"tg:{ANN['id']}:p:1", 4)
    edited = [e for e in events if e.type == "customer.message_edited"]
    assert [e.occurred_at for e in edited] == [datetime.fromtimestamp(base + 600, tz=UTC)]
    assert max(events, key=lambda e: e.occurred_at) is edited[0]


def test_a_start_redelivered_late_is_timed_out_by_its_arrival_not_its_date(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    _start(embedded, telegram, TELECASE_INTAKE_TIMEOUT="4")
    sent = int(time.time()) - 6 * 3600  # Telegram kept it through a six-hour outage
    arrived = datetime.now(UTC)
    _post(embedded, _private(1, 1, sent, "/start"))
    form = f"tg:{ANN['id']}:p:intake:1"
    assert [e.type for e in _events(embedded, form, 2)] == ["intake.started",
                                                             "intake.question_asked"]
    time.sleep(2.5)  # several clock ticks later, the form is still open
    assert [e.type for e in ticket_log(embedded)[form]][-1] == "intake.question_asked"
    abandoned = _events(embedded, form, 3)[-1]
    assert abandoned.type == "intake.abandoned"
    assert abandoned.occurred_at >= arrived.replace(microsecond=0) + timedelta(seconds=3)


def test_a_shared_phone_is_recorded_in_e164_with_the_default_region(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    _start(embedded, telegram, TELECASE_INTAKE_COMMAND="/nothing-here",
           TELECASE_DEFAULT_PHONE_REGION="GB")
    shared = _private(1, 1, 1_764_000_000, "")
    del shared["message"]["text"]
    shared["message"]["contact"] = {"phone_number": "020 7946 0000", "first_name": "Ann",
                                    "user_id": ANN["id"]}
    _post(embedded, shared)
    events = _events(embedded, f"tg:{ANN['id']}:p:1", 2)
    [received] = [e for e in events if e.type == "customer.message_received"]
    assert received.sender.phone == "+442079460000"  # type: ignore[union-attr]


FORUM = {"id": -1003000000001, "type": "supergroup", "title": "Sales", "is_forum": True}
CUSTOMER = {"id": 601, "is_bot": False, "first_name": "Bo"}


def _topic(update_id: int, message_id: int, sender: dict[str, Any], text: str,
           **extra: Any) -> dict[str, Any]:
    creation = {"message_id": 10, "date": 1_764_000_000, "chat": FORUM, "from": CUSTOMER,
                "message_thread_id": 10, "is_topic_message": True,
                "forum_topic_created": {"name": "Pricing", "icon_color": 7322096}}
    msg = {"message_id": message_id, "date": 1_764_000_000 + message_id, "chat": FORUM,
           "from": sender, "text": text, "message_thread_id": 10, "is_topic_message": True,
           "reply_to_message": creation, **extra}
    return {"update_id": update_id, "message": creation if message_id == 10 else msg}


def test_anonymous_admins_answer_as_the_team_and_channels_open_nothing(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    _start(embedded, telegram)
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group",
                 "username": "GroupAnonymousBot"}
    channel = {"id": -1003000000099, "type": "channel", "title": "Acme News"}
    channel_bot = {"id": 136817688, "is_bot": True, "first_name": "Channel"}
    lonely = dict(FORUM, id=-1003000000002)
    _post(embedded,
          {"update_id": 1, "message": {"message_id": 5, "date": 1_764_000_000, "chat": lonely,
                                       "from": channel_bot, "sender_chat": channel,
                                       "text": "News!"}},
          _topic(2, 10, CUSTOMER, ""), _topic(3, 11, CUSTOMER, "How much?"),
          _topic(4, 12, anonymous, "20 EUR a seat", sender_chat=FORUM,
                 author_signature="Maria"),
          _topic(5, 13, channel_bot, "See our news", sender_chat=channel))
    ticket = f"tg:{FORUM['id']}:t10"
    events = _events(embedded, ticket, 4)
    [reply] = [e for e in events if e.type == "agent.replied"]
    assert reply.actor.kind == "agent" and reply.actor.display_name == "Maria"
    received = [e for e in events if e.type == "customer.message_received"]
    assert [(e.sender.telegram_user_id, e.actor.display_name)  # type: ignore[attr-defined]
            for e in received] == [(CUSTOMER["id"], "Bo"), (channel["id"], "Acme News")]
    wait_for(lambda: any(r["first_response_at"] for r in embedded.cases()
                         if r["ticket_id"] == ticket), 10, what="the first response")
    assert [t for t in ticket_log(embedded) if str(lonely["id"]) in t] == []
