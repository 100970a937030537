"""A thread's recent update ids: ``ThreadState.has_update`` (the largest id kept with the state)
answers as a scan of ``recent_updates`` does, and ``evolve`` keeps the same window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.routing import Routed, route
from streams.core.ticket import (
    RECENT_UPDATES,
    ReceiveTelegramMessage,
    ThreadState,
    decide,
    fold,
    replaced,
)
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.telegram import Update
from tests.telegram_factory import BOT_ID, Script, forum, user
from tests.unit.core.test_ticket_core import NOW, feed

ANN = user(11, "Ann", "ann")

ids = st.integers(1, 3000)


@settings(max_examples=150, deadline=None)
@given(stored=st.lists(ids, max_size=RECENT_UPDATES + 4), arriving=st.lists(
    st.one_of(ids, st.integers(3001, 4000)), min_size=1, max_size=40))
def test_a_thread_remembers_and_drops_update_ids_as_a_scan_of_its_window_says(
        stored: list[int], arriving: list[int]) -> None:
    """Ids stored in any order (a state read from the store), then updates arriving with ids
    old and new, repeated or not: each is dropped exactly when the window holds it, and the
    window after each is the previous one with it appended, the oldest beyond 256 gone."""
    s = Script(forum())
    created = s.create_topic(ANN, "Pricing", 100)
    thread = created["message"]["message_id"]
    states, _, _ = feed([created])
    (key,) = states
    state = replaced(states[key], {"recent_updates": tuple(stored[-RECENT_UPDATES:])})
    for update_id in arriving:
        update = s.write(ANN, "hello", 101, thread)
        update["update_id"] = update_id
        window = state.recent_updates
        assert state.has_update(update_id) is (update_id in window)
        routed = route(Update.model_validate(update), BOT_ID)
        assert isinstance(routed, Routed)
        events = decide(ReceiveTelegramMessage(update_id, routed, NOW), state)
        assert (events == []) is (update_id in window)  # a new message, unless a redelivery
        state = fold(events, state)
        assert state.recent_updates == (window if update_id in window
                                        else (*window, update_id)[-RECENT_UPDATES:])
        assert state.has_update(update_id)


def test_a_copy_with_other_ids_does_not_read_the_largest_of_the_first() -> None:
    """``replaced`` copies the kept largest id with the rest of the state: it names its tuple,
    so the copy's own ids are what count."""
    state = ThreadState("1:t2", recent_updates=(5, 900, 7))
    assert state.has_update(900) and not state.has_update(901)
    copy = replaced(state, {"recent_updates": (1000,)})
    assert copy.has_update(1000)
    assert not copy.has_update(900) and not copy.has_update(5)
    assert not replaced(state, {"recent_updates": ()}).has_update(900)


def test_the_kept_largest_id_is_neither_stored_nor_compared() -> None:
    state = ThreadState("1:t2", recent_updates=(5, 900, 7))
    fresh = ThreadState("1:t2", recent_updates=(5, 900, 7))
    state.has_update(3)
    assert state == fresh
    assert dump_thread(state) == dump_thread(fresh)
    assert load_thread(dump_thread(state)) == fresh
