"""Assignment and SLA escalation reach Salesforce: ``ticket.assigned`` sets the Case owner,
``sla.escalated`` sets Case fields and posts its comment once, refused values are
dead-lettered one event at a time, and telecase's own owner write is not read back as an
agent's change. Against the Salesforce simulator through the unmodified simple-salesforce
client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.comments import marked, unmarked
from connectors.salesforce.sync_runner import GROUP, SyncRunner
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    Actor,
    EscalationAction,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    SourceRef,
    TicketAssigned,
    TicketEvent,
    TicketRouted,
    encode_event,
)
from tests.adapters.salesforce.test_case_sync import NOW, conversation, customer
from tests.adapters.salesforce.test_change_poller import changes, poller
from tests.infra import wait_until

TICKET = "tg:-100:t5"
DESK: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                        "source": SourceRef(kind="desk"), "actor": Actor(kind="system")}
TICK: dict[str, Any] = {"occurred_at": NOW, "recorded_at": NOW,
                        "source": SourceRef(kind="clock", tick_at=NOW),
                        "actor": Actor(kind="system")}
CLOCK: dict[str, Any] = {**TICK, "tier": "gold", "team": "support",
                         "reason": "first response overdue"}


def assigned(ticket: str, seq: int, user_id: str | None) -> TicketAssigned:
    return TicketAssigned(event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq,
                          decision_id=f"d-{seq}", agent_id="alex" if user_id else None,
                          salesforce_user_id=user_id, previous_agent_id=None,
                          queue="support", assigned_by="policy", reason="least loaded",
                          **DESK)


def escalated(ticket: str, seq: int, *actions: EscalationAction) -> SlaEscalated:
    return SlaEscalated(event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq,
                        signal=f"first_response_escalation:{seq}", level=1,
                        escalate_to="tier2", actions=actions, **CLOCK)


def set_field(field: str, value: Any) -> EscalationAction:
    return EscalationAction(do="set_case_field", field=field, value=value)


def comment(text: str, public: bool | None = None) -> EscalationAction:
    return EscalationAction(do="post_case_comment", text=text, public=public)


def run(sync: CaseSync, events: list[TicketEvent]) -> Any:
    return asyncio.to_thread(sync.apply, events)


async def only_case(driver: SalesforceDriver, ticket: str = TICKET) -> dict[str, Any]:
    [case] = await driver.records("Case", Telecase_Ticket_Id__c=ticket)
    return case


async def test_an_assignment_makes_the_agent_the_case_owner(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver) -> None:
    agent = await driver.create_user("Dana Desk")
    sync = CaseSync(SimpleSalesforceApi(sf))
    result = await run(sync, [*conversation(TICKET, customer(11), 1),
                              assigned(TICKET, 3, agent["Id"])])
    assert (result.cases, result.owners, result.tasks, result.rejected) == (1, 1, 1, [])
    case = await only_case(driver)
    assert case["OwnerId"] == agent["Id"]
    assert case["Subject"] == f"Inquiry {TICKET}" and case["Origin"] == "Telegram"
    assert case["LastModifiedById"] == sim.integration_user_id
    assert result.linked[TICKET].created is True

    queue = await driver.create_group("Tier 2")  # later: to a queue, in a batch of its own
    again = await run(sync, [assigned(TICKET, 4, queue["Id"])])
    assert (again.owners, again.cases, again.rejected) == (1, 0, [])
    assert (await only_case(driver))["OwnerId"] == queue["Id"]
    assert len(await driver.records("Case")) == 1


async def test_an_assignment_without_a_salesforce_user_leaves_the_owner_alone(
        sf: Any, driver: SalesforceDriver) -> None:
    agent = await driver.create_user("Dana Desk")
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, [*conversation(TICKET, customer(11), 0), assigned(TICKET, 2, agent["Id"])])
    before = await only_case(driver)
    calls = await driver.api_calls()
    result = await run(sync, [assigned(TICKET, 3, None)])
    assert (result.owners, result.cases, result.rejected) == (0, 0, [])
    assert await driver.api_calls() == calls  # nothing to write, nothing sent
    after = await only_case(driver)
    assert after["OwnerId"] == agent["Id"]
    assert after["SystemModstamp"] == before["SystemModstamp"]


async def test_sla_and_routing_events_cost_no_call_and_no_error(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, conversation(TICKET, customer(11), 0))
    hour = timedelta(hours=1)
    quiet: list[TicketEvent] = [
        SlaStarted(event_id=f"{TICKET}#2", ticket_id=TICKET, seq=2, tier="gold",
                   team="support", rule=None, reason="default", first_response_target=hour,
                   resolution_target=8 * hour, next_due_at=NOW + hour, **TICK),
        SlaWarning(event_id=f"{TICKET}#3", ticket_id=TICKET, seq=3, signal="w:0.8",
                   clock="first_response", threshold=0.8, target=hour, **CLOCK),
        SlaBreached(event_id=f"{TICKET}#4", ticket_id=TICKET, seq=4, signal="b",
                    clock="first_response", target=hour, **CLOCK),
        SlaMet(event_id=f"{TICKET}#5", ticket_id=TICKET, seq=5, signal="m",
               clock="first_response", target=hour, elapsed=2 * hour, on_time=False, **CLOCK),
        TicketRouted(event_id=f"{TICKET}#6", ticket_id=TICKET, seq=6, queue="support",
                     rule=None, reason="default queue", **DESK),
        escalated(TICKET, 7, EscalationAction(do="notify_telegram", chat_id=-200, text="!"),
                  EscalationAction(do="reassign", to="tier2")),
    ]
    before = await only_case(driver)
    calls = await driver.api_calls()
    result = await run(sync, quiet)
    assert await driver.api_calls() == calls
    assert (result.cases, result.owners, result.case_fields, result.comments,
            result.rejected) == (0, 0, 0, 0, [])
    assert (await only_case(driver))["SystemModstamp"] == before["SystemModstamp"]
    assert await driver.records("CaseComment") == []


async def test_an_escalation_sets_case_fields_and_posts_its_comment_once(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    opened = conversation(TICKET, customer(11), 1)
    escalation = escalated(
        TICKET, 3, EscalationAction(do="notify_telegram", chat_id=-200, text="Overdue!"),
        set_field("IsEscalated", True), set_field("Priority", "High"),
        EscalationAction(do="reassign", to="tier2"),
        comment("Escalated to tier 2: first response overdue"))
    result = await run(sync, [*opened, escalation])
    assert (result.cases, result.case_fields, result.comments, result.rejected) == \
        (1, 1, 1, [])
    case = await only_case(driver)
    assert (case["IsEscalated"], case["Priority"]) == (True, "High")
    assert case["OwnerId"] == sim.integration_user_id  # reassign is the desk's, not ours
    [note] = await driver.records("CaseComment")
    assert (note["ParentId"], note["CommentBody"], note["IsPublished"]) == (
        case["Id"], marked("Escalated to tier 2: first response overdue",
                           f"{TICKET}#3/comment/4"), False)

    # redelivered to the same consumer, then re-synced by a restarted one: still one comment
    again = await run(sync, [escalation])
    restarted = await run(CaseSync(SimpleSalesforceApi(sf)), [*opened, escalation])
    assert (again.comments, again.rejected) == (1, [])
    assert (restarted.comments, restarted.rejected) == (1, [])
    assert len(await driver.records("CaseComment")) == 1
    assert len(await driver.records("Case")) == 1
    case = await only_case(driver)
    assert (case["IsEscalated"], case["Priority"]) == (True, "High")


async def test_a_public_escalation_comment_is_published(
        sf: Any, driver: SalesforceDriver) -> None:
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, conversation(TICKET, customer(11), 0))
    result = await run(sync, [escalated(TICKET, 2, comment("We are on it", public=True),
                                        comment("internal: call them"))])
    assert (result.comments, result.rejected) == (2, [])
    notes = {unmarked(n["CommentBody"]): n["IsPublished"]
             for n in await driver.records("CaseComment")}
    assert notes == {"We are on it": True, "internal: call them": False}


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EmbeddedLog]:
    opened = await EmbeddedLog.open(tmp_path / "log.sqlite", default_partitions=4)
    yield opened
    await opened.close()


async def _append(log: EmbeddedLog, names: TopicNames, events: list[TicketEvent]) -> None:
    await log.append(names.ticket_events, [Outgoing(e.ticket_id.encode(), encode_event(e))
                                           for e in events])


async def _committed(log: EmbeddedLog, names: TopicNames, n: int) -> bool:
    return sum((await log.committed(GROUP, names.ticket_events)).values()) == n


async def test_refused_owners_and_fields_dead_letter_their_event_and_the_rest_goes_through(
        sf: Any, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    names = TopicNames()
    gone = await driver.create_user("Former Agent")
    await driver.update("User", gone["Id"], {"IsActive": False})
    public_group = await driver.create_group("Everyone", group_type="Regular")
    await driver.restrict_picklist("Case", "Priority")
    first, second, third = "tg:-100:t1", "tg:-100:t2", "tg:-100:t3"
    bad: list[TicketEvent] = [
        escalated(first, 3, set_field("Severity", "S1")),  # no such Case field
        escalated(first, 4, set_field("Priority", "Urgent")),  # not in the picklist
        escalated(first, 5, set_field("IsEscalated", "yes")),  # not a boolean
        assigned(second, 3, gone["Id"]),  # an inactive user
        assigned(second, 4, public_group["Id"])]  # a group that is no queue
    agent = (await driver.org())["agent_user_id"]
    good: list[TicketEvent] = [
        escalated(third, 2, set_field("IsEscalated", True), set_field("Priority", "High"),
                  comment("Escalated")),
        assigned(third, 3, agent)]
    events = [*conversation(first, customer(1), 2), *conversation(second, customer(2), 2),
              *conversation(third, customer(3), 0), *bad, *good]
    await _append(log, names, events)
    stop = asyncio.Event()
    task = asyncio.create_task(SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sf)),
                                          max_backoff=0.2).run(stop))
    try:
        await wait_until(lambda: _committed(log, names, len(events)))
    finally:
        stop.set()
        await task
    letters: dict[str | None, DeadLetter] = {}
    for partition in range(await log.partitions(names.dead_letters)):
        for record in await log.read(names.dead_letters, partition, 0, 100):
            letter = DeadLetter.model_validate_json(record.value)
            assert letter.key not in letters  # one letter per refused event
            letters[letter.key] = letter
    assert sorted(k or "" for k in letters) == sorted(e.event_id for e in bad)
    assert {d.reason for d in letters.values()} == {"salesforce_rejected"}
    codes = {key: letter.detail.split(":")[0] for key, letter in letters.items()}
    assert codes == {f"{first}#3": "INVALID_FIELD",
                     f"{first}#4": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                     f"{first}#5": "JSON_PARSER_ERROR",
                     f"{second}#3": "INACTIVE_OWNER_OR_USER",
                     f"{second}#4": "INVALID_CROSS_REFERENCE_KEY"}
    # the refused values changed nothing; everything else of the batch is in Salesforce
    one, two, three = [await only_case(driver, t) for t in (first, second, third)]
    assert (one["Priority"], one["IsEscalated"], one["Subject"]) == ("Medium", False,
                                                                     f"Inquiry {first}")
    assert two["OwnerId"] != gone["Id"] and two["Subject"] == f"Inquiry {second}"
    assert (three["Priority"], three["IsEscalated"], three["OwnerId"]) == (
        "High", True, agent)
    assert len(await driver.records("Task")) == 4
    assert [unmarked(c["CommentBody"])
            for c in await driver.records("CaseComment")] == ["Escalated"]


async def test_telecase_own_owner_write_is_not_read_back_as_an_owner_change(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    agent = await driver.create_user("Dana Desk")
    sync = CaseSync(SimpleSalesforceApi(sf))
    await run(sync, conversation(TICKET, customer(11), 0))
    watcher = poller(sf, sim, log)
    assert await watcher.poll_once() == 0
    await run(sync, [assigned(TICKET, 2, agent["Id"]),
                     escalated(TICKET, 3, set_field("IsEscalated", True),
                               comment("Escalated", public=True))])
    case = await only_case(driver)
    assert case["OwnerId"] == agent["Id"]
    assert await watcher.poll_once() == 0  # our owner, field and comment writes: echoes
    assert await changes(log) == []

    queue = await driver.create_group("Tier 2")
    await driver.set_case_owner(case["Id"], queue["Id"], user_id=agent["Id"])  # an agent's
    assert await watcher.poll_once() == 1
    [(_, change)] = await changes(log)
    assert (change.change, change.owner_id, change.actor_id) == ("case_updated", queue["Id"],
                                                                 agent["Id"])
