"""Chaos on Kafka: under a steady load of customer messages through the Telegram simulator and
the webhook, the worker and then the projector are killed with SIGKILL once each and started
again at once under the same identity (static group membership). Nothing the sender sent is
lost or doubled: every ticket's messages in ``ticket.events`` and in its ``cases`` row are
exactly the sender's, seq gap-free. The recovery times (SIGKILL to the restarted process's
first output) are printed.

The broker is not restarted here: it is the one every test of the session shares, so
restarting it would break the tests running beside this one.

Marked ``soak``: the load runs ``TELECASE_SOAK_SECONDS`` (CI's short form: 20; default 20).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.schema.events import CustomerMessageReceived
from tests.e2e.kafka.conftest import Deployment, SimulatorThread
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.soak]
TOPICS = 6
RATE = 15.0
"""Messages per second the customers write, over all topics."""


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
                ends = await consumer.end_offsets(tps)
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


def test_killing_the_worker_and_the_projector_under_load_loses_and_doubles_nothing(
        deployment: Deployment, telegram: SimulatorThread) -> None:
    dep = deployment
    seconds = float(os.environ.get("TELECASE_SOAK_SECONDS", "20"))
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
    finished = threading.Event()

    def customers() -> None:
        async def write(tg: Any) -> None:
            start, i = time.monotonic(), 0
            while time.monotonic() - start < seconds:
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
    writer.start()
    try:
        wait_for(lambda: _messages(dep) > 10, 120, what="traffic flowing")
        time.sleep(seconds / 4)
        killed = time.monotonic()
        dep.processes[1].kill()  # the worker
        dep.worker()  # the same name: the same TELECASE_INSTANCE_ID
        worker_s = growth.first_growth_after(killed)
        time.sleep(seconds / 4)
        before = _messages(dep)
        killed = time.monotonic()
        dep.processes[2].kill()  # the projector
        dep.projector()
        projector_s = _first_projection_after(dep, killed, before)
        writer.join(seconds + 120)
        assert finished.is_set()
        total = sum(len(texts) for texts in sent.values())
        wait_for(lambda: _messages(dep) == total, 120, what="every message projected")
    finally:
        growth.done.set()
        growth.join(10)
    print(f"\nchaos: {total} messages at {RATE}/s over {seconds:.0f} s; recovery after "
          f"SIGKILL: worker {worker_s:.2f} s (to its first event), projector "
          f"{projector_s:.2f} s (to its first projected message)")

    rows = {r["thread_id"]: r for r in dep.cases()}
    assert {thread: r["message_count"] for thread, r in rows.items()} == {
        thread: len(texts) for thread, texts in sent.items()}
    log = ticket_log(dep)  # also checks: gap-free seq, anything re-derived identical
    by_thread = {events[0].thread_id: Counter(e.text for e in events  # type: ignore[union-attr]
                                              if isinstance(e, CustomerMessageReceived))
                 for events in log.values()}
    assert by_thread == {thread: Counter(texts) for thread, texts in sent.items()}
    assert all(r["last_seq"] == len(log[r["ticket_id"]]) for r in rows.values())
