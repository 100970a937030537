"""``telecase demo``: the whole Kafka path on one machine, with simulated Telegram traffic.

It uses the configured Kafka cluster and database when they answer; otherwise, from a source
checkout, it starts a local Apache Kafka broker and PostgreSQL server with the same scripts CI
uses (``.ci/kafka.sh``, ``.ci/postgres.sh``). It then starts the Telegram simulator, points its
webhook at a telecase connector, runs a worker and a projector, and plays customers opening
topics, writing, editing and closing them, while a live table shows the ``cases`` rows.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.live import Live
from sqlalchemy import make_url, select

from projections.db import create_schema, make_engine
from projections.tables import cases
from simulators.telegram import BotApiSimulator, SimulatorDriver
from telecase.demo.simulated import DEMO_TOKEN
from telecase.demo.traffic import DemoSummary, cases_table, customers
from telecase.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def _provision(settings: Settings, console: Console) -> tuple[str, str]:
    """Kafka bootstrap servers and database URL, starting local servers when needed."""
    bootstrap, database = settings.kafka_bootstrap_servers, settings.projection_url("kafka")
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
    metrics = settings.metrics_port  # each process its own port: the given one and the next two
    procs = [subprocess.Popen([sys.executable, "-m", "telecase", *args],
                              env={**env, "TELECASE_METRICS_PORT": str(metrics + i)}
                              if metrics is not None else env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i, args in enumerate((["connector", "telegram"], ["worker"], ["projector"]))]
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
            traffic = asyncio.create_task(customers(tg, summary, stop, random.Random(7)))
            started = time.monotonic()
            with Live(console=console, refresh_per_second=2) as live:
                while duration <= 0 or time.monotonic() - started < duration:
                    with engine.connect() as conn:
                        rows = conn.execute(select(cases).order_by(cases.c.opened_at)).all()
                    live.update(cases_table(rows, "PostgreSQL"))
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
