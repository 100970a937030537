"""The what-if replay (``streams.sla.replay``), pure: a synthetic history with a driven clock."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.assignment import AssignmentPolicy
from streams.assignment import commands as desk
from streams.schema import events as ev
from streams.sla import clock
from streams.sla.policy import SlaPolicy
from streams.sla.replay import (
    compare,
    desk_commands,
    route_ticket,
    simulate,
    sla_facts,
    sla_ticket_facts,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=4)
CHAT = -100123


def sla_policy(first_response: str = "10m", resolution: str = "1h") -> SlaPolicy:
    return SlaPolicy.from_toml(f"""
[sla]
default_tier = "standard"
warn_at = ["80%"]
[sla.teams.desk]
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "{first_response}"
resolution = "{resolution}"
[sla.tiers.urgent]
team = "desk"
first_response = "{first_response}"
resolution = "{resolution}"
[[sla.rules]]
name = "urgent words"
keywords = ["urgent"]
tier = "urgent"
[sla.pause]
waiting_on_customer = true
[sla.escalation.level1]
first_response_over = "50%"
actions = [{{ do = "reassign", to = "next_available_agent" }}]
[sla.escalation.level2]
resolution_over = "25%"
[sla.escalation.level3]
idle_for = "2h"
""")


ANN, BOB, CLAIRE, STRANGER = ("005Hs00000A1b2CIAR", "005Hs00000A1b2DIAR", "005Hs00000A1b2EIAR",
                              "005Hs00000Z9z9ZIAR")
DESK = AssignmentPolicy.from_toml(f"""
[routing]
default_queue = "general"
[[routing.rules]]
name = "integrations"
queue = "technical"
keywords = ["api"]
[queues.general]
strategy = "round_robin"
[queues.technical]
strategy = "round_robin"
[agents.ann]
name = "Ann"
salesforce_user_id = "{ANN}"
queues = ["general"]
capacity = 3
[agents.bob]
name = "Bob"
salesforce_user_id = "{BOB}"
queues = ["general"]
capacity = 3
[agents.claire]
name = "Claire"
salesforce_user_id = "{CLAIRE}"
queues = ["technical"]
capacity = 3
""")


class History:
    """Ticket events with consecutive ``seq`` per ticket, stamped minutes after ``T0``."""

    def __init__(self) -> None:
        self.events: list[ev.TicketEvent] = []
        self.seqs: dict[str, int] = {}

    def add(self, cls: type[Any], ticket: str, minute: float, **fields: Any) -> None:
        seq = self.seqs[ticket] = self.seqs.get(ticket, 0) + 1
        at = T0 + timedelta(minutes=minute)
        self.events.append(cls(
            event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, occurred_at=at,
            recorded_at=at, source=ev.SourceRef(kind="telegram", chat_id=CHAT),
            actor=ev.Actor(kind="customer"), **fields))

    def opened(self, ticket: str, minute: float, subject: str = "Inquiry") -> None:
        self.add(ev.TicketOpened, ticket, minute, channel="forum_topic", chat_id=CHAT,
                 thread_id=1, thread_key=f"{CHAT}:t1", subject=subject, subject_message_id=1,
                 customer=CUSTOMER, customer_message_id=1)

    def wrote(self, ticket: str, minute: float, text: str = "hello") -> None:
        self.add(ev.CustomerMessageReceived, ticket, minute, message_id=int(minute * 60) + 2,
                 sender=CUSTOMER, text=text, content_kind="text", message_version=0,
                 reply_to_message_id=None)

    def replied(self, ticket: str, minute: float) -> None:
        self.add(ev.AgentReplied, ticket, minute, via="salesforce", comment_id=f"c{minute}",
                 agent=ev.Agent(salesforce_user_id=ANN), text="on it")

    def closed(self, ticket: str, minute: float) -> None:
        self.add(ev.TopicClosed, ticket, minute, message_id=int(minute * 60) + 3)

    def owner(self, ticket: str, minute: float, owner_id: str) -> None:
        self.add(ev.CaseOwnerChanged, ticket, minute, owner_id=owner_id, owner_name=None,
                 previous_owner_id=None)


CUSTOMER = ev.Customer(telegram_user_id=42, first_name="Pat", language_code="en")


def history() -> list[ev.TicketEvent]:
    h = History()
    # t1: answered at 5m, the customer answers back, closed at 30m: all on time.
    h.opened("t1", 0)
    h.wrote("t1", 1)
    h.replied("t1", 5)
    h.wrote("t1", 20)
    h.closed("t1", 30)
    h.owner("t1", 31, BOB)
    # t2: nobody answers: warned at 8m, breached at 10m, level 1 at 15m; closed at 40m.
    h.opened("t2", 2)
    h.wrote("t2", 2)
    h.closed("t2", 40)
    h.owner("t2", 41, ANN)
    # t3: answered at once, then waits on the customer for good (paused, not idle).
    h.opened("t3", 3)
    h.wrote("t3", 3, "this is urgent")
    h.replied("t3", 4)
    # t4: answered at 6m, the customer writes at 7m and is never answered again: resolution
    # warned at 54m (48m on the clock: 1m, then from 7m on), breached at 66m, level 2 at 81m,
    # idle (level 3) at 2h7m.
    h.opened("t4", 5)
    h.wrote("t4", 5, "a question about the API")
    h.replied("t4", 6)
    h.wrote("t4", 7)
    h.owner("t4", 8, STRANGER)
    return h.events


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_report_counts_every_breach_warning_and_escalation_exactly() -> None:
    report = simulate(history(), sla_policy(), None, UNTIL)
    assert report.tickets == 4 and report.events == len(history()) and report.skipped_events == 0
    assert (report.first_response_warnings, report.first_response_breaches) == (1, 1)
    assert (report.first_responses_on_time, report.first_responses_late) == (3, 0)
    assert (report.resolution_warnings, report.resolution_breaches, report.resolved) == (1, 1, 2)
    assert report.escalations == {1: 1, 2: 1, 3: 1}
    assert report.tiers == {"standard": 3, "urgent": 1}
    assert report.assignment is None
    by_id = {t.ticket_id: t for t in report.details}
    assert by_id["t2"].signals == (
        ("first_response_warning:0.8", at(10)), ("first_response_breached", at(12)),
        ("escalation:1", at(17)), ("resolution_met:1", at(40)))
    assert by_id["t4"].signals == (
        ("first_response_met", at(6)), ("resolution_warning:0.8", at(54)),
        ("resolution_breached", at(66)), ("escalation:2", at(81)), ("escalation:3", at(127)))
    assert by_id["t1"].signals == (("first_response_met", at(5)), ("resolution_met:1", at(30)))
    assert by_id["t3"].signals == (("first_response_met", at(4)),)


def test_the_first_message_chooses_the_tier_though_it_comes_after_the_opening() -> None:
    report = simulate(history(), sla_policy(), None, UNTIL)
    t3 = next(t for t in report.details if t.ticket_id == "t3")
    assert t3.tier == "urgent" and "keyword 'urgent'" in t3.tier_reason
    assert t3.opened_at == at(3)  # the clock runs from the opening all the same


def test_a_faster_policy_breaches_more() -> None:
    slow = simulate(history(), sla_policy(), None, UNTIL)
    fast = simulate(history(), sla_policy("3m", "20m"), None, UNTIL)
    assert fast.first_response_breaches > slow.first_response_breaches
    assert fast.resolution_breaches > slow.resolution_breaches
    diff = compare(slow, fast)
    assert diff.first_response_breached == ("t1",)  # answered after 5m; t4 after 1m
    assert diff.first_response_no_longer_breached == ()
    assert diff.summary()["resolution_breached"] == len(diff.resolution_breached) > 0


def test_the_desk_assigns_and_is_compared_with_the_actual_owners() -> None:
    report = simulate(history(), sla_policy(), DESK, UNTIL)
    owners = {t.ticket_id: (t.queue, t.agent, t.actual_owner, t.assigned_differently)
              for t in report.details}
    assert owners == {
        "t1": ("general", "ann", BOB, True),
        "t2": ("general", "ann", ANN, False),  # bob's, then moved to ann by escalation 1
        "t3": ("general", "ann", None, None),
        "t4": ("technical", "claire", STRANGER, True),  # the first message names the API
    }
    a = report.assignment
    assert a is not None
    assert (a.routed, a.owners) == ({"general": 3, "technical": 1}, {"ann": 3, "claire": 1})
    assert (a.compared, a.assigned_differently, a.no_actual_owner,
            a.actual_owner_not_an_agent) == (3, 2, 1, 1)
    assert (a.reassigned_by_escalation, a.reassignments_blocked, a.waiting) == (1, 0, 0)


def test_the_same_history_in_any_order_with_duplicates_gives_the_same_report() -> None:
    events = history()
    first = simulate(events, sla_policy(), DESK, UNTIL)
    for seed in range(5):
        shuffled = events + random.Random(seed).sample(events, 6)
        random.Random(seed).shuffle(shuffled)
        again = simulate(shuffled, sla_policy(), DESK, UNTIL)
        assert asdict(again) == asdict(first)


def test_until_bounds_both_events_and_deadlines() -> None:
    report = simulate(history(), sla_policy(), None, at(12))
    assert report.after_until > 0
    assert report.first_response_breaches == 1  # t2's breach is due exactly at 12m
    assert report.escalations == {} and report.resolved == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate(history(), sla_policy(), None, datetime(2026, 3, 3))


def test_events_of_a_ticket_whose_opening_is_missing_are_counted_not_replayed() -> None:
    events = [e for e in history() if not (e.ticket_id == "t1" and e.seq == 1)]
    report = simulate(events, sla_policy(), DESK, UNTIL)
    assert report.tickets == 3 and report.skipped_events == 5


def test_the_mapping_for_the_live_worker() -> None:
    h = History()
    h.opened("t", 0, subject="Pricing")
    h.add(ev.CaseStatusChanged, "t", 1, status="Closed", previous_status="New", is_closed=True)
    h.add(ev.CaseStatusChanged, "t", 2, status="Working", previous_status="Closed",
          is_closed=False)
    h.add(ev.TicketClosed, "t", 3, reason="done")
    h.add(ev.TopicReopened, "t", 4, message_id=9)
    h.owner("t", 5, ANN)
    h.add(ev.TopicRenamed, "t", 6, message_id=10, name="New name")
    opened, closed, working, ticket_closed, reopened, owner, renamed = h.events
    assert isinstance(opened, ev.TicketOpened)
    assert sla_ticket_facts(opened, "hi").first_message == "hi"
    route = route_ticket(opened, "hi", None, at(0))
    assert (route.facts.subject, route.facts.first_message, route.facts.language) == (
        "Pricing", "hi", "en")
    assert sla_facts(closed) == [clock.StatusChanged("Closed"), clock.Closed()]
    assert sla_facts(working) == [clock.StatusChanged("Working"), clock.Reopened()]
    assert sla_facts(ticket_closed) == [clock.Closed()]
    assert sla_facts(reopened) == [clock.Reopened()]
    assert sla_facts(renamed) == []
    assert desk_commands(closed, at(1)) == [desk.TicketClosed("t", at(1))]
    assert desk_commands(working, at(2)) == [desk.TicketReopened("t", at(2))]
    assert desk_commands(reopened, at(4)) == [desk.TicketReopened("t", at(4))]
    assert desk_commands(renamed, at(6)) == []
    assert desk_commands(owner, at(5)) == [desk.OwnerChangedInSalesforce("t", ANN, at(5))]
