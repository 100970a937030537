"""Reconciliation with Telegram against the real simulator over HTTP: an open ticket whose topic
was closed (the update never reached telecase) is reopened and recorded; a deleted topic is
recorded once; closed and private tickets are not probed; a dry run probes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.raw_log import BusRawLog
from connectors.salesforce.reconcile import Reconciler
from connectors.telegram.topic_check import TopicProbe
from streams.core.ticket import RecordTopicCheck, decide, fold, initial_state
from streams.schema.envelope import TopicChecked
from streams.schema.events import (
    Actor,
    SourceRef,
    TicketClosed,
    TicketEvent,
    TopicReconciled,
)
from tests.adapters.telegram_out.conftest import T0, Harness, opened


def closed(ticket_id: str, seq: int) -> TicketClosed:
    at = T0 + timedelta(seconds=seq)
    return TicketClosed(event_id=f"{ticket_id}#{seq}", ticket_id=ticket_id, seq=seq,
                        occurred_at=at, recorded_at=at, source=SourceRef(kind="command"),
                        actor=Actor(kind="system"), reason="done")


def reconciler(h: Harness, *, dry_run: bool = False) -> Reconciler:
    async def no_wait(_: float) -> None:
        return None

    return Reconciler(h.bus, h.names.ticket_events, None, None, dry_run=dry_run,
                      topics=TopicProbe(h.api, interval=0.0, sleep=no_wait),
                      topic_log=BusRawLog(h.bus, h.names.telegram_updates))


async def checks_in(h: Harness) -> list[TopicChecked]:
    out: list[TopicChecked] = []
    for p in range(await h.bus.partitions(h.names.telegram_updates)):
        out += [TopicChecked.model_validate_json(r.value)
                for r in await h.bus.read(h.names.telegram_updates, p, 0, 10_000)]
    return out


async def topic_state(h: Harness, chat: int, thread: int) -> dict[str, Any]:
    [topic] = [t for t in await h.tg.topics(chat) if t["message_thread_id"] == thread]
    return topic


async def test_closed_and_deleted_topics_of_open_tickets_are_found_repaired_and_recorded(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    chat = forum["id"]
    threads = [(await h.tg.open_topic(chat, ann["id"], name)).thread_id
               for name in ("Pricing", "Renewal", "Demo", "Old question")]
    a, b, c, d = (f"tg:{chat}:t{t}" for t in threads)
    history: dict[str, list[TicketEvent]] = {
        t: [opened(t, chat, thread)] for t, thread in zip((a, b, c, d), threads, strict=True)}
    history[d].append(closed(d, 2))
    for events in history.values():
        await h.append(*events)
    # the drift: A's topic closed and B's deleted, with no update reaching telecase; D's
    # ticket is closed in the log and its topic open (not a drift: customers may follow up)
    await h.api.call("closeForumTopic", chat_id=chat, message_thread_id=threads[0])
    await h.tg.delete_topic(chat, threads[1], ann["id"])

    report = await reconciler(h).run_once()

    assert report.topics == 3  # A, B, C: the open forum tickets
    assert {(x.ticket_id, x.kind, x.system) for x in report.drifts} == {
        (a, "topic_closed", "telegram"), (b, "topic_missing", "telegram")}
    assert report.corrected == 2
    assert (await topic_state(h, chat, threads[0]))["closed"] is False  # repaired
    assert (await topic_state(h, chat, threads[3]))["closed"] is False  # left alone
    records = {r.ticket_id: r for r in await checks_in(h)}
    assert (records[a].found, records[a].action) == ("closed", "reopened")
    assert (records[b].found, records[b].action) == ("missing", "none")

    # the worker records each as a topic.reconciled event, once
    for ticket, record in records.items():
        state = fold(history[ticket], initial_state("x"))
        [event] = decide(RecordTopicCheck(record, T0), state)
        assert isinstance(event, TopicReconciled)
        assert (event.found, event.source.kind, event.source.change_id) == (
            record.found, "reconcile", record.check_id)
        assert decide(RecordTopicCheck(record, T0), fold([event], state)) == []
        history[ticket].append(event)
        await h.append(event)

    again = await reconciler(h).run_once()
    # A is open again; B is still gone, reported, and not recorded a second time
    assert [(x.ticket_id, x.kind) for x in again.drifts] == [(b, "topic_missing")]
    assert again.corrected == 0 and len(await checks_in(h)) == 2


async def test_a_dry_run_does_not_probe_telegram(h: Harness, forum: dict[str, Any],
                                                 ann: dict[str, Any]) -> None:
    chat = forum["id"]
    thread = (await h.tg.open_topic(chat, ann["id"], "Pricing")).thread_id
    await h.append(opened(f"tg:{chat}:t{thread}", chat, thread))
    await h.api.call("closeForumTopic", chat_id=chat, message_thread_id=thread)

    report = await reconciler(h, dry_run=True).run_once()

    assert report.topics is None and report.drifts == [] and report.corrected == 0
    assert (await topic_state(h, chat, thread))["closed"] is True
    assert await checks_in(h) == []


async def test_flood_control_is_waited_out_and_an_unreachable_group_is_reported(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    chat = forum["id"]
    thread = (await h.tg.open_topic(chat, ann["id"], "Pricing")).thread_id
    await h.append(opened(f"tg:{chat}:t{thread}", chat, thread))
    await h.api.call("closeForumTopic", chat_id=chat, message_thread_id=thread)
    other = await h.tg.create_forum("Partners")
    gone = (await h.tg.open_topic(other["id"], ann["id"], "Partnership")).thread_id
    await h.append(opened(f"tg:{other['id']}:t{gone}", other["id"], gone))
    await h.tg.kick_bot(other["id"], ann["id"])
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    await h.tg.fail_next(2, 429, methods=["reopenForumTopic"], retry_after=3)
    probe = TopicProbe(h.api, interval=0.0, sleep=record_wait)
    report = await Reconciler(h.bus, h.names.ticket_events, None, None, topics=probe,
                              topic_log=BusRawLog(h.bus, h.names.telegram_updates)).run_once()

    kinds = {x.ticket_id.split(":")[1]: x.kind for x in report.drifts}
    assert kinds == {str(chat): "topic_closed", str(other["id"]): "chat_unreachable"}
    assert 3.0 in waits  # retry_after honoured
    assert (await topic_state(h, chat, thread))["closed"] is False
    assert report.corrected == 1
