"""Intake forms, intake topics and the pilot gate in the ticket fold (``UpdateFolder`` with the
pure core; a driven clock, no I/O): what the events are, that replay and redelivery change
nothing, that a worker restarting mid-form carries on, and what opens nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.intake import IntakeRules, is_relayed_reply
from streams.core.pilot import EVERYTHING, PilotGate
from streams.core.ticket import ThreadState
from streams.runtime.fold import PILOT_SKIPPED, Folded, Position, UpdateFolder
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.commands import Tick
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import (
    AgentReplied,
    IntakeAbandoned,
    IntakeCompleted,
    SlaStarted,
    TicketEvent,
    TicketOpened,
    decode_event,
    encode_event,
)
from streams.schema.intake_records import IntakeRelay, IntakeTopicRecord
from streams.sla.policy import SlaPolicy
from tests.telegram_factory import BOT_ID, Script, forum, private, user

POLICY = SlaPolicy.from_toml("""
[sla]
default_tier = "standard"
[sla.teams.desk]
timezone = "UTC"
hours = "24/7"
[sla.tiers.standard]
team = "desk"
first_response = "4h"
resolution = "2d"
[sla.tiers.enterprise]
team = "desk"
first_response = "30m"
resolution = "8h"
[sla.tiers.americas]
team = "desk"
first_response = "1h"
resolution = "1d"
[[sla.rules]]
name = "big-deal"
min_deal_size = 100000
tier = "enterprise"
[[sla.rules]]
name = "americas"
region = "americas"
tier = "americas"
""")
T0 = 1_780_000_000
TEAM = -1009000000001
AGENT = user(777, "Alex", "alex_sales")
ANN = user(501, "Ann", "ann")
RULES = IntakeRules(timeout=timedelta(minutes=10), topic_chat_id=TEAM)


class Worker:
    """Folds records like a worker, storing states after each (through the codec when
    ``reload``, as a restarted worker reads them back), and keeps the log."""

    def __init__(self, *, rules: IntakeRules | None = RULES, pilot: PilotGate = EVERYTHING,
                 reload: bool = False) -> None:
        self.folder = UpdateFolder(frozenset({777}), POLICY, intake=rules, pilot=pilot)
        self.store: dict[str, ThreadState] = {}
        self.log: list[TicketEvent] = []
        self.forwards: list[bytes] = []
        self.reload = reload

    def get(self, key: str) -> ThreadState | None:
        return self.store.get(key)

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return [k for k, s in self.store.items()
                if (d := self.folder.timer_due(s)) is not None and d <= at]

    def feed(self, payload: bytes) -> Folded:
        folded = self.folder.fold(payload, self, Position("t", 0, 0, None),
                                  datetime.now(UTC))
        assert folded.dead_letter is None, folded.dead_letter
        for state in folded.states:
            self.store[state.thread_key] = (load_thread(dump_thread(state)) if self.reload
                                            else state)
        for event in folded.events:
            assert decode_event(encode_event(event)) == event
        self.log += folded.events
        self.forwards += [r.value for r in folded.forwards]
        return folded

    def update(self, update: dict[str, Any], at: int | None = None) -> Folded:
        """Fold an update received at ``at`` (default: as it was sent, the message's date)."""
        if at is None:
            msg = update.get("message") or update.get("edited_message") or {}
            at = int(msg.get("date", T0))
        return self.feed(RawTelegramUpdate(
            bot_id=BOT_ID, source="webhook", received_at=datetime.fromtimestamp(at, UTC),
            update=update).to_bytes())

    def tick(self, at: int) -> Folded:
        return self.feed(Tick(partition=0, at=datetime.fromtimestamp(at, UTC)).to_bytes())

    def types(self) -> list[str]:
        return [e.type for e in self.log]


def contact(script: Script, sender: dict[str, Any], owner: int, at: int) -> dict[str, Any]:
    update = script.write(sender, "x", at)
    msg = update["message"]
    del msg["text"]
    msg["contact"] = {"phone_number": "15550100", "first_name": "Ann", "user_id": owner}
    return update


def conversation(answers: list[str | int]) -> list[dict[str, Any]]:
    """Ann's updates: text answers, or an int for a contact of that user id."""
    chat = Script(private(501))
    return [contact(chat, ANN, a, T0 + i) if isinstance(a, int) else chat.write(ANN, a, T0 + i)
            for i, a in enumerate(answers)]


COMPLETE = ["/start", "Ann Lee", "Acme", "/back", "Acme Corp", "Widgets", "Mars", "emea",
            "120k", 999, 501]


def test_a_completed_form_opens_a_ticket_with_its_answers_at_the_tier_they_select() -> None:
    worker = Worker()
    for update in conversation(COMPLETE):
        worker.update(update)
    form = [e for e in worker.log if e.ticket_id == "tg:501:p:intake:1"]
    assert form[0].type == "intake.started" and form[-1].type == "intake.completed"
    assert [e.seq for e in form] == list(range(1, len(form) + 1))
    asked = [(e.field, e.problem is not None) for e in form if e.type == "intake.question_asked"]
    assert asked == [("name", False), ("company", False), ("product", False),
                     ("company", False), ("product", False), ("region", False),
                     ("region", True), ("deal_size", False), ("phone", False), ("phone", True)]
    [opened] = [e for e in worker.log if isinstance(e, TicketOpened)]
    assert opened.ticket_id == "tg:501:p:1" and opened.intake is not None
    assert (opened.intake.company, opened.intake.region, str(opened.intake.deal_size),
            opened.intake.phone) == ("Acme Corp", "EMEA", "120000", "+15550100")
    assert opened.customer is not None and opened.customer.phone == "+15550100"
    [started] = [e for e in worker.log if isinstance(e, SlaStarted)]
    assert (started.tier, started.rule) == ("enterprise", "big-deal")  # at once, from the form
    completed = form[-1]
    assert isinstance(completed, IntakeCompleted) and completed.opened_ticket_id == opened.ticket_id
    assert worker.store["501:p"].intake is not None
    assert worker.store["501:p"].intake.status == "completed"
    # later messages are the ticket's, and /start in an open ticket is one of them
    chat_updates = conversation([*COMPLETE, "Thanks", "/start"])
    for update in chat_updates[len(COMPLETE):]:
        worker.update(update)
    assert worker.types()[-2:] == ["customer.message_received", "customer.message_received"]


def test_region_and_product_are_facts_for_the_tier_rules() -> None:
    worker = Worker()
    answers = ["/start", "Bo Diaz", "Initech", "API", "Americas", "20k", 501]
    for update in conversation(answers):
        worker.update(update)
    [started] = [e for e in worker.log if isinstance(e, SlaStarted)]
    assert (started.tier, started.rule) == ("americas", "americas")
    assert "region Americas" in started.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["/start", "Ann Lee", "A", "Acme", "/back", "/cancel", "EMEA",
                                 "Mars", "50k", "zero", "hello", 501, 999]), max_size=25))
def test_any_conversation_folds_the_same_again_and_ignores_redelivery(
        answers: list[str | int]) -> None:
    updates = conversation(answers)
    first = Worker()
    for update in updates:
        first.update(update)
    for update in updates:  # Telegram retries every update: nothing new
        assert first.update(update).events == []
    again = Worker(reload=True)  # replay from the raw log, states through the codec
    for update in updates:
        again.update(update)
    assert again.log == first.log
    for event in first.log:
        if isinstance(event, TicketOpened) and event.intake is not None:
            assert event.intake.phone == "+15550100" and event.intake.deal_size > 0


def test_a_worker_restarting_mid_form_carries_on() -> None:
    updates = conversation(COMPLETE)
    straight = Worker()
    for update in updates:
        straight.update(update)
    before = Worker()
    for update in updates[:5]:
        before.update(update)
    after = Worker(reload=True)  # a new process: only the stored states
    after.store = {k: load_thread(dump_thread(s)) for k, s in before.store.items()}
    after.log = list(before.log)
    for update in updates[5:]:
        after.update(update)
    assert after.log == straight.log


def test_cancel_and_timeout_open_nothing() -> None:
    worker = Worker()
    for update in conversation(["/start", "Ann Lee", "/cancel"]):
        worker.update(update)
    [cancelled] = [e for e in worker.log if isinstance(e, IntakeAbandoned)]
    assert cancelled.reason == "cancelled" and cancelled.at_field == "company"
    chat = Script(private(501), start_update=2000)
    for _ in range(3):
        next(chat._mid)
    worker.update(chat.write(ANN, "/start", T0 + 100))
    worker.update(chat.write(ANN, "Ann Lee", T0 + 101))
    assert worker.tick(T0 + 101 + 599).events == []  # not yet
    [timed_out] = worker.tick(T0 + 101 + 601).events
    assert isinstance(timed_out, IntakeAbandoned) and timed_out.reason == "timed_out"
    assert timed_out.occurred_at == datetime.fromtimestamp(T0 + 701, UTC)
    assert timed_out.ticket_id == "tg:501:p:intake:2"
    assert worker.tick(T0 + 2000).events == []
    assert not [e for e in worker.log if isinstance(e, TicketOpened)]
    # a message after the timeout, before any tick: the form ends at the due instant, and
    # the message is an ordinary one
    worker.update(chat.write(ANN, "/start", T0 + 3000))
    worker.update(chat.write(ANN, "Acme?", T0 + 5000))
    assert worker.types()[-4:] == ["intake.abandoned", "ticket.opened",
                                   "customer.message_received", "sla.started"]


def test_forms_need_the_start_command_and_can_be_off() -> None:
    plain = Worker()
    plain.update(conversation(["Hello, I need a quote"])[0])
    assert plain.types()[:2] == ["ticket.opened", "customer.message_received"]
    no_form = Worker(rules=IntakeRules(command=""))
    no_form.update(conversation(["/start"])[0])
    assert no_form.types()[:2] == ["ticket.opened", "customer.message_received"]


def test_the_pilot_gate_skips_groups_off_the_allowlist_and_private_chats_when_off() -> None:
    pilot, other = forum(-1001), forum(-1002)
    worker = Worker(pilot=PilotGate(groups=frozenset({-1001}), private_chats=False))
    before = PILOT_SKIPPED.labels("group")._value.get()
    for chat in (pilot, other):
        script = Script(chat)
        topic = script.create_topic(ANN, "Pricing", T0)
        worker.update(topic)
        worker.update(script.write(ANN, "How much?", T0 + 1,
                                   topic["message"]["message_thread_id"]))
    assert {e.ticket_id for e in worker.log} == {"tg:-1001:t1"}
    assert PILOT_SKIPPED.labels("group")._value.get() == before + 2
    assert worker.update(conversation(["/start"])[0]).skipped == "not_in_pilot"
    enabled_later = Worker(pilot=PilotGate(groups=frozenset({-1001, -1002})))
    enabled_later.store = worker.store
    script = Script(other)
    topic = script.create_topic(ANN, "Pricing", T0)
    next(script._mid)
    enabled_later.update(script.write(ANN, "Anyone?", T0 + 50,
                                      topic["message"]["message_thread_id"]))
    assert enabled_later.types()[:2] == ["ticket.opened", "customer.message_received"]


def _completed(worker: Worker) -> str:
    for update in conversation(COMPLETE):
        worker.update(update)
    return "tg:501:p:1"


def test_agents_in_the_intake_topic_reach_the_customer_and_nothing_else_does() -> None:
    worker = Worker()
    ticket = _completed(worker)
    opened_at = datetime.fromtimestamp(T0 + 20, UTC)
    for side in ("topic", "ticket", "ticket"):
        worker.feed(IntakeTopicRecord(ticket_id=ticket, customer_chat_id=501, chat_id=TEAM,
                                      thread_id=1, name="Acme Corp · Ann Lee",
                                      opened_at=opened_at,
                                      side=side).to_bytes())  # type: ignore[arg-type]
    assert worker.types().count("intake.topic_opened") == 1  # the repeat records nothing
    assert worker.store[f"{TEAM}:t1"].relays_to == ticket
    team = Script(forum(TEAM), start_update=5000)
    creation = team.create_topic(user(7000000001, "Desk"), "Acme Corp · Ann Lee", T0 + 20)
    creation["message"]["from"]["is_bot"] = True
    worker.update(creation)
    stranger = user(888, "Sam")
    for sender, text in ((AGENT, "Hi Ann!"), (stranger, "who is this?"),
                         (AGENT, "/t pricing")):
        folded = worker.update(team.write(sender, text, T0 + 30, 1))
        assert folded.events == []  # the group itself opens and records nothing
    assert len(worker.forwards) == 1
    relay = IntakeRelay.model_validate_json(worker.forwards[0])
    assert relay.routing_key() == "chat:501"
    reply, met = worker.feed(worker.forwards[0]).events
    assert met.type == "sla.met"  # the first response, for the SLA
    assert isinstance(reply, AgentReplied) and reply.ticket_id == ticket
    assert (reply.text, reply.chat_id, reply.via) == ("Hi Ann!", 501, "telegram")
    assert is_relayed_reply(reply)
    assert worker.feed(worker.forwards[0]).events == []  # a repeated relay: once
