"""Topics the team opens (issue 16 item 5): a topic an agent on the roster, an anonymous
administrator or the bot opens in the forum has no customer until the customer writes, in any
order of its updates; the agent or the bot is never its customer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.dashboard_queries import waiting_for_customer
from streams.core.routing import ANONYMOUS_ADMIN_ID
from tests.telegram_factory import BOT, Script, forum, user
from tests.unit.core.test_ticket_core import feed

GROUP = forum()
ANN = user(11, "Ann", "ann")
ALEX = user(90, "Alex", "alex")  # on the roster
ROSTER = frozenset({90})
ANONYMOUS = {"id": ANONYMOUS_ADMIN_ID, "is_bot": True, "first_name": "Group",
             "username": "GroupAnonymousBot"}


def _anonymous(update: dict[str, Any]) -> dict[str, Any]:
    update["message"]["sender_chat"] = GROUP
    return update


def _opened_by(opener: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """The team's topic and its opening message; the customer's answer; the thread key."""
    s = Script(GROUP)
    if opener == "anonymous":
        created = _anonymous(s.create_topic(ANONYMOUS, "Your renewal", 100))
    else:
        created = s.create_topic(ALEX if opener == "agent" else BOT, "Your renewal", 100)
    thread = created["message"]["message_id"]
    team = [created]
    if opener == "agent":
        team.append(s.write(ALEX, "Hi Ann, your renewal is due", 101, thread))
    elif opener == "anonymous":
        team.append(_anonymous(s.write(ANONYMOUS, "Hi Ann, your renewal is due", 101, thread)))
    answer = s.write(ANN, "Renew please", 200, thread)
    return team, answer, f"{GROUP['id']}:t{thread}"


def test_an_agent_s_topic_has_no_customer_until_the_customer_writes() -> None:
    team, answer, key = _opened_by("agent")
    states, log, _ = feed(team, agents=ROSTER)
    [ticket] = states[key].tickets
    assert ticket.customer is None and ticket.message_count == 0
    assert [e.type for e in log] == ["ticket.opened", "agent.replied"]
    assert log[0].actor.kind == "agent"
    states, more, _ = feed([answer], states, agents=ROSTER)
    [ticket] = states[key].tickets
    assert ticket.customer is not None and ticket.customer.telegram_user_id == 11
    assert [e.type for e in more] == ["customer.message_received"]


def test_an_anonymous_admin_s_topic_has_no_customer_until_the_customer_writes() -> None:
    team, answer, key = _opened_by("anonymous")
    states, log, _ = feed(team, agents=ROSTER)
    [ticket] = states[key].tickets
    assert ticket.customer is None
    assert [e.type for e in log] == ["ticket.opened", "agent.replied"]
    states, _, _ = feed([answer], states, agents=ROSTER)
    customer = states[key].tickets[0].customer
    assert customer is not None and customer.telegram_user_id == 11


def test_the_bot_s_own_topic_opens_no_ticket_until_the_customer_writes() -> None:
    team, answer, key = _opened_by("bot")
    states, log, _ = feed(team, agents=ROSTER)
    assert log == [] and states[key].tickets == ()
    states, _, _ = feed([answer], states, agents=ROSTER)
    customer = states[key].tickets[0].customer
    assert customer is not None and customer.telegram_user_id == 11


@settings(max_examples=60, deadline=None)
@given(opener=st.sampled_from(["agent", "anonymous", "bot"]), data=st.data())
def test_in_any_order_the_team_is_never_the_customer(opener: str, data: st.DataObject) -> None:
    team, answer, key = _opened_by(opener)
    updates = data.draw(st.permutations([*team, answer]))
    states, _, _ = feed(list(updates), agents=ROSTER)
    [ticket] = states[key].tickets
    assert ticket.customer is not None and ticket.customer.telegram_user_id == 11
    assert ticket.subject == "Your renewal"


NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_the_dashboard_shows_a_team_opened_ticket_as_outreach_until_the_customer_writes(
) -> None:
    row = {"channel": "forum_topic", "message_count": 0, "agent_reply_count": 1,
           "customer_telegram_id": None}
    assert waiting_for_customer(row)
    assert waiting_for_customer(row | {"agent_reply_count": 0})  # the bare topic
    assert waiting_for_customer(row | {"customer_telegram_id": 11})  # outreach request
    assert not waiting_for_customer(row | {"message_count": 1, "customer_telegram_id": 11})
    assert not waiting_for_customer(row | {"customer_telegram_id": 11,
                                           "agent_reply_count": 0})  # a customer's topic
    assert not waiting_for_customer(row | {"channel": "manual"})
