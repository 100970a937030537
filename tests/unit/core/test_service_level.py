"""SLA timers in the ticket fold: started by events, fired by clock ticks, stored with the
ticket's state (a driven clock; no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.service_level import START_GRACE, next_due
from streams.core.ticket import ThreadState
from streams.runtime.fold import Folded, Position, UpdateFolder
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.commands import Assignment, Tick
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import SlaEscalated, TicketEvent
from streams.schema.salesforce import SalesforceChange
from streams.sla.policy import SlaPolicy
from tests.telegram_factory import BOT_ID, Script, forum, private, user

POLICY = SlaPolicy.from_toml("""
[sla]
default_tier = "standard"
warn_at = ["50%"]
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "10m"
resolution = "1h"
[sla.tiers.urgent]
team = "desk"
first_response = "2m"
resolution = "20m"
[[sla.rules]]
name = "outage"
keywords = ["outage"]
tier = "urgent"
[sla.pause]
waiting_on_customer = true
[sla.escalation.level1]
first_response_over = "50%"
escalate_to = "queue_manager"
actions = [
  { do = "reassign", to = "next_available_agent" },
  { do = "notify_telegram", chat_id = -100777, text = "{ticket_id} escalated: {reason}" },
]
[sla.escalation.level3]
idle_for = "30m"
escalate_to = "sales_manager"
actions = [{ do = "set_case_field", field = "IsEscalated", value = true }]
""")

T0 = 1_780_000_000  # a Telegram date
START = datetime.fromtimestamp(T0, UTC)
ANN = user(501, "Ann")


class Store(dict[str, ThreadState]):
    """The worker's part: states by key, and which threads are due (all of them are looked
    at here; the folder must fire only what is due)."""

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return [k for k, s in self.items() if (d := next_due(s)) is not None and d <= at]


class Worker:
    """Folds records like a worker: stores states after each record, optionally through the
    codec (as a restarted worker would read them back)."""

    def __init__(self, *, reload: bool = False) -> None:
        self.folder = UpdateFolder(sla_policy=POLICY)
        self.store = Store()
        self.log: list[TicketEvent] = []
        self.reload = reload

    def feed(self, payload: bytes, topic: str = "telegram.updates") -> Folded:
        folded = self.folder.fold(payload, self.store, Position(topic, 0, 0, "chat:1"),
                                  START)
        assert folded.dead_letter is None, folded.dead_letter
        for state in folded.states:
            self.store[state.thread_key] = (load_thread(dump_thread(state)) if self.reload
                                            else state)
        self.log += folded.events
        return folded

    def tick(self, at: datetime) -> Folded:
        return self.feed(Tick(partition=0, at=at).to_bytes(), "ticket.commands")

    def signals(self) -> list[tuple[str, str, datetime]]:
        return [(e.ticket_id, getattr(e, "signal", e.type), e.occurred_at) for e in self.log
                if e.type.startswith("sla.")]


def raw(update: dict[str, object]) -> bytes:
    return RawTelegramUpdate(bot_id=BOT_ID, source="webhook", received_at=START,
                             update=update).to_bytes()


def private_message(text: str = "Hello, a question about pricing", at: int = T0) -> bytes:
    return raw(Script(private(501)).write(ANN, text, at))


def agent_comment(ticket_id: str, at: datetime, comment: str = "c1") -> bytes:
    return SalesforceChange(change_id=f"cc:{comment}", change="case_comment",
                            ticket_id=ticket_id, case_id="500000000000001AAA", observed_at=at,
                            occurred_at=at,
                            comment_id=comment, comment_body="Here are our prices",
                            actor_id="005000000000001AAA", actor_name="Bo").to_bytes()


def test_a_new_ticket_starts_its_clocks_and_says_which_tier_and_why() -> None:
    w = Worker()
    folded = w.feed(private_message("Our shop has an outage since noon"))
    types = [e.type for e in folded.events]
    assert types == ["ticket.opened", "customer.message_received", "sla.started"]
    started = folded.events[-1]
    assert started.tier == "urgent" and started.rule == "outage"  # type: ignore[union-attr]
    assert "outage" in started.reason  # type: ignore[union-attr]
    assert started.occurred_at == START
    assert started.seq == 3 and started.event_id.endswith("#3")
    # the first warning (50% of 2 minutes) is the next thing due
    assert started.next_due_at == START + timedelta(minutes=1)  # type: ignore[union-attr]


def test_ticks_fire_each_signal_once_at_its_deadline_in_order() -> None:
    from streams.runtime.fold import SLA_EVENTS
    breaches_before = SLA_EVENTS.labels("sla.breached")._value.get()
    w = Worker()
    w.feed(private_message())
    assert w.tick(START + timedelta(minutes=4, seconds=59)).events == []
    w.tick(START + timedelta(minutes=5))
    w.tick(START + timedelta(minutes=5))  # the same instant again: nothing new
    w.tick(START + timedelta(minutes=16))
    assert [s[1:] for s in w.signals()] == [
        ("sla.started", START),
        ("first_response_warning:0.5", START + timedelta(minutes=5)),
        ("first_response_breached", START + timedelta(minutes=10)),
        ("escalation:1", START + timedelta(minutes=15)),
    ]
    escalation = next(e for e in w.log if isinstance(e, SlaEscalated))
    assert escalation.level == 1 and escalation.escalate_to == "queue_manager"
    notify = [a for a in escalation.actions if a.do == "notify_telegram"]
    assert notify[0].chat_id == -100777 and notify[0].text is not None
    assert notify[0].text.startswith(f"{escalation.ticket_id} escalated: ")
    assert [e.seq for e in w.log] == list(range(1, len(w.log) + 1))
    assert escalation.source.kind == "clock"
    assert SLA_EVENTS.labels("sla.breached")._value.get() == breaches_before + 1


def test_an_agent_reply_meets_the_first_response_target_at_once() -> None:
    w = Worker()
    w.feed(private_message())
    tid = w.log[0].ticket_id
    folded = w.feed(agent_comment(tid, START + timedelta(minutes=3)), "salesforce.changes")
    assert [e.type for e in folded.events] == ["agent.replied", "sla.met"]
    met = folded.events[-1]
    assert met.on_time and met.elapsed == timedelta(minutes=3)  # type: ignore[union-attr]
    # nothing of the first-response clock fires any more
    w.tick(START + timedelta(minutes=20))
    assert not any(s[1].startswith("first_response_") and s[1] != "first_response_met"
                   for s in w.signals())


def test_a_forum_topic_without_a_message_starts_after_the_grace_period() -> None:
    w = Worker()
    s = Script(forum())
    w.feed(raw(s.create_topic(ANN, "Pricing", T0)))
    assert [e.type for e in w.log] == ["ticket.opened"]
    assert w.tick(START + START_GRACE - timedelta(seconds=1)).events == []
    folded = w.tick(START + START_GRACE)
    assert [e.type for e in folded.events] == ["sla.started"]
    assert folded.events[0].occurred_at == START  # the clocks run from the opening


def test_a_closed_ticket_fires_nothing_more() -> None:
    w = Worker()
    w.feed(private_message())
    tid = w.log[0].ticket_id
    close = SalesforceChange(change_id="st1", change="case_updated", ticket_id=tid,
                             case_id="500000000000001AAA",
                             observed_at=START + timedelta(minutes=1),
                             occurred_at=START + timedelta(minutes=1), status="Closed",
                             is_closed=True, actor_id="005000000000001AAA").to_bytes()
    folded = w.feed(close, "salesforce.changes")
    assert [e.type for e in folded.events] == ["case.status_changed", "sla.met"]
    assert w.tick(START + timedelta(days=3)).events == []
    assert next_due(next(iter(w.store.values()))) is None


def test_the_desk_assignment_becomes_events_once() -> None:
    w = Worker()
    w.feed(private_message())
    tid = w.log[0].ticket_id
    at = START + timedelta(seconds=2)
    routed = Assignment(decision_id="d1", ticket_id=tid, chat_id=501, action="routed",
                        queue="general", reason="default queue", at=at)
    assigned = Assignment(decision_id="d2", ticket_id=tid, chat_id=501, action="assigned",
                          queue="general", agent_id="ann",
                          salesforce_user_id="005000000000002AAA", reason="round robin", at=at)
    assert [e.type for e in w.feed(routed.to_bytes(), "ticket.commands").events] == [
        "ticket.routed"]
    events = w.feed(assigned.to_bytes(), "ticket.commands").events
    assert [(e.type, e.agent_id) for e in events] == [  # type: ignore[union-attr]
        ("ticket.assigned", "ann")]
    assert w.feed(assigned.to_bytes(), "ticket.commands").events == []
    ticket = next(iter(w.store.values())).current
    assert ticket is not None and (ticket.queue, ticket.agent_id) == ("general", "ann")


def test_a_decision_for_an_unknown_ticket_is_dead_lettered() -> None:
    record = Assignment(decision_id="d1", ticket_id="tg:42:u1:1", chat_id=42, action="routed",
                        queue="general", reason="x", at=START)
    folded = UpdateFolder(sla_policy=POLICY).fold(record.to_bytes(), Store(),
                                                  Position("ticket.commands", 0, 3, None),
                                                  START)
    assert folded.dead_letter is not None and folded.dead_letter.reason == "decision_error"


def test_a_tick_without_a_policy_is_skipped() -> None:
    folded = UpdateFolder().fold(Tick(partition=0, at=START).to_bytes(), Store(),
                                 Position("ticket.commands", 0, 0, None), START)
    assert folded.skipped == "no_sla_policy" and folded.events == []


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.integers(min_value=1, max_value=3_000), min_size=1, max_size=12),
       reply_after=st.one_of(st.none(), st.integers(min_value=0, max_value=4_000)),
       reload=st.booleans())
def test_ticking_late_or_often_fires_the_same_signals(gaps: list[int],
                                                      reply_after: int | None,
                                                      reload: bool) -> None:
    """Whatever the ticks' spacing (a worker that was down for an hour, or one ticking every
    second), the same signals fire once each with the same instants; states read back from
    the store between records change nothing."""
    end = START + timedelta(seconds=sum(gaps) + 1)

    def run(tick_times: list[datetime], reload: bool) -> list[tuple[str, str, datetime]]:
        w = Worker(reload=reload)
        w.feed(private_message())
        tid = w.log[0].ticket_id
        reply = None if reply_after is None else START + timedelta(seconds=reply_after)
        for at in tick_times:
            if reply is not None and reply <= at:
                w.feed(agent_comment(tid, reply), "salesforce.changes")
                reply = None
            w.tick(at)
        if reply is not None:
            w.feed(agent_comment(tid, reply), "salesforce.changes")
        w.tick(max(end, reply or end))
        return w.signals()

    sparse, at = [], START
    for gap in gaps:
        at += timedelta(seconds=gap)
        sparse.append(at)
    dense = [START + timedelta(seconds=30 * i) for i in range(1, int((end - START)
                                                                    .total_seconds()) // 30)]
    once = run([], False)
    assert run(sparse, reload) == once
    assert run(dense, False) == once
    keys = [s[1] for s in once]
    assert len(keys) == len(set(keys))


@settings(max_examples=40, deadline=None)
@given(minutes=st.integers(0, 600), offset=st.integers(-14 * 60, 14 * 60))
def test_a_tick_fires_the_same_in_any_zone_it_is_written_in(minutes: int, offset: int) -> None:
    """The folder hands the SLA clock the tick's instant in UTC (converted once); a tick
    written in another zone fires the same events and leaves the same states."""
    at = START + timedelta(minutes=minutes)
    zoned = at.astimezone(timezone(timedelta(minutes=offset)))
    ticked = []
    for instant in (at, zoned):
        w = Worker(reload=True)
        w.feed(private_message())
        folded = w.tick(instant)
        ticked.append((folded.events, folded.states))  # instants equal across zones
    assert ticked[0] == ticked[1]
    assert bool(ticked[0][0]) == (minutes >= 5)  # the first warning: 50% of 10 minutes
