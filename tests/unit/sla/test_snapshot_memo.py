"""The SLA core's shortcuts equal the plain computations they replace (issue 19): a snapshot
frozen without ``__init__``, frozen to and thawed from its row without the snapshot, fired keys
and masks memoised per plan, the last plan remembered."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sla.clock import (
    AdoptedTerms,
    Fact,
    SalesforceTarget,
    SlaState,
    Stopwatch,
    _plan,
    adopt,
    fire,
    mask_of,
    observe,
    policy_keys,
    stopwatch,
)
from streams.sla.policy import SlaPolicy
from streams.sla.snapshot import NEXT_AT, SlaSnapshot, _terms, freeze_row, thaw_row
from tests.unit.sla.test_clock import MIN, POLICY, POLICY_TOML, T0, steps, ticket


def _plain_keys(state: SlaState) -> tuple[str, ...]:
    return tuple(key for key, bit in _plan(state.terms).bits.items() if bit & state.fired_mask)


def _plain_freeze(state: SlaState, adopted: SlaSnapshot) -> SlaSnapshot:
    """The snapshot by its ``__init__``, the adopted targets' fields taken from ``adopted``
    (worked out before the shortcut, as they were)."""
    terms = state.terms
    return SlaSnapshot(terms.tier, terms.team, state.tier_reason, state.rule, state.started_at,
                       state.as_of, state.last_activity_at, state.first_response,
                       state.resolution, state.first_response_at, state.waiting_on_customer,
                       state.status, state.closed, state.closures, state.held,
                       _plain_keys(state), state.next_at, adopted.first_response_target,
                       adopted.resolution_target, adopted.salesforce_targets)


def _states(plan: list[tuple[int, Fact]], chat_id: int, adopted: bool) -> list[SlaState]:
    """Every state a ticket passes through: after each fact and each firing."""
    state, at = ticket(chat_id), T0
    if adopted:
        state = adopt(state, SalesforceTarget("first_response", T0 + 7 * MIN, False), T0)
    states = [state]
    for gap, fact in plan:
        at += gap * MIN
        state, _ = fire(state, at)
        states.append(state)
        state = observe(state, fact, at)
        states.append(state)
    states.append(fire(state, at + timedelta(days=60))[0])
    return states


@given(used=st.timedeltas(min_value=timedelta(0)),
       since=st.none() | st.datetimes(timezones=st.just(T0.tzinfo)))
def test_a_stopwatch_built_by_its_slots_equals_the_class_own(
        used: timedelta, since: datetime | None) -> None:
    """``stopwatch`` sets the slots the frozen dataclass has, every one of them."""
    assert [f.name for f in dataclasses.fields(Stopwatch)] == ["used", "since"]
    assert Stopwatch.__slots__ == ("used", "since")
    built = stopwatch(used, since)
    assert type(built) is Stopwatch
    assert built == Stopwatch(used, since)
    assert (built.used, built.since) == (used, since)
    assert hash(built) == hash(Stopwatch(used, since))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.used = used  # type: ignore[misc]


def test_a_snapshot_is_a_plain_frozen_dataclass_that_init_only_sets() -> None:
    assert SlaSnapshot.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert not hasattr(SlaSnapshot, "__post_init__")
    assert not hasattr(SlaSnapshot, "__slots__")
    assert all(f.init for f in dataclasses.fields(SlaSnapshot))


@settings(max_examples=150, deadline=None)
@given(plan=steps, chat_id=st.sampled_from([1, 2]), adopted=st.booleans())
def test_freezing_equals_the_plain_constructor_and_thaws_back(
        plan: list[tuple[int, Fact]], chat_id: int, adopted: bool) -> None:
    for state in _states(plan, chat_id, adopted):
        frozen = SlaSnapshot.freeze(state)
        plain = _plain_freeze(state, frozen)
        assert frozen == plain
        assert list(vars(frozen)) == list(vars(plain))  # the fields, in their order
        assert policy_keys(state) == _plain_keys(state)
        assert bool(frozen.salesforce_targets) == isinstance(state.terms, AdoptedTerms)
        thawed = frozen.thaw(state.ticket_id, POLICY)
        assert thawed.fired_mask == state.fired_mask
        assert thawed._replace(terms=state.terms) == state
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.closed = True  # type: ignore[misc]


@settings(max_examples=150, deadline=None)
@given(plan=steps, chat_id=st.sampled_from([1, 2]), adopted=st.booleans())
def test_a_row_is_the_snapshot_frozen_and_thaws_as_it_does(
        plan: list[tuple[int, Fact]], chat_id: int, adopted: bool) -> None:
    """``freeze_row`` and ``thaw_row`` (a stored tick's firing) are the snapshot's freezing and
    thawing through its row, which holds every field in order."""
    for state in _states(plan, chat_id, adopted):
        frozen = SlaSnapshot.freeze(state)
        row = freeze_row(state)
        assert row == frozen.row()
        assert SlaSnapshot.from_row(row) == frozen
        assert len(row) == len(dataclasses.fields(SlaSnapshot))
        assert row[NEXT_AT] == frozen.next_at
        assert thaw_row(row, state.ticket_id, POLICY) == frozen.thaw(state.ticket_id, POLICY)


_KEYS = ["first_response_warning:0.8", "first_response_breached", "escalation:1",
         "resolution_warning:0.8", "resolution_breached", "escalation:2", "escalation:3",
         "no_such_deadline", "first_response_warning:0.5"]


@given(st.lists(st.lists(st.sampled_from(_KEYS), max_size=6).map(tuple), min_size=1,
                max_size=8), st.sampled_from(["fast", "office"]))
def test_masks_memoised_equal_the_plain_fold_over_the_keys(
        fired: list[tuple[str, ...]], tier: str) -> None:
    terms = POLICY.terms(tier)
    bits = _plan(terms).bits
    for keys in fired + fired:  # each twice: computed, then remembered
        plain = 0
        for key in keys:
            plain |= bits.get(key, 0)
        assert mask_of(terms, keys) == plain


def test_the_last_plan_remembered_is_that_of_the_terms_asked_for() -> None:
    fast, office = POLICY.terms("fast"), POLICY.terms("office")
    plans = [_plan(terms) for terms in (fast, office, fast, fast, office)]
    assert plans[0] is plans[2] is plans[3] and plans[1] is plans[4]
    assert plans[0] is not plans[1]
    assert plans[0].first_response[-1].budget == fast.first_response * 1.5
    assert plans[1].first_response[-1].budget == office.first_response * 1.5


def test_the_terms_remembered_are_those_of_the_policy_tier_and_team_asked_for() -> None:
    """A thawed ticket's terms come from the policy it is thawed under, for its tier and team,
    whichever was asked for before (a reloaded policy, another tier, a team gone from it)."""
    faster = SlaPolicy.from_toml(POLICY_TOML.replace('first_response = "10m"',
                                                     'first_response = "5m"'))
    asks = [(POLICY, "fast", "desk"), (POLICY, "office", "office"), (faster, "fast", "desk"),
            (POLICY, "fast", "desk"), (POLICY, "fast", "gone"), (faster, "gone", "desk"),
            (POLICY, "fast", "office"), (POLICY, "fast", "desk")]
    for policy, tier, team in asks * 2:
        got = _terms(policy, "".join(tier), "".join(team), None, None, ())
        try:
            expected = policy.terms(tier, team)
        except KeyError:
            expected = policy.terms(tier if tier in policy.tiers else policy.default_tier)
        assert got is expected, (tier, team)
    assert _terms(faster, "fast", "desk", None, None, ()).first_response == timedelta(minutes=5)
    assert _terms(POLICY, "fast", "desk", None, None, ()).first_response == timedelta(minutes=10)
