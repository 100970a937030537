"""``telecase bench ingest --runtime embedded``: the same measurements on the embedded log.

Everything telecase does runs in this one process and one event loop (so on one core): the
webhook endpoint appending to the SQLite log, the embedded worker and the projector into SQLite.
The HTTP clients playing Telegram run in a separate process (``bench.loadgen``). Figures:

- ``webhook_updates_per_s``: N updates POSTed (64 concurrent clients) and durable in the log;
- ``worker_updates_per_s``: the worker folding those N updates into ticket events;
- ``projection_events_per_s``: the projector applying the events to ``cases``;
- ``end_to_end_updates_per_s``: all three at once, from the first POST to the last row;
- ``latency_ms``: p50/p99 from webhook acceptance to the committed row at a paced rate.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bench.ingest import BOT_ID, SECRET
from bench.traffic import ForumTraffic, post_ticket
from connectors.raw_log import BusRawLog
from connectors.telegram.webhook import SECRET_HEADER, create_webhook_app
from projections.bus_runner import BusProjector
from projections.db import create_schema, make_engine
from projections.tables import cases
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.topics import TopicNames


async def _stage(data: Path, name: str) -> tuple[EmbeddedLog, Any, TopicNames, str,
                                                  web.AppRunner]:
    log = await EmbeddedLog.open(data / f"{name}.sqlite")
    engine = make_engine(f"sqlite:///{data / f'{name}-projections.sqlite'}")
    create_schema(engine)
    names = TopicNames()
    app = create_webhook_app(BusRawLog(log, names.telegram_updates), bot_id=BOT_ID,
                             secret=SECRET)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return log, engine, names, f"http://127.0.0.1:{port}/telegram", runner


async def _load(url: str, updates_file: Path) -> float:
    """POST the file's updates from a separate process; seconds taken."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.loadgen", url, SECRET, str(updates_file),
        stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("load generator failed")
    return float(out.decode().strip())


async def _until(predicate: Any, timeout: float = 600) -> float:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark stage did not finish")
        await asyncio.sleep(0.01)
    return time.perf_counter()


def _messages(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(cases.c.message_count), 0)))
                   .scalar_one())


async def run_embedded_bench(*, updates: int, rate: int, chats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="telecase-bench-") as tmp:
        data = Path(tmp)
        per_topic = max(1, updates // chats - 1)
        batch = ForumTraffic().topic_messages(chats, per_topic)

        # stage by stage: webhook, then worker, then projector
        log, engine, names, url, runner = await _stage(data, "staged")
        updates_file = data / "updates.json"
        updates_file.write_text(json.dumps(batch))
        webhook_s = await _load(url, updates_file)
        stop = asyncio.Event()
        worker = EmbeddedWorker(log, names)
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        worker_done = await _until(lambda: worker.folded >= len(batch))
        events = await log.end_offset(names.ticket_events, 0)
        projector = BusProjector(log, engine, names)
        start_p = time.perf_counter()
        ptask = asyncio.create_task(projector.run(stop))
        projection_done = await _until(lambda: projector.applied >= events)
        stop.set()
        await asyncio.gather(task, ptask)
        await runner.cleanup()
        await log.close()
        engine.dispose()

        # all at once, then paced latency
        log, engine, names, url, runner = await _stage(data, "live")
        stop = asyncio.Event()
        loops = [asyncio.create_task(EmbeddedWorker(log, names).run(stop)),
                 asyncio.create_task(BusProjector(log, engine, names).run(stop))]
        e2e_start = time.perf_counter()
        load_s = await _load(url, updates_file)
        expected = chats * per_topic
        e2e_done = await _until(lambda: _messages(engine) >= expected)
        paced_from = datetime.now(UTC)
        fresh = ForumTraffic(chat_id=-1003000000000).fresh_tickets(0)
        import aiohttp
        total = int(rate * 5)
        async with aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as session:
            pending = []
            t0 = time.perf_counter()
            for i in range(total):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(post_ticket(session, url, next(fresh))))
            for resp in await asyncio.gather(*pending):
                resp.release()
        await _until(lambda: _messages(engine) >= expected + total, 120)
        with engine.connect() as conn:
            rows = conn.execute(select(cases.c.projected_at, cases.c.last_event_recorded_at)
                                .where(cases.c.last_event_recorded_at >= paced_from)).all()
        latencies = sorted((p - r).total_seconds() * 1000 for p, r in rows)
        stop.set()
        await asyncio.gather(*loops)
        await runner.cleanup()
        await log.close()
        engine.dispose()

    return {
        "runtime": "embedded", "updates": len(batch), "topics": chats, "ticket_events": events,
        "webhook_updates_per_s": round(len(batch) / webhook_s),
        "worker_updates_per_s": round(len(batch) / (worker_done - start)),
        "projection_events_per_s": round(events / (projection_done - start_p)),
        "end_to_end_updates_per_s": round(len(batch) / (e2e_done - e2e_start)),
        "end_to_end_webhook_updates_per_s": round(len(batch) / load_s),
        "latency_ms": {
            "rate_per_s": rate, "samples": len(latencies),
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1)
            if latencies else None,
        },
    }
