"""The per-ticket SLA clock with a driven clock: nothing here sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sla.clock import (
    AgentReplied,
    Closed,
    CustomerWrote,
    Fact,
    Reopened,
    SlaState,
    StatusChanged,
    due,
    fire,
    observe,
    start,
)
from streams.sla.errors import CalendarError
from streams.sla.policy import NotifyTelegram, ReassignCase, SetCaseField, SlaPolicy, TicketFacts
from streams.sla.signals import (
    Escalation,
    FirstResponseBreached,
    FirstResponseMet,
    FirstResponseWarning,
    ResolutionBreached,
    ResolutionMet,
    ResolutionWarning,
    SlaSignal,
)

POLICY_TOML = """
[sla]
default_tier = "fast"
warn_at = ["80%"]
[sla.teams.desk]
hours = "24/7"
[sla.teams.office]
timezone = "Europe/Berlin"
[sla.teams.office.hours]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
[sla.tiers.fast]
team = "desk"
first_response = "10m"
resolution = "1h"
[sla.tiers.office]
team = "office"
first_response = "1h"
resolution = "8h"
[[sla.rules]]
name = "office-chat"
chat_ids = [2]
tier = "office"
[sla.pause]
statuses = ["Waiting on Customer"]
[sla.escalation.level1]
first_response_over = "50%"
actions = [
  { do = "reassign" },
  { do = "notify_telegram", chat_id = -1, text = "L{level} {ticket_id}" },
]
[sla.escalation.level2]
resolution_over = "25%"
actions = [
  { do = "set_case_field", field = "Priority", value = "High" },
  { do = "post_case_comment" },
]
[sla.escalation.level3]
idle_for = "3h"
actions = [{ do = "set_case_field", field = "Needs_Review__c", value = true }]
"""
POLICY = SlaPolicy.from_toml(POLICY_TOML)

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday
MIN = timedelta(minutes=1)


def ticket(chat_id: int = 1, at: datetime = T0) -> SlaState:
    return start(TicketFacts("tg:1:t5", "forum_topic", chat_id, subject="Quote"), POLICY, at)


def kinds(signals: list[SlaSignal]) -> list[str]:
    return [s.key for s in signals]


def test_start_chooses_the_tier_and_schedules_the_first_warning() -> None:
    state = ticket()
    assert (state.terms.tier, state.rule) == ("fast", None)
    assert due(state) == T0 + 8 * MIN
    office = ticket(chat_id=2, at=datetime(2025, 3, 7, 15, 30, tzinfo=UTC))  # Fri 16:30 CET
    assert office.rule == "office-chat"
    # 30 business minutes on Friday, 18 on Monday: 80% of 1h -> Monday 09:18 CET
    assert due(office) == datetime(2025, 3, 10, 8, 18, tzinfo=UTC)


def test_warning_fires_at_the_threshold_exactly_once() -> None:
    state = ticket()
    assert fire(state, T0 + 8 * MIN - timedelta(seconds=1)) == (state, [])
    state, signals = fire(state, T0 + 8 * MIN)
    [warning] = signals
    assert isinstance(warning, FirstResponseWarning)
    assert (warning.at, warning.threshold, warning.target) == (T0 + 8 * MIN, 0.8, 10 * MIN)
    assert "80% of the 10m first-response target" in warning.reason
    assert "tier 'fast' (team 'desk') is the default" in warning.reason
    assert fire(state, T0 + 8 * MIN)[1] == []
    assert fire(state, T0 + 9 * MIN)[1] == []
    assert due(state) == T0 + 10 * MIN


def test_first_response_met_on_time_cancels_its_timers() -> None:
    state = observe(ticket(), AgentReplied(), T0 + 5 * MIN)
    state, [met] = fire(state, T0 + 5 * MIN)
    assert isinstance(met, FirstResponseMet)
    assert (met.on_time, met.elapsed, met.at) == (True, 5 * MIN, T0 + 5 * MIN)
    assert "5m inside the 10m first-response target" in met.reason
    # waiting on the customer: the resolution clock and idle escalation hold; nothing pending
    assert state.paused and due(state) is None
    assert fire(state, T0 + timedelta(days=30))[1] == []


def test_pause_and_resume_shift_resolution_deadlines_exactly() -> None:
    state = observe(ticket(), AgentReplied(), T0 + 5 * MIN)       # 5m used, paused
    state, _ = fire(state, T0 + 5 * MIN)
    state = observe(state, CustomerWrote(), T0 + 2 * timedelta(hours=1))  # resumes at +2h
    resume = T0 + timedelta(hours=2)
    timers = {t.key: t.at for t in state.timers}
    assert timers["resolution_warning:0.8"] == resume + 43 * MIN    # 48m - 5m
    assert timers["resolution_breached"] == resume + 55 * MIN       # 60m - 5m
    assert timers["escalation:2"] == resume + 70 * MIN              # 75m - 5m
    assert timers["escalation:3"] == resume + 3 * timedelta(hours=1)
    # a pause status (matched case-insensitively) holds the clock again for 30 minutes
    state = observe(state, StatusChanged("waiting on customer"), resume + 10 * MIN)
    assert state.paused and "resolution_breached" not in {t.key for t in state.timers}
    state = observe(state, StatusChanged("Working"), resume + 40 * MIN)
    assert {t.key: t.at for t in state.timers}["resolution_breached"] == resume + 85 * MIN
    state, signals = fire(state, resume + 85 * MIN)
    assert kinds(signals) == ["resolution_warning:0.8", "resolution_breached"]
    breached = signals[1]
    assert isinstance(breached, ResolutionBreached) and breached.at == resume + 85 * MIN


def test_business_hours_pause_and_resume() -> None:
    friday = datetime(2025, 3, 7, 14, 0, tzinfo=UTC)  # 15:00 CET
    state = observe(ticket(chat_id=2, at=friday), AgentReplied(), friday + 30 * MIN)
    state = observe(state, CustomerWrote(), datetime(2025, 3, 8, 12, 0, tzinfo=UTC))  # Saturday
    # 30m used on Friday; 7h30m more from Monday 09:00 CET -> Monday 16:30 CET
    assert {t.key: t.at for t in state.timers}["resolution_breached"] == datetime(
        2025, 3, 10, 15, 30, tzinfo=UTC)


def test_level1_fires_once_with_its_reason_and_actions() -> None:
    state, signals = fire(ticket(), T0 + 15 * MIN)
    assert kinds(signals) == ["first_response_warning:0.8", "first_response_breached",
                              "escalation:1"]
    escalation = signals[2]
    assert isinstance(escalation, Escalation)
    assert (escalation.level, escalation.escalate_to, escalation.at) == (1, "queue_manager",
                                                                        T0 + 15 * MIN)
    assert "still no agent reply 5m (50%) past the 10m first-response target" in (
        escalation.reason)
    assert "reassign to next_available_agent" in escalation.reason
    assert escalation.actions == (ReassignCase(do="reassign"),
                                  NotifyTelegram(do="notify_telegram", chat_id=-1,
                                                 text="L1 tg:1:t5"))
    assert fire(state, T0 + 16 * MIN)[1] == []
    assert not any(k == "escalation:1" for k in kinds(fire(state, T0 + timedelta(days=9))[1]))


def test_level2_fires_once_when_resolution_is_exceeded_by_its_percentage() -> None:
    state = observe(ticket(), AgentReplied(), T0 + MIN)
    state = observe(state, CustomerWrote(), T0 + MIN)  # no pause time in between
    state, signals = fire(state, T0 + 75 * MIN)
    assert kinds(signals) == ["first_response_met", "resolution_warning:0.8",
                              "resolution_breached", "escalation:2"]
    level2 = signals[-1]
    assert isinstance(level2, Escalation) and level2.level == 2
    assert level2.escalate_to == "team_lead" and level2.at == T0 + 75 * MIN
    assert "still unresolved 15m (25%) past the 1h resolution target" in level2.reason
    assert SetCaseField(do="set_case_field", field="Priority", value="High") in level2.actions
    comment = level2.actions[1]
    assert comment.do == "post_case_comment" and "SLA escalation level 2" in comment.text
    assert "escalation:2" not in kinds(fire(state, T0 + timedelta(days=3))[1])


def test_level3_fires_after_idle_time_and_activity_resets_it() -> None:
    state = observe(ticket(), AgentReplied(), T0 + MIN)
    state = observe(state, CustomerWrote(), T0 + 2 * MIN)
    assert {t.key: t.at for t in state.timers}["escalation:3"] == T0 + 2 * MIN + 3 * 60 * MIN
    state = observe(state, CustomerWrote(), T0 + 2 * 60 * MIN)
    idle_at = T0 + 5 * 60 * MIN
    state, signals = fire(state, idle_at)
    [level3] = [s for s in signals if isinstance(s, Escalation) and s.level == 3]
    assert level3.at == idle_at and level3.escalate_to == "sales_manager"
    assert "no activity for 3h" in level3.reason and "since 2025-03-03T12:00:00+00:00" in (
        level3.reason)
    state = observe(state, CustomerWrote(), idle_at + MIN)
    assert "escalation:3" not in kinds(fire(state, idle_at + timedelta(days=2))[1])


def test_firing_after_downtime_yields_every_due_signal_once_in_order() -> None:
    state = ticket()
    state, signals = fire(state, T0 + timedelta(days=30))
    assert [(s.key, s.at - T0) for s in signals] == [
        ("first_response_warning:0.8", 8 * MIN), ("first_response_breached", 10 * MIN),
        ("escalation:1", 15 * MIN), ("resolution_warning:0.8", 48 * MIN),
        ("resolution_breached", 60 * MIN), ("escalation:2", 75 * MIN),
        ("escalation:3", 180 * MIN)]
    assert [type(s) for s in signals[:2]] == [FirstResponseWarning, FirstResponseBreached]
    assert due(state) is None
    assert fire(state, T0 + timedelta(days=31))[1] == []


def test_deadlines_passed_before_a_fact_are_still_reported() -> None:
    state = observe(ticket(), AgentReplied(), T0 + 20 * MIN)  # nobody fired meanwhile
    _, signals = fire(state, T0 + 20 * MIN)
    assert kinds(signals) == ["first_response_warning:0.8", "first_response_breached",
                              "escalation:1", "first_response_met"]
    met = signals[-1]
    assert isinstance(met, FirstResponseMet)
    assert (met.on_time, met.elapsed) == (False, 20 * MIN)
    assert "10m late against the 10m first-response target" in met.reason


def test_close_reopen_and_close_again() -> None:
    state = observe(ticket(), AgentReplied(), T0 + MIN)
    state = observe(state, CustomerWrote(), T0 + 2 * MIN)
    state = observe(state, Closed(), T0 + 30 * MIN)
    state, signals = fire(state, T0 + 30 * MIN)
    met = signals[-1]
    assert isinstance(met, ResolutionMet) and met.on_time and met.elapsed == 29 * MIN
    assert due(state) is None  # closed: nothing runs
    state = observe(state, Reopened(), T0 + 2 * 60 * MIN)
    # the clock continues at 29m: breach 31m after reopening
    assert {t.key: t.at for t in state.timers}["resolution_breached"] == T0 + 151 * MIN
    state = observe(state, Closed(), T0 + 3 * 60 * MIN)
    state, signals = fire(state, T0 + 3 * 60 * MIN)
    assert kinds(signals) == ["resolution_warning:0.8", "resolution_breached", "escalation:2",
                              "resolution_met:2"]
    assert signals[2].at == T0 + 166 * MIN  # 75m on the clock: 29m + 46m after reopening
    second = signals[-1]
    assert isinstance(second, ResolutionMet) and not second.on_time
    assert second.elapsed == 89 * MIN
    assert isinstance(signals[0], ResolutionWarning)


def test_a_late_fact_never_contradicts_what_fired() -> None:
    state, _ = fire(ticket(), T0 + 10 * MIN)  # warning and breach fired
    state = observe(state, AgentReplied(), T0 + 9 * MIN)  # stamped before the breach
    _, [met] = fire(state, T0 + 11 * MIN)
    assert isinstance(met, FirstResponseMet)
    assert met.at == T0 + 10 * MIN and not met.on_time


def test_instants_in_any_zone_and_naive_ones_refused() -> None:
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert due(ticket(at=berlin)) == T0 + 8 * MIN
    with pytest.raises(CalendarError):
        observe(ticket(), CustomerWrote(), datetime(2025, 3, 3, 10, 0))


# ----------------------------------------------------------------------------- properties

facts_st = st.sampled_from([CustomerWrote(), AgentReplied(), StatusChanged("Waiting on Customer"),
                            StatusChanged("Working"), Closed(), Reopened()])
steps = st.lists(st.tuples(st.integers(1, 240), facts_st), max_size=12)


def _run(plan: list[tuple[int, Fact]], fire_along: bool) -> list[tuple[str, datetime]]:
    state, at, out = ticket(), T0, []
    for gap, fact in plan:
        at += gap * MIN
        if fire_along:
            state, signals = fire(state, at - timedelta(microseconds=1))
            out += signals
        state = observe(state, fact, at)
    state, signals = fire(state, at + timedelta(days=60))
    out += signals
    assert fire(state, at + timedelta(days=61))[1] == []
    return [(s.key, s.at) for s in out]


@settings(max_examples=300, deadline=None)
@given(plan=steps)
def test_each_signal_once_in_order_however_often_fire_is_called(
        plan: list[tuple[int, Fact]]) -> None:
    along = _run(plan, fire_along=True)
    keys = [key for key, _ in along]
    assert len(keys) == len(set(keys))
    assert [at for _, at in along] == sorted(at for _, at in along)
    # firing after downtime reports exactly what firing all along did
    assert _run(plan, fire_along=False) == along


@settings(max_examples=200, deadline=None)
@given(plan=steps, chat_id=st.sampled_from([1, 2]),
       lateness=st.lists(st.integers(0, 600), min_size=1, max_size=4))
def test_fire_finds_what_the_pending_timers_say_is_due(
        plan: list[tuple[int, Fact]], chat_id: int, lateness: list[int]) -> None:
    """``fire``'s shortcuts (deadlines computed up to the first one ahead, one comparison for
    a calendar always open) fire what the plain list of pending timers says is due, in
    order, and remember the earliest one left."""
    state, at = ticket(chat_id), T0
    for gap, fact in [*plan, (0, None)]:
        at += gap * MIN
        for late in lateness:
            now = at + late * MIN
            fired, signals = fire(state, now)
            pending = state.timers
            due_now = [(t.key, t.at) for t in pending if t.at <= now]
            if state.next_at is not None and state.next_at <= now:
                assert [(s.key, s.at) for s in signals] == due_now
                if signals:
                    assert fired.next_at == min((t.at for t in pending if t.at > now),
                                                default=None)
            else:
                assert signals == [] and not due_now
        if fact is not None:
            state = observe(fire(state, at)[0], fact, at)
