"""``telecase demo``: the whole Kafka path on one machine, with simulated Telegram traffic.

It uses the configured Kafka cluster and database when they answer; otherwise, from a source
checkout, it starts a local Apache Kafka broker and PostgreSQL server with the same scripts CI
uses (``.ci/kafka.sh``, ``.ci/postgres.sh``). It then starts the Telegram simulator, points its
webhook at a telecase connector, runs a worker and a projector, and plays customers opening
topics, writing, editing and closing them, while a live table shows the ``cases`` rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import make_url, select

from connectors.telegram.simulator import BotApiSimulator, SimulatorDriver
from projections.db import create_schema, make_engine
from projections.tables import cases
from telecase.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_TOKEN = "7000000001:demo-token"


@dataclass
class DemoSummary:
    tickets: int = 0
    messages: int = 0
    updates_sent: int = 0
    errors: list[str] = field(default_factory=list)


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def _provision(settings: Settings, console: Console) -> tuple[str, str]:
    """Kafka bootstrap servers and database URL, starting local servers when needed."""
    bootstrap, database = settings.kafka_bootstrap_servers, settings.database_url
    scripts = ROOT / ".ci"
    if not _reachable(bootstrap):
        if not (scripts / "kafka.sh").exists():
            raise RuntimeError(f"Kafka at {bootstrap} does not answer; set "
                               "KAFKA_BOOTSTRAP_SERVERS")
        console.print("[dim]starting a local Kafka broker (KRaft) ...[/dim]")
        subprocess.run(["bash", str(scripts / "kafka.sh"), "start"], check=True)
        bootstrap = f"127.0.0.1:{os.environ.get('TELECASE_KAFKA_PORT', '19092')}"
    try:
        engine = make_engine(database)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        if not (scripts / "postgres.sh").exists():
            raise RuntimeError("the database does not answer; set TELECASE_DATABASE_URL") from None
        console.print("[dim]starting a local PostgreSQL server ...[/dim]")
        subprocess.run(["bash", str(scripts / "postgres.sh"), "start"], check=True)
        port = os.environ.get("TELECASE_PG_PORT", "15432")
        database = f"postgresql+psycopg://postgres@127.0.0.1:{port}/telecase"
    return bootstrap, database


def _demo_database(server_url: str) -> str:
    """A fresh ``telecase_demo`` database next to the configured one: the demo never writes
    into the configured database itself."""
    url = make_url(server_url)
    if url.drivername.startswith("sqlite"):
        return server_url
    admin = make_engine(url.render_as_string(hide_password=False)).execution_options(
        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql('DROP DATABASE IF EXISTS "telecase_demo" WITH (FORCE)')
        conn.exec_driver_sql('CREATE DATABASE "telecase_demo"')
    admin.dispose()
    return url.set(database="telecase_demo").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _customers(tg: SimulatorDriver, summary: DemoSummary, stop: asyncio.Event,
                     rng: random.Random) -> None:
    forum = await tg.create_forum("Sales desk")
    open_topics: list[tuple[int, int, int]] = []  # (user, thread, last message)
    n = 0
    while not stop.is_set():
        roll = rng.random()
        try:
            if not open_topics or roll < 0.2:
                n += 1
                user = await tg.create_user(f"Prospect {n}", username=f"prospect{n}")
                topic = await tg.open_topic(forum["id"], user["id"],
                                            rng.choice(["Pricing", "Demo request", "Integration",
                                                        "Onboarding", "Security review"])
                                            + f" #{n}")
                said = await tg.write(forum["id"], user["id"], "Hello, quick question",
                                      topic.thread_id)
                open_topics.append((user["id"], topic.thread_id or 0, said.message_id))
                summary.updates_sent += 2
            elif roll < 0.8:
                user_id, thread, _ = rng.choice(open_topics)
                said = await tg.write(forum["id"], user_id, "Any update on this?", thread)
                open_topics = [(u, t, said.message_id if t == thread else m)
                               for u, t, m in open_topics]
                summary.updates_sent += 1
            elif roll < 0.9:
                user_id, thread, last = rng.choice(open_topics)
                await tg.edit(forum["id"], last, "Any update on this? (edited)")
                summary.updates_sent += 1
            else:
                user_id, thread, _ = open_topics.pop(rng.randrange(len(open_topics)))
                await tg.close_topic(forum["id"], thread, user_id)
                summary.updates_sent += 1
        except Exception as exc:  # shown in the summary; the demo goes on
            summary.errors.append(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(0.2, 0.8))


def _table(rows: list[Any]) -> Table:
    table = Table(title="telecase: cases (from PostgreSQL)", expand=True)
    for col in ("ticket", "subject", "customer", "status", "msgs", "last message"):
        table.add_column(col)
    for r in rows[-20:]:
        table.add_row(r.ticket_id, r.subject, r.customer_username or "-", r.status,
                      str(r.message_count),
                      r.last_message_at.strftime("%H:%M:%S") if r.last_message_at else "-")
    return table


async def run_demo(settings: Settings, duration: float) -> DemoSummary:
    console = Console()
    console.print("[bold]telecase demo[/bold]: no Telegram or Salesforce credentials are "
                  "used; a simulated Telegram sends the traffic.")
    bootstrap, database = _provision(settings, console)
    prefix = f"demo{uuid.uuid4().hex[:6]}."
    port = _free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "TELECASE_DATABASE_URL": database, "TELECASE_TOPIC_PREFIX": prefix,
           "TELECASE_WORKER_APP_ID": f"{prefix}worker",
           "TELECASE_PROJECTOR_GROUP_ID": f"{prefix}projector",
           "TELECASE_TELEGRAM_BOT_TOKEN": DEMO_TOKEN,
           "TELECASE_TELEGRAM_WEBHOOK_SECRET": uuid.uuid4().hex,
           "TELECASE_WEBHOOK_HOST": "127.0.0.1", "TELECASE_WEBHOOK_PORT": str(port),
           "TELECASE_LOG_LEVEL": "warning"}
    database = _demo_database(database)
    env["TELECASE_DATABASE_URL"] = database
    engine = make_engine(database)
    create_schema(engine)
    procs = [subprocess.Popen([sys.executable, "-m", "telecase", *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for args in (["connector", "telegram"], ["worker"], ["projector"])]
    sim = BotApiSimulator(DEMO_TOKEN)
    await sim.start()
    summary = DemoSummary()
    stop = asyncio.Event()
    try:
        for _ in range(100):
            if _reachable(f"127.0.0.1:{port}"):
                break
            await asyncio.sleep(0.2)
        async with SimulatorDriver(sim.base_url) as tg:
            import httpx
            async with httpx.AsyncClient() as http:
                await http.post(f"{sim.base_url}/bot{DEMO_TOKEN}/setWebhook", json={
                    "url": f"http://127.0.0.1:{port}/telegram",
                    "secret_token": env["TELECASE_TELEGRAM_WEBHOOK_SECRET"]})
            traffic = asyncio.create_task(_customers(tg, summary, stop, random.Random(7)))
            started = time.monotonic()
            with Live(console=console, refresh_per_second=2) as live:
                while duration <= 0 or time.monotonic() - started < duration:
                    with engine.connect() as conn:
                        rows = conn.execute(select(cases).order_by(cases.c.opened_at)).all()
                    live.update(_table(rows))
                    if any(p.poll() is not None for p in procs):
                        summary.errors.append("a telecase process exited unexpectedly")
                        break
                    await asyncio.sleep(1)
            stop.set()
            await traffic
        await asyncio.sleep(3)  # let the last updates reach the projection
        with engine.connect() as conn:
            rows = conn.execute(select(cases)).all()
        summary.tickets = len(rows)
        summary.messages = sum(r.message_count for r in rows)
    finally:
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        await sim.stop()
        engine.dispose()
    return summary
