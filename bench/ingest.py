"""``telecase bench ingest``: updates through webhook → Kafka → worker → projection.

Runs against the Kafka cluster and database in the settings, in topics and a consumer group of
its own (a fresh ``bench<id>.`` prefix), and prints JSON:

- ``webhook_updates_per_s``: N updates POSTed to the webhook endpoint (in this process, 64
  concurrent clients) and made durable in ``telegram.updates``;
- ``worker_events_per_s`` / ``worker_updates_per_s``: one worker folding the N raw updates into
  ``ticket.events`` (Kafka record timestamps of the first and last event written);
- ``projection_events_per_s``: the projector applying those events to the ``cases`` table;
- ``baseline_consume_produce_per_s``: a bare aiokafka loop consuming the same raw topic and
  producing each record to another topic, measured in the same run, and the ratio to it;
- ``latency_ms``: p50/p99 from webhook acceptance to the case row's commit, with updates paced
  at ``rate`` per second (each update opens a new ticket, so each row times one update).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from bench.loadgen import post_all
from bench.traffic import ForumTraffic, post_ticket
from connectors.raw_log import KafkaRawLog
from connectors.telegram.webhook import SECRET_HEADER, create_webhook_app
from projections.db import create_schema, make_engine
from projections.tables import cases
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.topics import TopicNames

if TYPE_CHECKING:  # telecase runs the benches (`telecase bench`) and passes its settings in
    from telecase.settings import Settings

SECRET = "bench-secret"
BOT_ID = 7000000001


async def _timestamps(bootstrap: str, topic: str) -> tuple[float, float, int]:
    """First and last record timestamps (seconds) and the record count of a topic."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"bench-ts-{uuid.uuid4()}",
                                max_poll_records=5000)
    await consumer.start()
    first, last, count = float("inf"), 0.0, 0
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                idle += 1
                continue
            idle = 0
            for records in batch.values():
                for r in records:
                    first, last = min(first, r.timestamp / 1000), max(last, r.timestamp / 1000)
                    count += 1
    finally:
        await consumer.stop()
    return first, last, count


async def _baseline(bootstrap: str, source: str, target: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"bench-base-{uuid.uuid4()}",
                                max_poll_records=2000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        done, start = 0, None
        while done < expected:
            batch = await consumer.getmany(timeout_ms=1000)
            if start is None and batch:
                start = time.perf_counter()
            futures = [await producer.send(target, r.value, key=r.key)
                       for records in batch.values() for r in records]
            for f in futures:
                await f
            done += len(futures)
            await consumer.commit()
        return expected / (time.perf_counter() - (start or time.perf_counter()))
    finally:
        await consumer.stop()
        await producer.stop()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "telecase", *args], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_rows(engine: Any, expected_messages: int, timeout: float) -> list[float]:
    """Poll the cases table; returns the times at which progress was first and last seen."""
    seen: list[float] = []
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with engine.connect() as conn:
            total = conn.execute(select(func.coalesce(func.sum(cases.c.message_count), 0)))
            total = int(total.scalar_one())
        if total and not seen:
            seen.append(time.perf_counter())
        if total >= expected_messages:
            seen.append(time.perf_counter())
            return seen
        await asyncio.sleep(0.05)
    raise TimeoutError(f"projection incomplete after {timeout}s")


async def run_ingest_bench(settings: Settings, *, updates: int, rate: int,
                           chats: int) -> dict[str, Any]:
    bootstrap = settings.kafka_bootstrap_servers
    names = TopicNames(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, names, partitions=settings.topic_partitions)
    engine = make_engine(settings.projection_url("kafka"))
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(cases.delete())
        conn.exec_driver_sql("DELETE FROM projector_checkpoints")

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

    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "TELECASE_DATABASE_URL": settings.projection_url("kafka"),
           "TELECASE_TOPIC_PREFIX": names.prefix,
           "TELECASE_TOPIC_PARTITIONS": str(settings.topic_partitions),
           "TELECASE_WORKER_APP_ID": f"{names.prefix}worker",
           "TELECASE_PROJECTOR_GROUP_ID": f"{names.prefix}projector",
           "TELECASE_DATA_DIR": os.path.join(settings.data_dir, "bench"),
           "TELECASE_LOG_LEVEL": "warning"}
    baseline = await _baseline(bootstrap, names.telegram_updates, f"{names.prefix}baseline",
                               len(batch))
    worker = _spawn(["worker"], env)
    projector = _spawn(["projector"], env)
    try:
        progress = await _wait_rows(engine, expected_messages, timeout=600)
        first, last, events = await _timestamps(bootstrap, names.ticket_events)
        worker_s = max(last - first, 1e-6)
        projection_s = max(progress[-1] - progress[0], 1e-6)

        # latency at a paced rate, workers warm
        paced = traffic.fresh_tickets(chats + 1)
        paced_from = datetime.now(UTC)
        sent = 0
        duration = 5.0
        start = time.perf_counter()
        async with aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as session:
            pending = []
            total = int(rate * duration)
            while sent < total:
                due = start + sent / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(post_ticket(session, url, next(paced))))
                sent += 1
            responses = await asyncio.gather(*pending)
            for r in responses:
                r.release()
        await _wait_rows(engine, expected_messages + sent, timeout=120)
        with engine.connect() as conn:
            rows = conn.execute(select(cases.c.projected_at, cases.c.last_event_recorded_at)
                                .where(cases.c.last_event_recorded_at >= paced_from)).all()
        lat = sorted((p - r).total_seconds() * 1000 for p, r in rows)
    finally:
        for proc in (worker, projector):
            proc.terminate()
            proc.wait(30)
        await runner.cleanup()
        await raw_log.stop()
        engine.dispose()

    worker_rate = events / worker_s
    return {
        "runtime": "kafka", "updates": len(batch), "topics": chats, "ticket_events": events,
        "partitions": settings.topic_partitions,
        "webhook_updates_per_s": round(len(batch) / webhook_s),
        "worker_updates_per_s": round(len(batch) / worker_s),
        "worker_events_per_s": round(worker_rate),
        "projection_events_per_s": round(events / projection_s),
        "baseline_consume_produce_per_s": round(baseline),
        "worker_vs_baseline": round(len(batch) / worker_s / baseline, 3),
        "latency_ms": {
            "rate_per_s": rate, "samples": len(lat),
            "p50": round(statistics.median(lat), 1) if lat else None,
            "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
        },
    }
