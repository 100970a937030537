"""Property: any interleaving and duplication of a topic's updates folds to the same state."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.ticket import ThreadState, TicketState
from tests.telegram_factory import BOT, Script, forum, user
from tests.unit.core.test_ticket_core import feed

PEOPLE = [user(11, "Ann", "ann"), user(12, "Bob"), BOT, user(90, "Alex")]
ROSTER = frozenset({90})  # Alex is an agent
Action = tuple[str, int, int]  # (kind, who, which)

actions = st.lists(st.tuples(
    st.sampled_from(["write", "write", "edit", "rename", "close", "reopen"]),
    st.integers(0, 3), st.integers(0, 50)), max_size=25)


def history(plan: list[Action], creator: int) -> list[dict[str, Any]]:
    s = Script(forum())
    date = 1_700_000_000
    created = s.create_topic(PEOPLE[creator], "Inquiry", date)
    thread = created["message"]["message_id"]
    updates, written = [created], []
    for kind, who, which in plan:
        date += 7
        if kind == "write":
            u = s.write(PEOPLE[who], f"m{len(updates)}", date, thread)
            written.append(u)
        elif kind == "edit" and written:
            u = s.edit(written[which % len(written)], f"e{len(updates)}", date)
        elif kind == "rename":
            u = s.service(PEOPLE[who], thread, date, "forum_topic_edited", f"name{which}")
        elif kind in ("close", "reopen"):
            u = s.service(PEOPLE[who], thread, date, f"forum_topic_{kind}d"
                          if kind == "close" else "forum_topic_reopened")
        else:
            continue
        updates.append(u)
    return updates


def view(states: dict[str, ThreadState]) -> dict[str, TicketState]:
    """The domain state, without bookkeeping that depends on how many events were logged.
    (A topic the bot created that nobody wrote in has no ticket: ``streams.core.requests``.)"""
    return {k: replace(s.tickets[0], seq=0) for k, s in states.items() if s.tickets}


@settings(max_examples=200, deadline=None)
@given(plan=actions, creator=st.integers(0, 3), data=st.data())
def test_any_order_with_duplicates_folds_to_the_same_state(plan: list[Action], creator: int,
                                                           data: st.DataObject) -> None:
    updates = history(plan, creator)
    in_order, log, _ = feed(updates, agents=ROSTER)
    dupes = data.draw(st.lists(st.sampled_from(updates), max_size=len(updates)))
    shuffled = data.draw(st.permutations(updates + dupes))
    reordered, relog, _ = feed(list(shuffled), agents=ROSTER)
    assert view(reordered) == view(in_order)
    # every ticket's log is gap-free and starts with TicketOpened
    for events in (log, relog):
        assert not events or events[0].type == "ticket.opened"
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


@settings(max_examples=100, deadline=None)
@given(plan=actions, creator=st.integers(0, 3))
def test_replaying_the_same_updates_again_adds_nothing(plan: list[Action], creator: int) -> None:
    updates = history(plan, creator)
    states, _, _ = feed(updates, agents=ROSTER)
    again, more, _ = feed(updates, dict(states), agents=ROSTER)
    assert more == []
    assert again == states
