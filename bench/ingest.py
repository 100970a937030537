"""``telecase bench ingest``: updates through webhook → Kafka → worker → projection.

Runs against the Kafka cluster and the PostgreSQL server in the settings, in topics and consumer
groups of its own (a fresh ``bench<id>.`` prefix) and two scratch databases (created, dropped
afterwards: :func:`bench.pg_settings.scratch_database`), and prints JSON:

- ``webhook_updates_per_s``: N updates POSTed to the webhook endpoint (in this process, 64
  concurrent clients) and made durable in ``telegram.updates``;
- ``worker_events_per_s`` / ``worker_updates_per_s``: one worker process folding the N raw
  updates into ``ticket.events`` while a projector process projects them (Kafka record
  timestamps of the first and last event written);
- ``bare_loop_events_per_s``: a bare consume+produce loop (:mod:`bench.bare_loop`) in the
  worker's place under the same conditions: its own process, the same raw topic and partitions,
  producing the very events the worker wrote for each record to a topic a projector projects
  into the same (empty) tables; timed the same way. ``worker_vs_bare_loop`` is the ratio of
  the two rates, from the same run (target >= 0.5); ``backlog_cpu_us_per_event``: the CPU
  each of the two processes (all threads, and the main thread alone) used from its first
  event's timestamp to its last, per event (sampled every 20 ms from ``/proc``): steadier than
  the rates on a shared machine;
- ``projection_events_per_s``: the projector applying the worker's events, first to last
  committed row as seen by polling;
- ``latency_ms``: end to end, from the moment a customer's message is POSTed to the webhook to
  the moment its case row is committed and visible (polled every ``poll_ms``, so a figure is
  late by at most one poll interval), with updates paced at ``rate`` per second by a client in
  a process of its own (:mod:`bench.paced`: each ticket is two updates, its topic's creation,
  then the message, per chat in order as Telegram delivers), the worker and projector warm;
  ``stages`` splits it: the webhook's acceptance, the ticket event's append by the worker (its
  Kafka record timestamp), and the projector beginning the batch that wrote the row (the
  row's ``projected_at``), each from the same POST; ``cpu_ms_per_update``: the CPU the worker,
  the projector and this process (the webhook) used during the run, per update sent (counted
  until the last row was seen, so idle time after is included), and ``paced_client`` the
  paced client's own (its requests and row watch: load the measured machine also carries);
- ``postgres``: the server's durability settings as the bench's sessions saw them, and
  warnings (:mod:`bench.pg_settings`); every session, the projector's too, runs with
  ``synchronous_commit=on``.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Engine, func, select

from bench.loadgen import post_all
from bench.pg_settings import durability, scratch_database
from bench.traffic import ForumTraffic
from connectors.raw_log import KafkaRawLog
from connectors.telegram.webhook import create_webhook_app
from projections.db import create_schema, make_engine
from projections.tables import cases
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.topics import TopicNames

if TYPE_CHECKING:  # telecase runs the benches (`telecase bench`) and passes its settings in
    from aiokafka.structs import ConsumerRecord

    from telecase.settings import Settings

SECRET = "bench-secret"
BOT_ID = 7000000001
LATENCY_SECONDS = 10.0


async def _records(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic (read until it stays quiet)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"bench-ts-{uuid.uuid4()}",
                                max_poll_records=5000)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                idle += 1
                continue
            idle = 0
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def _span(records: list[ConsumerRecord[bytes, bytes]]) -> float:
    """Seconds between a topic's first and last record timestamps."""
    stamps = [float(r.timestamp) / 1000 for r in records]
    return max(max(stamps) - min(stamps), 1e-6)


def _payloads(raw: list[ConsumerRecord[bytes, bytes]], events: list[ConsumerRecord[bytes, bytes]],
              ) -> dict[tuple[int, int], list[tuple[bytes, bytes]]]:
    """The events the worker wrote for each raw record (matched by Telegram ``update_id``)."""
    by_update: dict[int | None, list[tuple[bytes, bytes]]] = {}
    update_id = None
    for e in sorted(events, key=lambda r: (r.partition, r.offset)):
        # an event without one (an SLA clock's) came from the update before it
        update_id = json.loads(e.value)["source"].get("update_id") or update_id
        by_update.setdefault(update_id, []).append((e.key or b"", e.value or b""))
    return {(r.partition, r.offset): by_update.get(json.loads(r.value)["update"]["update_id"],
                                                   [])
            for r in raw}


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


async def _wait_rows(engine: Engine, expected_messages: int, timeout: float) -> list[float]:
    """Poll the cases table; returns the times at which progress was first and last seen."""
    seen: list[float] = []
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with engine.connect() as conn:
            total = int(conn.execute(select(
                func.coalesce(func.sum(cases.c.message_count), 0))).scalar_one())
        if total and not seen:
            seen.append(time.perf_counter())
        if total >= expected_messages:
            seen.append(time.perf_counter())
            return seen
        await asyncio.sleep(0.05)
    raise TimeoutError(f"projection incomplete after {timeout}s")


def _percentiles(lat: list[float]) -> dict[str, Any]:
    lat = sorted(lat)
    return {"samples": len(lat),
            "p50": round(statistics.median(lat), 1) if lat else None,
            "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
            "max": round(lat[-1], 1) if lat else None}


def _cpu_seconds(pid: int, stat: str = "stat") -> float:
    """User and system CPU seconds a live process (or, with ``stat`` ``task/TID/stat``, one of
    its threads) has used (Linux ``/proc``)."""
    with open(f"/proc/{pid}/{stat}") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuTrace:
    """A process's CPU seconds (all its threads, and its main thread alone) sampled every
    ``interval`` by a thread of this process, to tell what it used between two wall-clock
    instants (a topic's first and last record timestamps): the CPU a backlog's fold took."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float, float]] = []  # (time.time(), process, main)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                with open(f"/proc/{self.pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] in "ZX":  # exited
                        return
                self.samples.append((time.time(), _cpu_seconds(self.pid),
                                     _cpu_seconds(self.pid, f"task/{self.pid}/stat")))
            except OSError:  # reaped
                return
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _at(self, when: float) -> tuple[float, float]:
        """CPU seconds (process, main thread) at ``when``, between the samples around it (after
        the last one, which a process that exited since leaves: the last)."""
        after = bisect.bisect_left(self.samples, (when,))
        if after == 0:
            raise ValueError("the CPU trace begins after the instant")
        if after == len(self.samples):
            return self.samples[-1][1:]
        (t0, p0, m0), (t1, p1, m1) = self.samples[after - 1], self.samples[after]
        share = (when - t0) / (t1 - t0) if t1 > t0 else 1.0
        return p0 + (p1 - p0) * share, m0 + (m1 - m0) * share

    def us_per(self, records: list[ConsumerRecord[bytes, bytes]]) -> dict[str, float]:
        """CPU microseconds a record from the first record's timestamp to the last's."""
        start, end = min(r.timestamp for r in records), max(r.timestamp for r in records)
        (p0, m0), (p1, m1) = self._at(start / 1000), self._at(end / 1000)
        return {"process": round((p1 - p0) * 1e6 / len(records), 1),
                "main_thread": round((m1 - m0) * 1e6 / len(records), 1)}


def _bench_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


async def _latency(url: str, db_url: str, rate: int, bootstrap: str, events_topic: str,
                   processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, Any]:
    """End to end (POST to committed row), and the two stages before it: accepted by the
    webhook, and its ticket event appended by the worker (the record's Kafka timestamp). The
    client and the row watch run in a process of their own (:mod:`bench.paced`), so this
    one serves only the webhook."""
    cpu = {name: _cpu_seconds(proc.pid) for name, proc in processes.items()}
    cpu["webhook"] = _bench_cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "paced.json")
        driver = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.paced", url, SECRET, db_url, str(rate),
            str(LATENCY_SECONDS), out)
        if await driver.wait() != 0:
            raise RuntimeError(f"bench.paced exited with {driver.returncode}")
        cpu = {name: _cpu_seconds(proc.pid) - cpu[name] for name, proc in processes.items()
               } | {"webhook": _bench_cpu_seconds() - cpu["webhook"]}
        with open(out) as f:
            paced = json.load(f)
    cpu["paced_client"] = paced["cpu_s"]
    sent = {int(k): v for k, v in paced["sent"].items()}
    updates = {int(k): v for k, v in paced["updates"].items()}
    wall_minus_perf = time.time() - time.perf_counter()  # perf_counter: CLOCK_MONOTONIC
    appended: dict[int, float] = {}
    for r in await _records(bootstrap, events_topic):
        thread_id = updates.get(json.loads(r.value or b"{}")["source"].get("update_id"))
        if thread_id is not None:
            appended.setdefault(thread_id, r.timestamp / 1000 - wall_minus_perf)

    def since_sent(at: dict[int, float]) -> dict[str, Any]:
        return _percentiles([(at[k] - t) * 1000 for k, t in sent.items() if k in at])

    sent_updates = 2 * len(sent)
    return {"rate_updates_per_s": rate, "poll_ms": paced["poll_ms"],
            "cpu_ms_per_update": {name: round(seconds * 1000 / sent_updates, 3)
                                  for name, seconds in cpu.items()},
            **since_sent({int(k): v for k, v in paced["seen"].items()}),
            "stages": {"webhook_accepted": since_sent(
                           {int(k): v for k, v in paced["accepted"].items()}),
                       "event_appended": since_sent(appended),
                       "projection_begun": since_sent(
                           {int(k): v for k, v in paced["projection_begun"].items()})}}


async def run_ingest_bench(settings: Settings, *, updates: int, rate: int,
                           chats: int) -> dict[str, Any]:
    with scratch_database(settings.projection_url("kafka")) as worker_db, \
            scratch_database(settings.projection_url("kafka")) as loop_db:
        return await _run(settings, worker_db, loop_db, updates=updates, rate=rate, chats=chats)


async def _run(settings: Settings, worker_db: str, loop_db: str, *, updates: int, rate: int,
               chats: int) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    names = TopicNames(f"bench{uuid.uuid4().hex[:8]}.")
    loop_names = TopicNames(f"{names.prefix}loop.")
    await ensure_topics(bootstrap, names, partitions=settings.topic_partitions)
    await ensure_topics(bootstrap, loop_names, partitions=settings.topic_partitions)
    engine = make_engine(worker_db)
    create_schema(engine)
    postgres = durability(engine)

    raw_log = KafkaRawLog(bootstrap, names.telegram_updates)
    await raw_log.start()
    app = create_webhook_app(raw_log, bot_id=BOT_ID, secret=SECRET)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/telegram"

    traffic = ForumTraffic()
    per_topic = max(1, updates // chats - 1)
    batch = traffic.topic_messages(chats, per_topic)
    webhook_s = await post_all(url, SECRET, batch)
    expected_messages = chats * per_topic

    def env(of: TopicNames, db_url: str) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "TELECASE_DATABASE_URL": db_url,
                "TELECASE_TOPIC_PREFIX": of.prefix,
                "TELECASE_TOPIC_PARTITIONS": str(settings.topic_partitions),
                "TELECASE_WORKER_APP_ID": f"{of.prefix}worker",
                "TELECASE_PROJECTOR_GROUP_ID": f"{of.prefix}projector",
                "TELECASE_DATA_DIR": os.path.join(settings.data_dir, "bench"),
                "TELECASE_LOG_LEVEL": "warning"}

    worker = _spawn(["-m", "telecase", "worker"], env(names, worker_db))
    worker_cpu = _CpuTrace(worker.pid)
    projector = _spawn(["-m", "telecase", "projector"], env(names, worker_db))
    try:
        progress = await _wait_rows(engine, expected_messages, timeout=600)
        worker_cpu.stop()
        events = await _records(bootstrap, names.ticket_events)
        raw = await _records(bootstrap, names.telegram_updates)
        worker_s = _span(events)
        projection_s = max(progress[-1] - progress[0], 1e-6)
        latency = await _latency(url, worker_db, rate, bootstrap, names.ticket_events,
                                 {"worker": worker, "projector": projector})
    finally:
        _stop(worker, projector)
        await runner.cleanup()
        await raw_log.stop()
        engine.dispose()

    # The bare loop in the worker's place: same raw records, same events out, a projector on
    # them into a database as empty as the worker's was.
    payloads = _payloads(raw, events)
    expected_events = sum(len(v) for v in payloads.values())
    engine = make_engine(loop_db)
    create_schema(engine)
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump(payloads, f)
    try:
        loop = _spawn(["-m", "bench.bare_loop", bootstrap, names.telegram_updates,
                       loop_names.ticket_events, f"{loop_names.prefix}bare",
                       f.name, str(expected_events)], {})
        loop_cpu = _CpuTrace(loop.pid)
        loop_projector = _spawn(["-m", "telecase", "projector"], env(loop_names, loop_db))
        try:
            await _wait_rows(engine, expected_messages, timeout=600)
            loop_cpu.stop()
            loop_events = await _records(bootstrap, loop_names.ticket_events)
            loop_s = _span(loop_events)
        finally:
            _stop(loop, loop_projector)
    finally:
        os.unlink(f.name)
        engine.dispose()

    worker_rate = len(events) / worker_s
    loop_rate = expected_events / loop_s
    return {
        "runtime": "kafka", "updates": len(batch), "topics": chats,
        "ticket_events": len(events), "bare_loop_events": expected_events,
        "partitions": settings.topic_partitions,
        "webhook_updates_per_s": round(len(batch) / webhook_s),
        "worker_updates_per_s": round(len(batch) / worker_s),
        "worker_events_per_s": round(worker_rate),
        "projection_events_per_s": round(len(events) / projection_s),
        "bare_loop_events_per_s": round(loop_rate),
        "worker_vs_bare_loop": round(worker_rate / loop_rate, 3),
        "backlog_cpu_us_per_event": {"worker": worker_cpu.us_per(events),
                                     "bare_loop": loop_cpu.us_per(loop_events)},
        "latency_ms": latency,
        "postgres": postgres,
    }
