"""Real Kafka and PostgreSQL for the integration tests, and telecase processes to run on them.

Where they come from, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``TELECASE_TEST_DATABASE_URL`` (or ``DATABASE_URL``): use those;
2. a usable Docker engine: testcontainers starts them;
3. otherwise ``.ci/kafka.sh`` (Apache Kafka from Maven Central, KRaft, loopback) and
   ``.ci/postgres.sh`` (Debian's PostgreSQL) start them, and stop them after the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


def _docker_usable() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def kafka() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if _docker_usable():
        from testcontainers.kafka import KafkaContainer
        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    port = int(os.environ.get("TELECASE_KAFKA_PORT", "19092"))
    with _local_server(ROOT / ".ci" / "kafka.sh", port):
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    given = os.environ.get("TELECASE_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    if _docker_usable():
        from testcontainers.postgres import PostgresContainer
        with PostgresContainer("postgres:16", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    port = int(os.environ.get("TELECASE_PG_PORT", "15432"))
    with _local_server(ROOT / ".ci" / "postgres.sh", port):
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/telecase"


@contextlib.contextmanager
def _local_server(script: Path, port: int) -> Iterator[None]:
    """Start the server with ``script`` unless one already listens on ``port`` (another
    checkout's or session's run, or .ci/run's); stop it afterwards only if this run started it,
    so a second pytest never takes down a server the first one is using."""
    with socket.socket() as probe:
        running = probe.connect_ex(("127.0.0.1", port)) == 0
    if running:
        yield
        return
    subprocess.run(["bash", str(script), "start"], check=True)
    try:
        yield
    finally:
        subprocess.run(["bash", str(script), "stop"], check=False)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Process:
    """A ``telecase`` subcommand in its own process, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.args, self.env, self.name = args, env, name
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._terminated = False

    def start(self) -> Process:
        self._terminated = False
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "telecase", *self.args],
                                     env={**os.environ, **self.env}, cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, like a crashed machine."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def terminate(self) -> None:
        """SIGTERM, once, without waiting (:meth:`stop` waits)."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close()
        return self.proc.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


async def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> None:
    """``await predicate()`` until it is true; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, f"timed out after {timeout}s"
        await asyncio.sleep(interval)


def port_open(port: int) -> bool:
    import socket
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def read_cases(url: str) -> list[dict[str, object]]:
    """The ``cases`` rows of a projection database (none before the projector made it)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("cases"):
                return []
            rows = conn.execute(sa.text("SELECT * FROM cases ORDER BY ticket_id"))
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def stop_all(processes: list[Process]) -> None:
    """Stop ``processes`` at once, for a test's teardown: each is sent SIGTERM, newest first,
    before any is waited for, so their clean shutdowns overlap (one after the other, a Kafka
    deployment's took 10-13 s of each test's teardown). Not for a restart within a test,
    where one process's shutdown may still need another."""
    for proc in reversed(processes):
        proc.terminate()
    for proc in reversed(processes):
        proc.stop()


def show_outputs(processes: list[Process]) -> None:
    """Print each process's exit and log tail (pytest shows it only when a test failed)."""
    for proc in processes:
        print(f"----- {proc.name} (exit {proc.proc.returncode if proc.proc else None})")
        print(proc.output()[-3000:])
