""":mod:`telecase.ops.deadletter` and its watch on a real embedded log: ids, filters, what
retry re-drives (and what it refuses), markers, dismissal, the run's retry inbox, the gauge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from telecase.ops.deadletter import (
    Index,
    RetryInbox,
    read_letters,
    read_new,
    retry,
    select,
)
from telecase.ops.deadletter_watch import WAITING, drain, publish, watch_dead_letters

NAMES = TopicNames()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def letter(reason: str, consumer: str, topic: str, offset: int, payload: bytes,
           at: datetime = T0) -> Outgoing:
    dead = DeadLetter(reason=reason, detail="boom", consumer=consumer, topic=topic, partition=0,
                      offset=offset, key="chat:7", payload_b64=DeadLetter.encode_payload(payload),
                      failed_at=at)
    return Outgoing(b"chat:7", dead.model_dump_json().encode(), partition=0)


async def opened(tmp_path: Path) -> EmbeddedLog:
    log = await EmbeddedLog.open(tmp_path / "log.sqlite", 1)
    for topic in NAMES.all():
        await log.create_topic(topic, 1)
    await log.append(NAMES.dead_letters, [
        letter("invalid_envelope", "ticket-folder", NAMES.telegram_updates, 3, b'{"a": 1}'),
        letter("projection_failed", "projector:cases", NAMES.ticket_events, 9, b"\x00raw",
               at=T0 + timedelta(hours=1)),
        Outgoing(None, b"not json", partition=0),
    ])
    return log


async def test_letters_are_listed_by_id_and_filtered(tmp_path: Path) -> None:
    log = await opened(tmp_path)
    try:
        index = await read_letters(log, NAMES)
    finally:
        await log.close()
    assert list(index.letters) == ["0:0", "0:1", "0:2"]
    assert [x.id for x in select(index, reason="invalid_envelope")] == ["0:0"]
    assert [x.id for x in select(index, stage="projector:cases")] == ["0:1"]
    assert [x.id for x in select(index, since=T0 + timedelta(minutes=30))] == [
        "0:1", "0:2"]  # the unreadable one: when it was written
    assert index.letters["0:0"].full()["payload"] == {"a": 1}
    assert "payload_b64" in index.letters["0:1"].full()  # not JSON: kept as base64
    assert index.letters["0:2"].reason == "unreadable"


async def test_retry_redrives_once_refuses_ticket_events_and_dismisses(tmp_path: Path) -> None:
    log = await opened(tmp_path)
    try:
        index = await read_letters(log, NAMES)
        outcomes = await retry(log, NAMES, list(index.letters.values())[:2])
        assert [o.action for o in outcomes] == ["retried", "not_redrivable"]
        assert "telecase replay" in outcomes[1].detail
        [copy] = await log.read(NAMES.telegram_updates, 0, 0, 10)
        assert (copy.key, copy.value) == (b"chat:7", b'{"a": 1}')

        again = await read_letters(log, NAMES)  # the marker, read back from the log
        assert again.letters["0:0"].retried is not None
        assert [o.action for o in await retry(log, NAMES, [again.letters["0:0"]])] == [
            "already_retried"]
        dismissed = await retry(log, NAMES, [again.letters["0:1"]], dismiss=True)
        assert [o.action for o in dismissed] == ["dismissed"]
        assert len(await log.read(NAMES.telegram_updates, 0, 0, 10)) == 1
        assert len(await log.read(NAMES.ticket_events, 0, 0, 10)) == 0
        final = await read_letters(log, NAMES)
        assert dict(final.waiting()) == {("?", "unreadable"): 1}
    finally:
        await log.close()


async def test_the_inbox_is_drained_by_the_watch_and_the_gauge_follows(tmp_path: Path) -> None:
    log = await opened(tmp_path)
    inbox = RetryInbox(tmp_path / "inbox.sqlite")
    try:
        index = await read_new(log, NAMES.dead_letters, Index())
        publish(index)
        assert WAITING.labels("ticket-folder", "invalid_envelope")._value.get() == 1
        inbox.put(["0:0", "9:9"], dismiss=False)  # an id not (yet) known stays queued
        await drain(log, NAMES, index, inbox)
        assert [row[1] for row in inbox.take()] == ["9:9"]
        publish(await read_new(log, NAMES.dead_letters, index))
        assert WAITING.labels("ticket-folder", "invalid_envelope")._value.get() == 0

        stop = asyncio.Event()
        inbox.put(["0:1"], dismiss=True)
        watch = asyncio.create_task(watch_dead_letters(log, NAMES, stop,
                                                       inbox=inbox.path, every=0.05))
        for _ in range(100):
            if (await read_letters(log, NAMES)).letters["0:1"].retried is not None:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await watch
        assert WAITING.labels("projector:cases", "projection_failed")._value.get() == 0
    finally:
        await log.close()
