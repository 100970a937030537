"""Salesforce as the SLA clock of record: a CaseMilestone's target read back
(``salesforce.milestone``) moves the ticket's deadlines (``sla.target_adopted``), folded by
the worker's folder with a driven clock (no sleeping)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.runtime.fold import Position
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.events import SlaTargetAdopted
from streams.schema.milestones import SalesforceMilestone
from tests.unit.core.stored_versions import dump_v2
from tests.unit.core.test_service_level import START, Worker, agent_comment, private_message

TICKET = "tg:501:p:1"
FR_DUE = START + timedelta(minutes=10)  # the standard tier's first response
RES_DUE = START + timedelta(hours=1)


def milestone(target: datetime, at: datetime, *, clock: str = "first_response",
              violated: bool = False, ticket: str = TICKET) -> bytes:
    return SalesforceMilestone(
        ticket_id=ticket, case_id="500000000000001AAA", milestone_id="5oT000000000001AAA",
        milestone_type="First Response" if clock == "first_response" else "Resolution",
        clock=clock, target_at=target, violated=violated, observed_at=at).to_bytes()


def opened() -> Worker:
    w = Worker()
    w.feed(private_message())
    return w


def breaches(w: Worker, signal: str = "first_response_breached") -> list[datetime]:
    return [e.occurred_at for e in w.log
            if e.type == "sla.breached" and getattr(e, "signal", None) == signal]


def test_an_earlier_target_moves_the_breach_and_the_warning_with_it() -> None:
    w = opened()
    folded = w.feed(milestone(START + timedelta(minutes=4), START + timedelta(minutes=1)),
                    "salesforce.changes")
    [adopted] = folded.events
    assert isinstance(adopted, SlaTargetAdopted)
    assert adopted.previous_due_at == FR_DUE and adopted.target == timedelta(minutes=4)
    assert adopted.signal == "first_response_breached"
    assert adopted.reason == (
        "Salesforce is the clock of record: the first response milestone 'First Response' is "
        f"due {(START + timedelta(minutes=4)).isoformat()}; telecase's deadline was "
        f"{FR_DUE.isoformat()}")
    assert adopted.next_due_at == START + timedelta(minutes=2)  # 50% of the new target
    w.tick(START + timedelta(minutes=5))
    assert ("first_response_warning:0.5" in {k for _, k, _ in w.signals()})
    assert breaches(w) == [START + timedelta(minutes=4)]
    assert "Salesforce's milestone" in next(
        e.reason for e in w.log if e.type == "sla.breached")


def test_a_later_target_postpones_the_breach_and_its_escalation() -> None:
    w = opened()
    w.feed(milestone(START + timedelta(minutes=20), START + timedelta(minutes=1)),
           "salesforce.changes")
    w.tick(FR_DUE + timedelta(seconds=1))
    assert breaches(w) == []
    w.tick(START + timedelta(minutes=40))
    assert breaches(w) == [START + timedelta(minutes=20)]
    assert [at for _, k, at in w.signals() if k == "escalation:1"] == [
        START + timedelta(minutes=30)]  # 50% past the 20-minute target


def test_a_violated_milestone_breaches_at_once_and_only_once() -> None:
    w = opened()
    read = START + timedelta(minutes=3)
    folded = w.feed(milestone(START + timedelta(minutes=8), read, violated=True),
                    "salesforce.changes")
    assert folded.events[0].type == "sla.target_adopted"
    assert breaches(w) == [read]
    again = w.feed(milestone(START + timedelta(minutes=8), read + timedelta(seconds=30),
                             violated=True), "salesforce.changes")
    assert again.events == []
    w.tick(START + timedelta(hours=2))
    assert breaches(w) == [read]


def test_a_target_already_passed_breaches_when_read() -> None:
    w = opened()
    read = START + timedelta(minutes=6)
    w.feed(milestone(START + timedelta(minutes=5), read), "salesforce.changes")
    assert breaches(w) == [read]


def test_the_same_target_read_again_changes_nothing_and_survives_the_codec() -> None:
    w = Worker(reload=True)
    w.feed(private_message())
    record = milestone(START + timedelta(minutes=4), START + timedelta(minutes=1))
    assert w.feed(record, "salesforce.changes").events
    assert w.feed(record, "salesforce.changes").events == []
    w.tick(START + timedelta(minutes=4))
    assert breaches(w) == [START + timedelta(minutes=4)]


def test_a_met_first_response_takes_no_target() -> None:
    w = opened()
    w.feed(agent_comment(TICKET, START + timedelta(minutes=1)), "salesforce.changes")
    folded = w.feed(milestone(START + timedelta(minutes=2), START + timedelta(minutes=3)),
                    "salesforce.changes")
    assert folded.events == [] and breaches(w) == []


def test_the_resolution_clock_follows_its_own_milestone() -> None:
    w = opened()
    w.feed(milestone(START + timedelta(minutes=30), START + timedelta(minutes=1),
                     clock="resolution"), "salesforce.changes")
    w.tick(START + timedelta(minutes=31))
    assert breaches(w, "resolution_breached") == [START + timedelta(minutes=30)]
    assert breaches(w) == [FR_DUE]  # the first response keeps telecase's target


def dead_reason(w: Worker, payload: bytes) -> tuple[str, str]:
    folded = w.folder.fold(payload, w.store, Position("salesforce.changes", 0, 7, "chat:501"),
                           START)
    assert folded.dead_letter is not None and folded.events == []
    assert base64.b64decode(folded.dead_letter.payload_b64) == payload
    return folded.dead_letter.reason, folded.dead_letter.detail


def test_an_unknown_ticket_or_clock_is_refused_with_the_reason() -> None:
    w = opened()
    reason, detail = dead_reason(w, milestone(FR_DUE, START, ticket="tg:501:p:9"))
    assert reason == "decision_error" and "unknown ticket tg:501:p:9" in detail
    reason, detail = dead_reason(w, milestone(FR_DUE, START, clock="onboarding"))
    assert reason == "decision_error" and "names no SLA clock: 'onboarding'" in detail
    reason, _ = dead_reason(w, b'{"kind": "salesforce.milestone", "ticket_id": 3}')
    assert reason == "invalid_milestone"


minutes = st.integers(min_value=0, max_value=90)
reads = st.lists(st.tuples(minutes, st.integers(min_value=-30, max_value=60), st.booleans(),
                           st.sampled_from(["first_response", "resolution"])),
                 min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(reads, st.lists(minutes, max_size=4), st.booleans())
def test_adopting_targets_never_fires_a_signal_twice(
        read: list[tuple[int, int, bool, str]], ticks: list[int], reload: bool) -> None:
    w = Worker(reload=reload)
    w.feed(private_message())
    steps = sorted([(m, "read", r) for m, *r in read] + [(m, "tick", None) for m in ticks],
                   key=lambda s: s[0])
    for when, kind, args in steps:
        at = START + timedelta(minutes=when)
        if kind == "tick":
            w.tick(at)
        else:
            assert args is not None
            offset, violated, clock = args
            w.feed(milestone(at + timedelta(minutes=offset), at, clock=clock,
                             violated=violated), "salesforce.changes")
    w.tick(START + timedelta(hours=5))
    keys = [getattr(e, "signal", "") for e in w.log
            if e.type in ("sla.warning", "sla.breached", "sla.escalated")]
    assert len(keys) == len(set(keys)), keys
    assert len(breaches(w)) == 1 and len(breaches(w, "resolution_breached")) == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=120), st.integers(min_value=1, max_value=120),
       st.integers(min_value=0, max_value=200), st.booleans())
def test_a_later_target_means_a_later_breach(a: int, b: int, read_s: int,
                                             violated: bool) -> None:
    """Read ``read_s`` seconds after the opening, a target in the future breaches exactly at
    it; one already passed, or a violated milestone, breaches when read."""
    read = START + timedelta(seconds=read_s)

    def breach_for(target_s: int) -> datetime:
        w = opened()
        target = START + timedelta(seconds=target_s)
        w.feed(milestone(target, read, violated=violated), "salesforce.changes")
        w.tick(START + timedelta(hours=3))
        [at] = breaches(w)
        assert at == (read if violated or target <= read else target)
        return at
    low, high = sorted((a, b))
    assert breach_for(low) <= breach_for(high)


def test_a_state_stored_before_targets_existed_still_loads() -> None:
    w = opened()
    state = w.store["501:p"] if "501:p" in w.store else next(iter(w.store.values()))
    stored = dump_v2(state)  # the fields at their defaults left out, as v2 wrote them
    assert b"salesforce_targets" not in stored and b"resolution_target" not in stored
    assert load_thread(stored) == state
    w.feed(milestone(START + timedelta(minutes=4), START), "salesforce.changes")
    adopted = next(iter(w.store.values()))
    reloaded = load_thread(dump_thread(adopted))
    assert reloaded.tickets[0].sla == adopted.tickets[0].sla
    assert reloaded.tickets[0].sla is not None
    assert reloaded.tickets[0].sla.first_response_target == timedelta(minutes=4)
