"""The paced client of ``telecase bench ingest``'s latency run, in a process of its own so
that neither it nor its row watch shares the webhook's core:
``python -m bench.paced URL SECRET DATABASE_URL RATE SECONDS OUT``.

It opens fresh tickets in a forum of its own (:data:`CHAT_ID`), two updates each (the topic's
creation, then the customer's message, sent once the creation was accepted: per chat in order,
as Telegram delivers), ``RATE`` updates per second in all for ``SECONDS``, while a thread polls
the ``cases`` table every :data:`POLL_S` seconds for the rows of those topics with their message
projected. It writes JSON to ``OUT``, every time a ``time.perf_counter()`` (CLOCK_MONOTONIC, the
same clock in every process of the host), by thread id: ``sent`` (the message's POST began),
``accepted`` (the webhook answered), ``seen`` (the first poll that found its committed row
began: committed at most one poll interval earlier), ``projection_begun`` (the row's
``projected_at``: when the projector began the batch that wrote it), and ``updates`` (the
message's ``update_id -> thread_id``), and ``cpu_s``: the CPU seconds this process (client and
row watch) took from sending the first update to seeing the last row.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, select

from bench.telegram_sender import SECRET_HEADER, ConnectionPool
from bench.traffic import FORUM_BASE, ForumTraffic
from projections.tables import cases

CHAT_ID = FORUM_BASE - 1
"""A forum no other phase of the bench writes to."""
POLL_S = 0.005
MAX_CONNECTIONS = 40
"""Concurrent webhook requests, as Telegram's default ``max_connections`` (setWebhook)."""


class RowWatch:
    """A thread polling ``cases`` for the rows of a forum's topics with a message projected:
    the ``perf_counter`` of the poll that first saw each (``thread_id -> seconds``).

    It asks only for the topics it was told to :meth:`expect` and has not seen yet, by their
    ticket ids (the table's primary key: a few index lookups a poll), so that polling every
    :data:`POLL_S` seconds costs the database next to nothing; a scan of ``cases`` at that
    pace took about 0.15 of a core from the server being measured."""

    def __init__(self, engine: Engine, chat_id: int) -> None:
        self.engine, self.chat_id = engine, chat_id
        self.seen: dict[int, float] = {}
        self.begun: dict[int, float] = {}
        """When the projector began the batch that wrote each row (its ``projected_at``)."""
        self._waiting: dict[str, int] = {}  # ticket id -> thread id, expected and not seen
        self._lock = threading.Lock()
        self._wall_minus_perf = time.time() - time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, thread_id: int) -> None:
        """Watch for the row of the forum's topic ``thread_id`` (its ticket id as the core
        names a forum topic's ticket: ``tg:<chat id>:t<thread id>``)."""
        with self._lock:
            self._waiting[f"tg:{self.chat_id}:t{thread_id}"] = thread_id

    def __enter__(self) -> RowWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                with self._lock:
                    waiting = list(self._waiting)
                if waiting:
                    query = select(cases.c.ticket_id, cases.c.projected_at).where(
                        cases.c.ticket_id.in_(waiting), cases.c.message_count >= 1)
                    asked = time.perf_counter()
                    rows = conn.execute(query).all()
                    conn.rollback()
                    with self._lock:
                        for ticket_id, projected_at in rows:
                            thread_id = self._waiting.pop(ticket_id)
                            self.seen[thread_id] = asked
                            self.begun[thread_id] = (projected_at.timestamp()
                                                     - self._wall_minus_perf)
                self._stop.wait(POLL_S)


@dataclass
class Paced:
    sent: dict[int, float] = field(default_factory=dict)
    accepted: dict[int, float] = field(default_factory=dict)
    updates: dict[int, int] = field(default_factory=dict)


async def send_paced(url: str, secret: str,
                     tickets: Iterator[tuple[dict[str, Any], dict[str, Any]]],
                     rate: int, seconds: float, watch: RowWatch) -> Paced:
    """Fresh tickets, two updates each, ``rate`` updates per second in all, over at most
    :data:`MAX_CONNECTIONS` keep-alive connections of the Telegram-like sender's lean client
    (:class:`bench.telegram_sender.ConnectionPool`: each request's bytes built before the
    clock starts), so that the load generator takes as little of the measured machine as it
    can."""
    paced = Paced()
    pool = ConnectionPool(url, MAX_CONNECTIONS,
                          {SECRET_HEADER: secret, "Content-Type": "application/json"})
    planned = []
    for slot in range(0, int(rate * seconds), 2):
        created, said = next(tickets)
        planned.append((slot, created["message"]["message_id"], said["update_id"],
                        pool.request(json.dumps(created).encode()),
                        pool.request(json.dumps(said).encode())))
    start = time.perf_counter()

    async def one(slot: int, thread_id: int, update_id: int, creation: bytes,
                  message: bytes) -> None:
        await asyncio.sleep(max(0.0, start + slot / rate - time.perf_counter()))
        if (status := await pool.post(creation)) != 200:
            raise RuntimeError(f"webhook answered {status}")
        await asyncio.sleep(max(0.0, start + (slot + 1) / rate - time.perf_counter()))
        paced.updates[update_id] = thread_id
        watch.expect(thread_id)
        paced.sent[thread_id] = time.perf_counter()
        status = await pool.post(message)
        paced.accepted[thread_id] = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")

    try:
        await asyncio.gather(*(one(*plan) for plan in planned))
    finally:
        pool.close()
    return paced


async def drive(url: str, secret: str, engine: Engine, rate: int, seconds: float,
                ) -> dict[str, Any]:
    traffic = ForumTraffic(chat_id=CHAT_ID, start_update=10**9)
    cpu_at_start = time.process_time()
    with RowWatch(engine, CHAT_ID) as watch:
        paced = await send_paced(url, secret, traffic.fresh_tickets(0), rate, seconds,
                                  watch)
        deadline = time.perf_counter() + 120
        while not set(paced.sent) <= set(watch.seen) and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    missing = set(paced.sent) - set(watch.seen)
    if missing:
        raise TimeoutError(f"{len(missing)} paced tickets never reached the cases table")
    return {"sent": paced.sent, "accepted": paced.accepted, "updates": paced.updates,
            "seen": watch.seen, "projection_begun": watch.begun, "poll_ms": POLL_S * 1000,
            "cpu_s": time.process_time() - cpu_at_start}


def main() -> None:
    url, secret, db_url, rate, seconds, out = sys.argv[1:7]
    engine = create_engine(db_url)
    try:
        result = asyncio.run(drive(url, secret, engine, int(rate), float(seconds)))
    finally:
        engine.dispose()
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
