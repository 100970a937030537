"""Chaos on Kafka: under a steady load of customer messages through the Telegram simulator and
the webhook, the worker and then the projector are killed with SIGKILL once each and started
again at once under the same identity (static group membership). Nothing the sender sent is
lost or doubled: every ticket's messages in ``ticket.events`` and in its ``cases`` row are
exactly the sender's, seq gap-free. The recovery times (SIGKILL to the restarted process's
first output) are printed.

The session's broker is shared by every test, so it is never restarted. The second test runs
the same load and kills on a private broker of its own (``.ci/kafka.sh`` on free ports, its
storage under tmp_path) and also restarts that broker once (``.ci/kafka.sh restart``: a clean
stop, then a start on the same storage). Meanwhile the webhook's appends wait for the broker
(the producer retries within its request timeout), or it answers 503 once they time out; the
Telegram simulator sends again what timed out or got 503, as Telegram does. Where no private
broker can run (no java or no jars in .ci/kafka/lib: the session's broker comes from
elsewhere), that test is skipped and says why. The private broker is stopped at the end
whatever happens. A third test, on a private broker too, holds what that restart found: the
bus's producer paces its metadata attempts while the broker is away instead of spinning.

Marked ``soak``: the load runs ``TELECASE_SOAK_SECONDS`` (CI's short form: 20; default 20),
and on until the last fault is a fraction of that behind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.runtime.bus import Outgoing
from streams.runtime.kafka.bus import KafkaBus
from streams.schema.events import CustomerMessageReceived
from tests import infra
from tests.e2e.kafka.conftest import Deployment, SimulatorThread, deployed, free_port
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.soak]
TOPICS = 6
RATE = 15.0
"""Messages per second the customers write, over all topics."""
KAFKA_SH = infra.ROOT / ".ci" / "kafka.sh"


class _EventsGrowth(threading.Thread):
    """Samples the end of ``ticket.events`` (summed over its partitions) every 0.1 s."""

    def __init__(self, dep: Deployment) -> None:
        super().__init__(daemon=True)
        self.dep, self.done = dep, threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.dep.bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(self.dep.names.ticket_events, p) for p in range(4)]
            while not self.done.is_set():
                try:
                    ends = await consumer.end_offsets(tps)
                except KafkaError:  # the broker restarting: no sample meanwhile
                    await asyncio.sleep(0.1)
                    continue
                self.samples.append((time.monotonic(), sum(ends.values())))
                await asyncio.sleep(0.1)
        finally:
            await consumer.stop()

    def first_growth_after(self, killed: float, timeout: float = 60) -> float:
        """Seconds from ``killed`` until the topic grew past its size just after the kill
        (its first sample 0.3 s later: what the dead worker had in flight has landed, and no
        new process writes that soon)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            after = [(t, n) for t, n in self.samples if t >= killed + 0.3]
            grown = next((t for t, n in after if after and n > after[0][1]), None)
            if grown is not None:
                return grown - killed
            time.sleep(0.1)
        raise AssertionError(f"ticket.events did not grow within {timeout}s")


def _messages(dep: Deployment) -> int:
    return sum(int(r["message_count"]) for r in dep.cases())


def _first_projection_after(dep: Deployment, at: float, before: int,
                            timeout: float = 60) -> float:
    wait_for(lambda: _messages(dep) > before, timeout, what="the projector projecting again",
             interval=0.1)
    return time.monotonic() - at


@dataclass(frozen=True)
class PrivateBroker:
    """A broker of this test's own (``.ci/kafka.sh`` on free ports, its storage under the
    test's tmp_path), which it may restart without disturbing the session's shared one."""

    home: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, verb: str) -> float:
        """``.ci/kafka.sh <verb>`` for this broker; the seconds it took."""
        began = time.monotonic()
        subprocess.run(["bash", str(KAFKA_SH), verb], check=True, timeout=180, env={
            **os.environ, "TELECASE_KAFKA_PORT": str(self.port),
            "TELECASE_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "TELECASE_KAFKA_HOME": str(self.home)})
        return time.monotonic() - began


def _private_broker_unavailable() -> str | None:
    """Why this machine cannot run a private broker (``None``: it can)."""
    jars = KAFKA_SH.parent / "kafka" / "lib" / ".complete"
    if shutil.which("java") is None or not jars.exists():
        return ("restarting the broker needs a private one from .ci/kafka.sh (java and the "
                "jars in .ci/kafka/lib), not found here; the session's broker "
                f"({os.environ.get('KAFKA_BOOTSTRAP_SERVERS', 'from testcontainers')}) is "
                "shared by every test and is not restarted")
    return None


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """Started for one test and stopped after it whatever happens (one at a time: -Xmx1g)."""
    reason = _private_broker_unavailable()
    if reason is not None:
        pytest.skip(reason)
    port = free_port()
    controller_port = next(p for p in iter(free_port, None) if p != port)
    broker = PrivateBroker(tmp_path / "kafka", port, controller_port)
    try:
        broker.run("start")
        yield broker
    finally:
        broker.run("stop")


@pytest.fixture
def private_deployment(private_broker: PrivateBroker, pg_server: str,
                       tmp_path: Path) -> Iterator[Deployment]:
    with deployed(private_broker.bootstrap, pg_server, tmp_path) as dep:
        yield dep


def test_killing_the_worker_and_the_projector_under_load_loses_and_doubles_nothing(
        deployment: Deployment, telegram: SimulatorThread) -> None:
    _chaos(deployment, telegram, broker=None)


def test_restarting_the_broker_under_load_loses_and_doubles_nothing(
        private_deployment: Deployment, private_broker: PrivateBroker,
        telegram: SimulatorThread) -> None:
    """The same load and kills on a private broker, which is also restarted once."""
    _chaos(private_deployment, telegram, broker=private_broker)


class _FailedMetadataUpdates(logging.Handler):
    """Counts aiokafka's ``Unable to update metadata from ...`` errors."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += str(record.msg).startswith("Unable to update metadata")


def test_a_producer_paces_its_attempts_while_the_broker_is_down(
        private_broker: PrivateBroker) -> None:
    """Found by the restart above: aiokafka's producer, given records while the broker is
    away, asked for metadata again at once after each failure (about 1,600 connection attempts
    and error lines a second, a core busy, the broker's own restart slowed). The bus's producer
    waits its retry backoff in between, and the records still go out once the broker is back."""
    failed = _FailedMetadataUpdates()
    client_log = logging.getLogger("aiokafka")
    client_log.addHandler(failed)

    async def scenario() -> tuple[int, float, list[int]]:
        bus = KafkaBus(private_broker.bootstrap)
        await bus.start()
        try:
            await bus.create_topic("outage", 1)
            await bus.append("outage", [Outgoing(b"k", b"before")])
            pending: list[asyncio.Future[list[int]]] = []

            async def keep_appending() -> None:  # as the webhook does, through the outage
                for n in itertools.count():
                    pending.append(asyncio.ensure_future(
                        bus.append("outage", [Outgoing(b"k", b"%d" % n)])))
                    await asyncio.sleep(0.02)

            appending = asyncio.ensure_future(keep_appending())
            await asyncio.sleep(0.5)
            await asyncio.to_thread(private_broker.run, "stop")  # a clean stop, appending on
            stopped = len(pending)
            before, cpu = failed.count, time.process_time()
            await asyncio.sleep(3)
            attempts, cpu_s = failed.count - before, time.process_time() - cpu
            assert not any(p.done() for p in pending[stopped:])
            await asyncio.to_thread(private_broker.run, "restart")
            appending.cancel()
            appended = await asyncio.wait_for(asyncio.gather(*pending), 60)
            return attempts, cpu_s, sorted(offset for [offset] in appended)
        finally:
            await bus.close()

    try:
        attempts, cpu_s, offsets = asyncio.run(scenario())
    finally:
        client_log.removeHandler(failed)
    print(f"\nbroker down 3 s, a record every 20 ms meanwhile: {attempts} failed metadata "
          f"attempts, {cpu_s:.2f} s of CPU")
    assert offsets == list(range(1, len(offsets) + 1))  # all appended once, none lost
    assert attempts <= 3 / 0.1 + 10  # one per retry backoff (100 ms), not a busy loop
    assert cpu_s < 0.5


def _chaos(dep: Deployment, telegram: SimulatorThread, broker: PrivateBroker | None) -> None:
    seconds = float(os.environ.get("TELECASE_SOAK_SECONDS", "20"))
    gap = seconds / (4 if broker is None else 5)  # between faults, all under load
    dep.webhook()
    dep.worker()
    dep.projector()
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)

    async def setup(tg: Any) -> tuple[int, list[tuple[int, int]]]:
        forum = await tg.create_forum("Sales")
        opened = []
        for n in range(TOPICS):
            customer = await tg.create_user(f"Prospect {n}")
            topic = await tg.open_topic(forum["id"], customer["id"], f"Inquiry {n}")
            opened.append((customer["id"], topic.thread_id))
        return forum["id"], opened

    forum_id, opened = telegram.drive(setup)
    sent: dict[int, list[str]] = {thread: [] for _, thread in opened}  # the ground truth
    faults_done, finished = threading.Event(), threading.Event()

    def customers() -> None:  # at least ``seconds``, and until every fault is past
        async def write(tg: Any) -> None:
            start, i = time.monotonic(), 0
            while time.monotonic() - start < seconds or not faults_done.is_set():
                user_id, thread_id = opened[i % TOPICS]
                text = f"message {i}"
                await tg.write(forum_id, user_id, text, thread_id)
                sent[thread_id].append(text)
                i += 1
                await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
        try:
            telegram.drive(write)
        finally:
            finished.set()

    growth = _EventsGrowth(dep)
    growth.start()
    writer = threading.Thread(target=customers)
    began = time.monotonic()
    writer.start()
    try:
        wait_for(lambda: _messages(dep) > 10, 120, what="traffic flowing")
        time.sleep(gap)
        killed = time.monotonic()
        dep.processes[1].kill()  # the worker
        dep.worker()  # the same name: the same TELECASE_INSTANCE_ID
        recovery = [f"worker {growth.first_growth_after(killed):.2f} s (SIGKILL to its first "
                    "event)"]
        time.sleep(gap)
        before = _messages(dep)
        killed = time.monotonic()
        dep.processes[2].kill()  # the projector
        dep.projector()
        recovery.append(f"projector {_first_projection_after(dep, killed, before):.2f} s "
                        "(SIGKILL to its first projected message)")
        if broker is not None:
            time.sleep(gap)
            down = broker.run("restart")  # a clean stop, then a start on the same storage
            back, before = time.monotonic(), _messages(dep)
            events_s = growth.first_growth_after(back)
            projected_s = _first_projection_after(dep, back, before)
            recovery.append(f"broker restart {down:.2f} s (.ci/kafka.sh restart), then new "
                            f"events {events_s:.2f} s and projected messages "
                            f"{projected_s:.2f} s after it was back")
        time.sleep(gap)
        faults_done.set()
        writer.join(seconds + 120)
        assert finished.is_set()
        loaded = time.monotonic() - began
        total = sum(len(texts) for texts in sent.values())
        wait_for(lambda: _messages(dep) == total, 120, what="every message projected")
    finally:
        faults_done.set()
        growth.done.set()
        growth.join(10)
    print(f"\nchaos: {total} messages at {RATE}/s over {loaded:.0f} s; recovery: "
          + "; ".join(recovery))

    rows = {r["thread_id"]: r for r in dep.cases()}
    assert {thread: r["message_count"] for thread, r in rows.items()} == {
        thread: len(texts) for thread, texts in sent.items()}
    log = ticket_log(dep)  # also checks: gap-free seq, anything re-derived identical
    by_thread = {events[0].thread_id: Counter(e.text for e in events  # type: ignore[union-attr]
                                              if isinstance(e, CustomerMessageReceived))
                 for events in log.values()}
    assert by_thread == {thread: Counter(texts) for thread, texts in sent.items()}
    assert all(r["last_seq"] == len(log[r["ticket_id"]]) for r in rows.values())
