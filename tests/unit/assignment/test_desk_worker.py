"""The live desk (``streams.runtime.desk``) over a real embedded log: hand-made ticket events and
people's requests in, Assignment records out on the chats' partitions of ``ticket.commands``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.assignment import AssignmentPolicy
from streams.runtime.bus import Outgoing, partition_for
from streams.runtime.desk import DeskWorker, EmbeddedDeskStore
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema import events as ev
from streams.schema.commands import Assignment, DeskRequest
from telecase.ops.desk import Inbox, drain_inbox, new_request, send_request
from telecase.settings import load_settings

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PARTITIONS = 3
ANN, BOB, CLAIRE = "005Hs00000A1b2CIAR", "005Hs00000A1b2DIAR", "005Hs00000A1b2EIAR"
QUEUE_ID = "00GHs00000Q1b2CIAR"
POLICY_TOML = f"""
[routing]
default_queue = "sales"
[[routing.rules]]
name = "integrations"
queue = "technical"
keywords = ["api"]
[queues.sales]
strategy = "round_robin"
[queues.technical]
strategy = "round_robin"
[agents.ann]
name = "Ann"
salesforce_user_id = "{ANN}"
queues = ["sales"]
capacity = 1
[agents.bob]
name = "Bob"
salesforce_user_id = "{BOB}"
queues = ["sales"]
capacity = 1
[agents.claire]
name = "Claire"
salesforce_user_id = "{CLAIRE}"
queues = ["technical"]
capacity = 3
"""
POLICY = AssignmentPolicy.from_toml(POLICY_TOML)
CUSTOMER = ev.Customer(telegram_user_id=42, first_name="Pat", language_code="en")


def ticket(chat: int) -> str:
    return f"tg:{chat}:t7"


def chat_of(ticket_id: str) -> int:
    return int(ticket_id.split(":")[1])


def make_event(cls: type[Any], ticket_id: str, seq: int, minute: float,
               **fields: Any) -> ev.TicketEvent:
    at = T0 + timedelta(minutes=minute)
    event: ev.TicketEvent = cls(event_id=f"{ticket_id}#{seq}", ticket_id=ticket_id, seq=seq,
                                occurred_at=at, recorded_at=at,
                                source=ev.SourceRef(kind="telegram"),
                                actor=ev.Actor(kind="customer"), **fields)
    return event


def started_ticket(ticket_id: str, minute: float = 0,
                   text: str = "hello") -> list[ev.TicketEvent]:
    """A ticket's opening, first message and SLA start (seq 1-3)."""
    chat = chat_of(ticket_id)
    return [
        make_event(ev.TicketOpened, ticket_id, 1, minute, channel="forum_topic", chat_id=chat,
                   thread_id=7, thread_key=f"{chat}:t7", subject="Inquiry",
                   subject_message_id=7, customer=CUSTOMER, customer_message_id=7),
        make_event(ev.CustomerMessageReceived, ticket_id, 2, minute, message_id=8,
                   sender=CUSTOMER, text=text, content_kind="text", message_version=0,
                   reply_to_message_id=None),
        make_event(ev.SlaStarted, ticket_id, 3, minute, tier="standard", team="desk",
                   rule=None, reason="default tier",
                   first_response_target=timedelta(minutes=10),
                   resolution_target=timedelta(hours=1),
                   next_due_at=T0 + timedelta(minutes=minute + 8)),
    ]


class Desk:
    """A desk worker running over a log in a directory, restartable; and the ticket events
    and requests a test feeds it."""

    def __init__(self, path: Path, sla: bool = True) -> None:
        self.path, self.sla = path, sla
        self.names = TopicNames()
        self.seqs: dict[str, int] = {}
        self.log: EmbeddedLog
        self.worker: DeskWorker
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.log = await EmbeddedLog.open(self.path / "log.sqlite", PARTITIONS)
        for topic in (self.names.ticket_events, self.names.ticket_commands):
            await self.log.create_topic(topic, PARTITIONS)
        await self.log.create_topic(self.names.desk_requests, 1)
        self.worker = DeskWorker(self.log, self.names, POLICY,
                                 EmbeddedDeskStore(self.log, self.names), sla_enabled=self.sla,
                                 linger=0.0, clock=lambda: T0)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.worker.run(self.stop))

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.log.close()

    async def restart(self) -> None:
        await self.close()
        await self.open()

    async def settle(self) -> None:
        """Wait until the worker has decided everything in both inputs."""
        async def caught_up() -> bool:
            for topic in (self.names.ticket_events, self.names.desk_requests):
                for p in range(await self.log.partitions(topic)):
                    end = await self.log.end_offset(topic, p)
                    if self.worker.positions.get(topic, {}).get(p, 0) < end:
                        return False
            return True

        for _ in range(400):
            assert self.task is not None
            if self.task.done():
                self.task.result()
                raise AssertionError("the desk stopped")
            if await caught_up():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the desk did not catch up")

    # -- input --------------------------------------------------------------------------

    async def event(self, cls: type[Any], ticket_id: str, minute: float, **fields: Any) -> None:
        seq = self.seqs[ticket_id] = self.seqs.get(ticket_id, 0) + 1
        event = make_event(cls, ticket_id, seq, minute, **fields)
        await self.log.append(self.names.ticket_events,
                              [Outgoing(ticket_id.encode(), ev.encode_event(event))])

    async def opened(self, ticket_id: str, minute: float = 0, subject: str = "Inquiry") -> None:
        await self.event(ev.TicketOpened, ticket_id, minute, channel="forum_topic",
                         chat_id=chat_of(ticket_id), thread_id=7,
                         thread_key=f"{chat_of(ticket_id)}:t7", subject=subject,
                         subject_message_id=7, customer=CUSTOMER, customer_message_id=7)

    async def wrote(self, ticket_id: str, minute: float = 0, text: str = "hello") -> None:
        await self.event(ev.CustomerMessageReceived, ticket_id, minute,
                         message_id=int(minute * 60) + 8, sender=CUSTOMER, text=text,
                         content_kind="text", message_version=0, reply_to_message_id=None)

    async def sla_started(self, ticket_id: str, minute: float = 0) -> None:
        await self.event(ev.SlaStarted, ticket_id, minute, tier="standard", team="desk",
                         rule=None, reason="default tier", first_response_target=timedelta(
                             minutes=10), resolution_target=timedelta(hours=1),
                         next_due_at=T0 + timedelta(minutes=minute + 8))

    async def start_ticket(self, ticket_id: str, minute: float = 0,
                           text: str = "hello") -> None:
        await self.opened(ticket_id, minute)
        await self.wrote(ticket_id, minute, text)
        await self.sla_started(ticket_id, minute)

    async def closed(self, ticket_id: str, minute: float) -> None:
        await self.event(ev.TopicClosed, ticket_id, minute, message_id=int(minute * 60) + 9)

    async def escalated(self, ticket_id: str, minute: float, to: str) -> None:
        await self.event(ev.SlaEscalated, ticket_id, minute, signal="escalation:1",
                         tier="standard", team="desk", reason="first response 50% over",
                         level=1, escalate_to="manager",
                         actions=(ev.EscalationAction(do="notify_telegram", chat_id=1,
                                                      text="late"),
                                  ev.EscalationAction(do="reassign", to=to)))

    async def request(self, action: Any, minute: float, **fields: Any) -> DeskRequest:
        request = new_request(action, requested_by="lead", at=T0 + timedelta(minutes=minute),
                              **fields)
        await self.raw_request(request.to_bytes())
        return request

    async def raw_request(self, value: bytes) -> None:
        await self.log.append(self.names.desk_requests, [Outgoing(b"r", value, partition=0)])

    # -- output -------------------------------------------------------------------------

    async def commands(self) -> list[tuple[int, bytes | None, Assignment]]:
        """Every Assignment record: ``(partition, key, record)``, in offset order."""
        out = []
        topic = self.names.ticket_commands
        for p in range(PARTITIONS):
            for rec in await self.log.read(topic, p, 0, 10_000):
                out.append((p, rec.key, Assignment.model_validate_json(rec.value)))
        return sorted(out, key=lambda x: x[2].at)

    async def assignments(self) -> list[Assignment]:
        return [a for _, _, a in await self.commands()]

    async def owners(self) -> list[tuple[str, str, str | None]]:
        """``(ticket, action, agent)`` of every record except routing, in order."""
        return [(a.ticket_id, a.action, a.agent_id) for a in await self.assignments()
                if a.action != "routed"]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    d = Desk(tmp_path)
    await d.open()
    try:
        yield d
    finally:
        await d.close()


T1, T2, T3, T4 = ticket(-1001), ticket(-1002), ticket(-1003), ticket(-1004)


async def test_a_started_ticket_is_routed_and_assigned_on_its_chats_partition(desk: Desk) -> None:
    await desk.opened(T1)
    await desk.wrote(T1, 1, "Does the API support webhooks?")
    await desk.settle()
    assert await desk.commands() == [], "nothing is routed before the SLA starts"
    await desk.sla_started(T1, 1)
    await desk.settle()
    records = await desk.commands()
    assert [(a.action, a.queue, a.rule, a.agent_id) for _, _, a in records] == [
        ("routed", "technical", "integrations", None), ("assigned", "technical", None, "claire")]
    assigned = records[1][2]
    assert assigned.salesforce_user_id == CLAIRE and assigned.assigned_by == "policy"
    assert assigned.chat_id == -1001 and assigned.ticket_id == T1
    expected = partition_for(b"chat:-1001", PARTITIONS)
    assert {(p, key) for p, key, _ in records} == {(expected, b"chat:-1001")}
    assert len({a.decision_id for _, _, a in records}) == 2
    # the desk's own decisions coming back through the ticket worker change nothing
    await desk.event(ev.TicketRouted, T1, 2, queue="technical", rule="integrations",
                     reason="rule")
    await desk.event(ev.TicketAssigned, T1, 2, decision_id=assigned.decision_id,
                     agent_id="claire", salesforce_user_id=CLAIRE, previous_agent_id=None,
                     queue="technical", assigned_by="policy", reason="x")
    await desk.settle()
    assert len(await desk.commands()) == 2


async def test_at_capacity_a_ticket_waits_and_is_assigned_when_a_ticket_closes(
        desk: Desk) -> None:
    for minute, t in enumerate((T1, T2, T3)):
        await desk.start_ticket(t, minute)
    await desk.settle()
    assert await desk.owners() == [(T1, "assigned", "ann"), (T2, "assigned", "bob"),
                                   (T3, "unassigned", None)]
    waiting = (await desk.assignments())[-1]
    assert waiting.queue == "sales" and "waiting for capacity" in waiting.reason
    assert desk.worker.snapshot.desk.waiting() == [T3]
    await desk.closed(T1, 10)
    await desk.settle()
    last = (await desk.assignments())[-1]
    assert (last.ticket_id, last.action, last.agent_id, last.salesforce_user_id) == (
        T3, "assigned", "ann", ANN)
    assert desk.worker.snapshot.desk.waiting() == []


async def test_a_reopened_ticket_is_back_in_its_agents_load_and_recorded_as_theirs(
        desk: Desk) -> None:
    await desk.start_ticket(T1, 0)
    await desk.start_ticket(T2, 1)
    await desk.settle()
    await desk.closed(T1, 2)
    await desk.start_ticket(T3, 3)  # ann's seat, freed by the closing, goes to T3
    await desk.settle()
    assert await desk.owners() == [(T1, "assigned", "ann"), (T2, "assigned", "bob"),
                                   (T3, "assigned", "ann")]
    await desk.event(ev.TopicReopened, T1, 4, message_id=4 * 60 + 9)
    await desk.settle()
    back = (await desk.assignments())[-1]
    assert (back.ticket_id, back.action, back.agent_id, back.salesforce_user_id) == (
        T1, "assigned", "ann", ANN)
    assert "reopened" in back.reason and "beyond capacity" in back.reason
    held = desk.worker.snapshot.desk
    assert held.load("ann") == 2 and T1 in held.tickets and T1 not in held.closed
    await desk.closed(T1, 5)
    await desk.settle()
    assert desk.worker.snapshot.desk.load("ann") == 1


async def test_claims_reassignments_and_availability_from_people_are_respected(
        desk: Desk) -> None:
    await desk.start_ticket(T1, 0)
    await desk.settle()
    await desk.request("claim", 1, ticket_id=T1, agent_id="claire")
    await desk.settle()
    claim = (await desk.assignments())[-1]
    assert (claim.agent_id, claim.assigned_by, claim.salesforce_user_id) == (
        "claire", "claim", CLAIRE)
    await desk.request("reassign", 2, ticket_id=T1, agent_id="bob", reason="speaks Dutch")
    await desk.settle()
    moved = (await desk.assignments())[-1]
    assert (moved.agent_id, moved.assigned_by) == ("bob", "reassign")
    assert "speaks Dutch" in moved.reason and "lead" in moved.reason
    await desk.request("availability", 3, agent_id="ann", availability="away")
    await desk.settle()
    await desk.start_ticket(T2, 4)
    await desk.settle()
    # ann is away, bob is at capacity (he holds T1 by hand): T2 waits
    assert (await desk.owners())[-1] == (T2, "unassigned", None)
    await desk.request("availability", 5, agent_id="ann", availability="available")
    await desk.settle()
    assert (await desk.owners())[-1] == (T2, "assigned", "ann")
    assert sum(desk.worker.skipped.values()) == 0


async def test_an_escalation_that_reassigns_moves_the_ticket_to_another_agent(
        desk: Desk) -> None:
    await desk.start_ticket(T1, 0)
    await desk.settle()
    assert await desk.owners() == [(T1, "assigned", "ann")]
    await desk.escalated(T1, 5, "next_available_agent")
    await desk.settle()
    moved = (await desk.assignments())[-1]
    assert (moved.ticket_id, moved.action, moved.agent_id, moved.assigned_by) == (
        T1, "assigned", "bob", "next_agent")
    assert "SLA escalation level 1" in moved.reason
    assert len(await desk.owners()) == 2, "a move is one record, not unassign + assign"
    # an escalation to a Salesforce queue gives the Case to it, with no agent
    await desk.escalated(T1, 9, QUEUE_ID)
    await desk.settle()
    external = (await desk.assignments())[-1]
    assert (external.action, external.agent_id, external.salesforce_user_id) == (
        "assigned", None, QUEUE_ID)
    assert desk.worker.snapshot.desk.load("bob") == 0


async def test_a_restart_resumes_from_the_saved_state_without_deciding_anything_again(
        desk: Desk) -> None:
    await desk.start_ticket(T1, 0)
    await desk.opened(T2, 1)
    await desk.wrote(T2, 1, "an api question")  # remembered across the restart
    await desk.request("availability", 1, agent_id="claire", availability="away")
    await desk.settle()
    before = await desk.commands()
    assert [(a.ticket_id, a.agent_id) for _, _, a in before if a.action == "assigned"] == [
        (T1, "ann")]
    await desk.restart()
    await desk.settle()
    assert await desk.commands() == before, "nothing decided twice"
    assert desk.worker.positions[desk.names.desk_requests] == {0: 1}
    await desk.sla_started(T2, 2)  # routed with the first message from before the restart
    await desk.start_ticket(T3, 3)  # ann still holds T1: round robin goes on with bob
    await desk.settle()  # (the two inputs are independent streams: one at a time here)
    await desk.request("availability", 4, agent_id="claire", availability="available")
    await desk.settle()
    after = [a for _, _, a in await desk.commands()][len(before):]
    assert [(a.ticket_id, a.action, a.queue, a.agent_id) for a in after] == [
        (T2, "routed", "technical", None), (T2, "unassigned", "technical", None),
        (T3, "routed", "sales", None), (T3, "assigned", "sales", "bob"),
        (T2, "assigned", "technical", "claire")]


async def test_the_same_input_from_the_same_state_gives_the_same_decision_ids(
        tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        d = Desk(tmp_path / name)
        await d.open()
        await d.start_ticket(T1, 0)
        await d.start_ticket(T2, 1)
        await d.closed(T1, 2)
        await d.settle()
        runs.append([a.model_dump() for a in await d.assignments()])
        await d.close()
    assert runs[0] == runs[1] and len(runs[0]) == 4


async def test_an_unknown_ticket_or_agent_in_a_request_is_counted_and_skipped(
        desk: Desk) -> None:
    await desk.request("claim", 0, ticket_id="tg:-1009:t1", agent_id="ann")
    await desk.request("claim", 0, ticket_id=T1, agent_id="zed")
    await desk.request("claim", 0, agent_id="ann")  # no ticket
    await desk.raw_request(b"{not json")
    first = await desk.request("availability", 0, agent_id="ann", availability="away")
    await desk.raw_request(first.to_bytes())  # a redelivery
    await desk.settle()
    assert desk.worker.skipped == {"unknown_ticket": 1, "unknown_agent": 1,
                                   "invalid_request": 2, "repeated_request": 1}
    await desk.start_ticket(T1, 1)  # the desk goes on: ann is away, so bob
    await desk.settle()
    assert await desk.owners() == [(T1, "assigned", "bob")]


async def test_without_an_sla_policy_a_ticket_is_routed_at_its_first_event_after_opening(
        tmp_path: Path) -> None:
    d = Desk(tmp_path, sla=False)
    await d.open()
    try:
        await d.opened(T1)
        await d.settle()
        assert await d.commands() == []
        await d.wrote(T1, 1, "about the API")
        await d.wrote(T1, 2, "and pricing")
        await d.settle()
        assert [(a.action, a.queue, a.agent_id) for a in await d.assignments()] == [
            ("routed", "technical", None), ("assigned", "technical", "claire")]
    finally:
        await d.close()


async def test_a_request_made_while_the_log_is_in_use_reaches_the_desk_through_the_inbox(
        desk: Desk, tmp_path: Path) -> None:
    await desk.start_ticket(T1, 0)
    await desk.settle()
    settings = load_settings(data_dir=str(tmp_path))
    said = await send_request(settings, "embedded",
                              new_request("claim", ticket_id=T1, agent_id="claire"))
    assert "queued" in said and len(Inbox(tmp_path / "desk-inbox.sqlite").take()) == 1
    stop = asyncio.Event()
    stop.set()  # one pass
    await drain_inbox(desk.log, desk.names, tmp_path, stop)
    await desk.settle()
    assert (await desk.owners())[-1] == (T1, "assigned", "claire")
    assert Inbox(tmp_path / "desk-inbox.sqlite").take() == []
