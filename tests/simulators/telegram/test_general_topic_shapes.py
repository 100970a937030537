"""Replies in the General topic, in both shapes the Bot API has used, route to the same ticket.

Since Bot API 9.3's topic model a reply in General carries no ``message_thread_id`` (the shape
the simulator emits); older servers put the reply chain's root there, without
``is_topic_message``. A property over reply chains built in the simulator's world: whatever
the chain, each message routes to the same thread (and the same explicit reply) in both
shapes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.telegram.state import bot_user
from simulators.telegram.world import World, thread_root
from streams.core.routing import Routed, explicit_reply_to, route
from streams.schema.telegram import Update

BOT = bot_user("7000000001:AAE-shapes", "Desk", "desk_bot")


def older_shape(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a server before Bot API 9.3 sent it: a reply in General carries its
    chain's root as ``message_thread_id``."""
    reply = message.get("reply_to_message")
    if reply is None or message.get("is_topic_message"):
        return message
    return {**message, "message_thread_id": thread_root(reply)}


def routed(message: dict[str, Any], agents: frozenset[int]) -> Routed:
    update = Update.model_validate({"update_id": 1, "message": message})
    found = route(update, BOT["id"], agents)
    assert isinstance(found, Routed), found
    return found


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 30)), min_size=1, max_size=12))
def test_general_replies_route_alike_with_and_without_a_thread_id(
        steps: list[tuple[int, int]]) -> None:
    world = World(BOT, wall_clock=lambda: 1_767_000_000.0)
    forum = world.create_forum("Sales")
    people = [world.create_user(name) for name in ("Ann", "Bob", "Agent")]
    agents = frozenset({people[2]["id"]})
    said: list[dict[str, Any]] = []
    for who, target in steps:
        reply_to = said[target % len(said)]["message_id"] if said and target else None
        if who == 2 and reply_to is None:
            continue  # an agent in General writes only as a reply to a customer
        message = world.post(forum["id"], people[who], text=f"m{len(said)}", reply_to=reply_to)
        assert "message_thread_id" not in message  # the current shape
        said.append(message)
    for message in said:
        if message["from"]["id"] in agents and (
                message["reply_to_message"]["from"]["id"] in agents):
            continue  # an agent answering an agent names no customer in either shape
        now, before = routed(message, agents), routed(older_shape(message), agents)
        assert (now.thread_key, now.channel, now.thread_id) == (
            before.thread_key, before.channel, before.thread_id)
        assert now.channel == "general_topic" and now.thread_id is None
        assert explicit_reply_to(now.message) == explicit_reply_to(before.message) == (
            message.get("reply_to_message") or {}).get("message_id")


def test_a_topic_message_keeps_its_implicit_reply() -> None:
    world = World(BOT, wall_clock=lambda: 1_767_000_000.0)
    forum = world.create_forum("Sales")
    ann = world.create_user("Ann")
    topic = world.open_topic(forum["id"], ann, "Pricing")
    said = world.post(forum["id"], ann, text="How much?", thread_id=topic.thread_id)
    found = routed(said, frozenset())
    assert (found.channel, found.thread_id) == ("forum_topic", topic.thread_id)
    assert explicit_reply_to(found.message) is None  # the implicit reply to the creation
