"""``telecase bench recovery``: how fast a Kafka worker killed under load is replaced.

Runs against the Kafka cluster in the settings, in topics and a consumer group of its own (a
fresh ``bench<id>.`` prefix). One ``telecase worker`` (a static group member, its
``TELECASE_INSTANCE_ID`` fixed) folds a steady load of customer messages appended straight to
``telegram.updates`` (several forums, so every partition gets some). After ``kill_after``
seconds the worker is killed with SIGKILL and started again at once under the same identity
(``--new-identity``: under another one, as without static membership, so the old member's
session must expire first). It prints JSON:

- ``lag_falling_s``: from the SIGKILL to the first look (every 0.1 s) at which the restarted
  worker has appended events again, so the partitions' lag falls;
- ``caught_up_s``: from the SIGKILL until the lag is back to at most what it was before it;
- ``lag_peak``, ``lag_before_kill``: updates not yet folded, summed over the partitions.

Each message in an open ticket becomes exactly one ticket event, so the lag of partition p is
``(updates appended since the start) - (events appended since the start)`` from the end offsets
of the two topics (``telegram.updates`` and ``ticket.events`` are co-partitioned by chat). An
event re-derived after the crash counts as folded again, so the lag after the restart reads a
little low, never high.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.traffic import FORUM_BASE, ForumTraffic
from connectors.raw_log import KafkaRawLog
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.topics import TopicNames
from streams.schema.envelope import RawTelegramUpdate

if TYPE_CHECKING:  # telecase runs the benches (`telecase bench`) and passes its settings in
    from telecase.settings import Settings

BOT_ID = 7000000001
FORUMS, TOPICS_PER_FORUM = 8, 5
SAMPLE_EVERY = 0.1


class RecoveryBenchError(RuntimeError):
    """The bench could not measure (the worker did not start, or never caught up)."""


@dataclass
class _Samples:
    """Lag over time: ``(seconds since the start, lag, events appended)``."""

    rows: list[tuple[float, int, int]] = field(default_factory=list)


class _Ends:
    """End offsets of the raw and the events topic, from one group-less client."""

    def __init__(self, bootstrap: str, names: TopicNames, partitions: int) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.raw = [TopicPartition(names.telegram_updates, p) for p in range(partitions)]
        self.events = [TopicPartition(names.ticket_events, p) for p in range(partitions)]

    async def totals(self) -> tuple[int, int]:
        ends = await self.consumer.end_offsets([*self.raw, *self.events])
        return sum(ends[tp] for tp in self.raw), sum(ends[tp] for tp in self.events)


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    inherited = {k: v for k, v in os.environ.items() if k != "TELECASE_METRICS_PORT"}
    return subprocess.Popen([sys.executable, "-m", "telecase", "worker"],
                            env={**inherited, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _envelope(update: dict[str, Any]) -> RawTelegramUpdate:
    return RawTelegramUpdate(bot_id=BOT_ID, source="webhook", update=update,
                             received_at=datetime.now(UTC))


async def _settled(ends: _Ends, timeout: float) -> tuple[int, int]:
    """End offsets once the events topic has stopped growing for a second."""
    deadline = time.monotonic() + timeout
    last, still = (-1, -1), 0
    while time.monotonic() < deadline:
        now = await ends.totals()
        still = still + 1 if now == last and now[1] > 0 else 0
        if still >= 10:
            return now
        last = now
        await asyncio.sleep(SAMPLE_EVERY)
    raise RecoveryBenchError(f"the worker did not settle within {timeout}s")


async def run_recovery_bench(settings: Settings, *, rate: int = 200, seconds: float = 30.0,
                             kill_after: float = 10.0,
                             new_identity: bool = False) -> dict[str, Any]:
    bootstrap, partitions = settings.kafka_bootstrap_servers, settings.topic_partitions
    names = TopicNames(f"bench{uuid.uuid4().hex[:8]}.")
    await ensure_topics(bootstrap, names, partitions=partitions)
    identity = f"bench-recovery-{uuid.uuid4().hex[:6]}"
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "TELECASE_TOPIC_PREFIX": names.prefix,
           "TELECASE_TOPIC_PARTITIONS": str(partitions),
           "TELECASE_WORKER_APP_ID": f"{names.prefix}worker",
           "TELECASE_CONSUMER_SESSION_TIMEOUT": str(settings.consumer_session_timeout),
           "TELECASE_DATA_DIR": os.path.join(settings.data_dir, "bench-recovery"),
           "TELECASE_INSTANCE_ID": identity, "TELECASE_LOG_LEVEL": "warning"}
    forums = [ForumTraffic(chat_id=FORUM_BASE - k, start_update=1 + k * 10_000_000)
              for k in range(FORUMS)]
    raw_log = KafkaRawLog(bootstrap, names.telegram_updates, partitions)
    ends = _Ends(bootstrap, names, partitions)
    await raw_log.start()
    await ends.consumer.start()
    worker = _spawn(env)
    try:
        # every ticket opened first, so each later message is exactly one event
        await raw_log.append([_envelope(u) for f in forums for n in range(TOPICS_PER_FORUM)
                              for u in (f.create_topic(n), f.write(n, "hello"))])
        raw0, events0 = await _settled(ends, timeout=120)
        samples = _Samples()
        start = time.monotonic()
        load = asyncio.create_task(_load(raw_log, forums, rate, seconds))
        killed_at: float | None = None
        while not load.done() or samples.rows[-1][1] > 0:
            now = time.monotonic() - start
            if now > seconds + 120:
                raise RecoveryBenchError("the restarted worker did not catch up in 120 s")
            raw, events = await ends.totals()
            samples.rows.append((now, (raw - raw0) - (events - events0), events))
            if killed_at is None and now >= kill_after:
                _kill(worker)
                killed_at = time.monotonic() - start
                if new_identity:
                    env["TELECASE_INSTANCE_ID"] = f"{identity}-again"
                worker = _spawn(env)
            await asyncio.sleep(SAMPLE_EVERY)
        await load
    finally:
        _kill(worker)
        await ends.consumer.stop()
        await raw_log.stop()
    assert killed_at is not None
    return _figures(samples, killed_at, rate=rate, seconds=seconds, partitions=partitions,
                    session_timeout=settings.consumer_session_timeout,
                    static=not new_identity)


async def _load(raw_log: KafkaRawLog, forums: list[ForumTraffic], rate: int,
                seconds: float) -> None:
    """``rate`` messages a second for ``seconds``, in ten small appends a second."""
    start, sent, total = time.monotonic(), 0, int(rate * seconds)
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + max(1, rate // 10))
        batch = [_envelope(forums[i % FORUMS].write(i // FORUMS % TOPICS_PER_FORUM,
                                                    f"question {i}"))
                 for i in range(sent, due)]
        await raw_log.append(batch)
        sent = due
        await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))


def _figures(samples: _Samples, killed_at: float, **run: Any) -> dict[str, Any]:
    before = [lag for t, lag, _ in samples.rows if t < killed_at]
    after = [(t, lag, events) for t, lag, events in samples.rows if t >= killed_at]
    events_at_kill = max((e for t, _, e in samples.rows if t < killed_at), default=0)
    falling = next((t for t, _, events in after if events > events_at_kill), None)
    lag_before = max(before[-max(1, int(2 / SAMPLE_EVERY)):], default=0)
    caught_up = next((t for t, lag, _ in after
                      if falling is not None and t >= falling and lag <= lag_before), None)
    return {
        "runtime": "kafka", **run,
        "killed_at_s": round(killed_at, 2),
        "lag_falling_s": None if falling is None else round(falling - killed_at, 2),
        "caught_up_s": None if caught_up is None else round(caught_up - killed_at, 2),
        "lag_before_kill": lag_before,
        "lag_peak": max((lag for _, lag, _ in after), default=0),
        "sample_every_s": SAMPLE_EVERY,
    }
