"""``telecase bench replay``: rebuilding every projection from N ticket events into PostgreSQL.

The events are made here, valid ``streams.schema.events`` models with a realistic life per
ticket (20 events: opened, the customer's messages, SLA started and met, routed, assigned, the
Salesforce Case linked, agent replies, owner and status changes, closed), tickets interleaved in
waves of a thousand like a busy desk, spread over 4 partitions by ticket. They are held decoded
in memory, so the figure is the projectors' and the database's; ``decode_events_per_s`` says
what decoding JSON records from a log adds (``projections.decode``, the replay's own decoding,
measured on a sample in the same run), and ``rebuild_client_cpu_seconds`` how much of the
rebuild was this process's CPU (Python: the projectors' folds and the driver), the rest being
the database's work and waiting for it.

It runs :func:`projections.replay.replay` into ``telecase_rebuild`` and swaps, in a scratch
database of its own on the given server (:func:`bench.pg_settings.scratch_database`: created,
dropped afterwards, every session with ``synchronous_commit=on``), then times the baseline: a
bulk ``COPY ... FROM STDIN`` (psycopg ``cursor.copy``, the rows written in 1 MiB chunks as
``COPY ... TO STDOUT`` gave them) of the very rows the rebuild produced into empty tables defined
like the projection tables (``LIKE ... INCLUDING ALL``: their keys and indexes), all in ONE
transaction: ``copy_rows_per_s``, and ``rebuild_vs_copy`` (how many times longer the rebuild took
than the COPY of its rows). JSON fields:

- ``events``, ``tickets``, ``rebuild_seconds``, ``events_per_s`` (target >= 50,000),
  ``rebuild_client_cpu_seconds``;
- ``rows`` (per table), ``copy_seconds``, ``copy_rows_per_s``, ``rebuild_vs_copy``;
- ``generate_seconds``, ``decode_events_per_s``, ``batch``, ``projections``;
- ``postgres``: the server's durability settings and warnings (:mod:`bench.pg_settings`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.pg_settings import durability, scratch_database
from projections.cases import Offset
from projections.decode import decode
from projections.replay import Fetched, RebuildTarget, choose, rebuild_engine, replay
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    CaseOwnerChanged,
    CaseStatusChanged,
    Customer,
    CustomerMessageReceived,
    SalesforceCaseLinked,
    SlaMet,
    SlaStarted,
    SourceRef,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TicketRouted,
    encode_event,
)

TOPIC = TopicNames().ticket_events
PARTITIONS = 4
PER_TICKET = 20
WAVE = 1000
QUEUES = ("sales", "support", "billing")
AGENTS = tuple(f"agent-{i:02d}" for i in range(20))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
COPY_CHUNK = 1 << 20


def _templates() -> list[TicketEvent]:
    """One valid event per step of a ticket's life (validated once; copies change ids)."""
    base: dict[str, Any] = {"event_id": "x#1", "ticket_id": "x", "seq": 1, "occurred_at": T0,
                            "recorded_at": T0}
    tg = {"source": SourceRef(kind="telegram"), "actor": Actor(kind="customer")}
    desk = {"source": SourceRef(kind="desk"), "actor": Actor(kind="system")}
    sf = {"source": SourceRef(kind="salesforce"), "actor": Actor(kind="agent", id="005A")}
    who = Customer(telegram_user_id=1, username="prospect", first_name="Prospect")
    agent = Agent(salesforce_user_id="005000000000001AAA", display_name="Bo")
    minute = timedelta(minutes=1)

    def message(i: int) -> CustomerMessageReceived:
        return CustomerMessageReceived(**base, **tg, message_id=10 + i, sender=who,
                                       text=f"question {i} about pricing and seats",
                                       content_kind="text", message_version=0,
                                       reply_to_message_id=None)

    def reply(i: int) -> AgentReplied:
        return AgentReplied(**base, **sf, via="salesforce", comment_id=f"c{i}", agent=agent,
                            text=f"answer {i}")

    life: list[TicketEvent] = [
        TicketOpened(**base, **tg, channel="forum_topic", chat_id=-1002000000000, thread_id=5,
                     thread_key="x", subject="Inquiry", subject_message_id=5, customer=who,
                     customer_message_id=5),
        message(0),
        SlaStarted(**base, source=SourceRef(kind="clock"), actor=Actor(kind="system"),
                   tier="standard", team="desk", rule=None, reason="default tier",
                   first_response_target=10 * minute, resolution_target=60 * minute,
                   next_due_at=T0 + 5 * minute),
        TicketRouted(**base, **desk, queue="sales", rule="default", reason="default queue"),
        TicketAssigned(**base, **desk, decision_id="d", agent_id="agent-00",
                       salesforce_user_id="005000000000001AAA", previous_agent_id=None,
                       queue="sales", assigned_by="policy", reason="least loaded"),
        SalesforceCaseLinked(**base, **sf, case_id="500000000000001AAA", case_number="00001",
                             contact_id="003000000000001AAA"),
        reply(0),
        SlaMet(**base, **sf, signal="first_response_met", tier="standard", team="desk",
               reason="first reply", clock="first_response", target=10 * minute,
               elapsed=6 * minute, on_time=True),
    ]
    for i in range(1, 4):
        life += [message(i), reply(i)]
    life += [
        CaseOwnerChanged(**base, **sf, owner_id="005000000000002AAA", owner_name="Cy",
                         previous_owner_id="005000000000001AAA"),
        CaseStatusChanged(**base, **sf, status="Working", previous_status="New",
                          is_closed=False),
        message(5),
        reply(5),
        TicketClosed(**base, **sf, reason="resolved"),
        SlaMet(**base, **sf, signal="resolution_met", tier="standard", team="desk",
               reason="closed", clock="resolution", target=60 * minute, elapsed=40 * minute,
               on_time=True),
    ]
    assert len(life) == PER_TICKET
    return life


def make_events(n: int, partitions: int = PARTITIONS) -> list[tuple[Offset, TicketEvent]]:
    """``n`` events, in log order, with their offsets."""
    life = _templates()
    tickets = -(-n // PER_TICKET)
    next_offset = [0] * partitions
    out: list[tuple[Offset, TicketEvent]] = []

    def lives(first: int, last: int) -> Iterator[tuple[int, int]]:
        for step in range(PER_TICKET):
            for t in range(first, last):
                yield t, step

    for wave in range(0, tickets, WAVE):
        for t, step in lives(wave, min(wave + WAVE, tickets)):
            if len(out) >= n:
                return out
            ticket = f"tg:-1002000000000:t{1000 + t}"
            at = T0 + timedelta(minutes=t // 50 + 2 * step)
            update: dict[str, Any] = {"event_id": f"{ticket}#{step + 1}", "ticket_id": ticket,
                                      "seq": step + 1, "occurred_at": at, "recorded_at": at}
            template = life[step]
            if isinstance(template, TicketOpened):
                update.update(thread_id=1000 + t, thread_key=f"-1002000000000:{1000 + t}",
                              subject=f"Inquiry {t}", subject_message_id=1000 + t,
                              customer=template.customer.model_copy(  # type: ignore[union-attr]
                                  update={"telegram_user_id": 500_000 + t}))
            elif isinstance(template, TicketRouted):
                update["queue"] = QUEUES[t % len(QUEUES)]
            elif isinstance(template, TicketAssigned):
                update.update(agent_id=AGENTS[t % len(AGENTS)], queue=QUEUES[t % len(QUEUES)],
                              decision_id=f"d{t}")
            elif isinstance(template, SalesforceCaseLinked):
                update.update(case_id=f"500{t:015d}", case_number=f"{t:08d}")
            partition = t % partitions
            out.append((Offset(TOPIC, partition, next_offset[partition]),
                        template.model_copy(update=update)))
            next_offset[partition] += 1
    return out


class MemorySource:
    """Decoded events held in memory, served like a log (the replay's ``RecordSource``)."""

    def __init__(self, events: list[tuple[Offset, TicketEvent]]) -> None:
        self.events = events
        self.ends: dict[int, int] = {}
        for pos, _ in events:
            self.ends[pos.partition] = max(self.ends.get(pos.partition, 0), pos.offset + 1)
        self.at = 0

    async def end_offsets(self) -> dict[int, int]:
        return dict(self.ends)

    async def seek(self, positions: dict[int, int]) -> None:
        self.at = 0 if not any(positions.values()) else next(
            (i for i, (pos, _) in enumerate(self.events)
             if pos.offset >= positions.get(pos.partition, 0)), len(self.events))

    async def fetch(self, max_records: int) -> Fetched:
        chunk = self.events[self.at:self.at + max_records]
        self.at += len(chunk)
        positions: dict[int, int] = {}
        for pos, _ in chunk:
            positions[pos.partition] = pos.offset + 1
        return Fetched(list(chunk), positions)


def _decode_rate(events: list[tuple[Offset, TicketEvent]], sample: int = 20_000) -> float:
    payloads = [encode_event(e) for _, e in events[:sample]]
    started = time.perf_counter()
    for payload in payloads:
        decode(payload)
    return len(payloads) / (time.perf_counter() - started)


def _copy(engine: sa.Engine, tables: list[sa.Table]) -> tuple[dict[str, int], float]:
    """Bulk COPY the rows of ``tables`` into empty tables defined like them (``LIKE ...
    INCLUDING ALL``: the same columns, keys and indexes), all in one transaction; rows per
    table and seconds. The rows are first read out with ``COPY ... TO STDOUT`` (untimed), and
    written back as they came, in large chunks: the database's own bulk path, no Python per
    row."""
    dumps: dict[str, bytes] = {}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table in tables:
            data = bytearray()
            with cur.copy(f'COPY "{table.name}" TO STDOUT') as out:
                for chunk in out:
                    data += chunk
            dumps[table.name] = bytes(data)
            cur.execute(f'CREATE TABLE "copy_{table.name}" (LIKE "{table.name}" INCLUDING ALL)')
        raw.commit()
        started = time.perf_counter()
        for table in tables:
            dump = dumps[table.name]
            with cur.copy(f'COPY "copy_{table.name}" FROM STDIN') as into:
                for at in range(0, len(dump), COPY_CHUNK):
                    into.write(dump[at:at + COPY_CHUNK])
        raw.commit()
        seconds = time.perf_counter() - started
        rows = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "copy_{table.name}"')
            rows[table.name] = int(cur.fetchone()[0])  # type: ignore[index]
        raw.commit()
    finally:
        raw.close()
    return rows, seconds


def run(server_url: str, *, events: int, batch: int = 10_000) -> dict[str, Any]:
    started = time.perf_counter()
    generated = make_events(events)
    generate_seconds = time.perf_counter() - started
    decode_rate = _decode_rate(generated)
    with scratch_database(server_url) as url:
        engine = rebuild_engine(url)
        try:
            postgres = durability(engine)
            specs = choose(None)
            target = RebuildTarget(engine, specs, TOPIC)
            cpu = time.process_time()
            result = asyncio.run(replay(target, MemorySource(generated), batch=batch))
            cpu = time.process_time() - cpu
            rows, copy_seconds = _copy(engine, [t for s in specs for t in s.tables])
        finally:
            engine.dispose()
    copied = sum(rows.values())
    return {
        "events": len(generated),
        "tickets": -(-len(generated) // PER_TICKET),
        "partitions": PARTITIONS,
        "projections": result.projections,
        "batch": batch,
        "rebuild_seconds": round(result.seconds, 3),
        "events_per_s": round(len(generated) / result.seconds),
        "rebuild_client_cpu_seconds": round(cpu, 3),
        "target_events_per_s": 50_000,
        "swapped": result.swapped,
        "rows": rows,
        "copy_seconds": round(copy_seconds, 3),
        "copy_rows_per_s": round(copied / copy_seconds) if copy_seconds else None,
        "rebuild_vs_copy": round(result.seconds / copy_seconds, 1) if copy_seconds else None,
        "generate_seconds": round(generate_seconds, 3),
        "decode_events_per_s": round(decode_rate),
        "postgres": postgres,
    }
