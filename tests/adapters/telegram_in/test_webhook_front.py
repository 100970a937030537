"""The webhook front (its own process) and its spool: a 200 means the update is committed
(``synchronous=FULL``) in the spool; concurrent requests share commits; a ``kill -9`` of the
front loses no acknowledged update, and the mover carries each into the log exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors.raw_log import BusRawLog
from connectors.telegram.webhook import SECRET_HEADER, create_webhook_app
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.spool import SpoolMover, open_spool, spool_files
from tests.e2e.kafka.conftest import free_port

SECRET = "front-secret"
TOPIC = "telegram.updates"
ROOT = Path(__file__).resolve().parents[3]


def update(n: int) -> dict[str, Any]:
    return {"update_id": n, "message": {
        "message_id": n, "date": 1, "text": f"m{n}", "chat": {"id": 5 + n % 7, "type": "private"},
        "from": {"id": 5 + n % 7, "is_bot": False, "first_name": "A"}}}


def spooled_ids(spool: Path) -> list[int]:
    """What another connection sees committed in the spool."""
    db = sqlite3.connect(spool)
    try:
        values = [bytes(v) for (v,) in db.execute("SELECT value FROM records ORDER BY offset")]
    finally:
        db.close()
    return [json.loads(v)["update"]["update_id"] for v in values]


async def logged_ids(log: EmbeddedLog) -> list[int]:
    records = await log.read(TOPIC, 0, 0, 1_000_000)
    return [json.loads(r.value)["update"]["update_id"] for r in records]


async def test_concurrent_requests_share_commits_and_each_200_is_committed_first(
        tmp_path: Path) -> None:
    spool_path = tmp_path / "spool.sqlite"
    spool = await open_spool(spool_path)
    assert spool.commit_in_thread
    commits = 0
    original = spool._commit

    def counting(batch: Any) -> Any:
        nonlocal commits
        commits += 1
        return original(batch)

    spool._commit = counting  # type: ignore[method-assign]
    app = create_webhook_app(BusRawLog(spool, TOPIC), bot_id=7, secret=SECRET)
    acknowledged: list[int] = []
    async with TestClient(TestServer(app)) as client:
        async def post(n: int) -> None:
            resp = await client.post("/telegram", json=update(n),
                                     headers={SECRET_HEADER: SECRET})
            assert resp.status == 200
            # answered: another connection sees it committed already
            assert n in spooled_ids(spool_path)
            acknowledged.append(n)

        await asyncio.gather(*(post(n) for n in range(1, 201)))
    assert sorted(acknowledged) == list(range(1, 201))
    assert commits < 200  # grouped: one commit served several requests
    assert spool._writer_db is not None
    assert spool._writer_db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    await spool.close()


async def test_the_mover_carries_each_update_into_the_log_once_across_restarts(
        tmp_path: Path) -> None:
    spool_path, log_path = tmp_path / "spool.sqlite", tmp_path / "log.sqlite"
    spool = await open_spool(spool_path)
    await BusRawLog(spool, TOPIC).append([_Envelope(n) for n in range(1, 51)])
    log = await EmbeddedLog.open(log_path)
    first = SpoolMover(log, spool_path, TOPIC, batch_max=20, prune_every=0.0)
    assert await first.move_once() == 20
    first._close()  # a crash after a move: the position is in the log with it
    await BusRawLog(spool, TOPIC).append([_Envelope(n) for n in range(51, 61)])
    await spool.close()  # the front stopped (or died)
    second = SpoolMover(log, spool_path, TOPIC, batch_max=20)
    assert await second.recover() == 40
    assert not any(f.exists() for f in spool_files(spool_path))
    assert await logged_ids(log) == list(range(1, 61))
    await log.close()


async def test_the_mover_reads_and_prunes_the_spool_by_its_key(tmp_path: Path) -> None:
    """Each move reads on from where the last stopped, and each prune deletes what is moved,
    through the records' primary key (no scan of the spool, whatever it holds)."""
    spool_path = tmp_path / "spool.sqlite"
    spool = await open_spool(spool_path)
    await BusRawLog(spool, TOPIC).append([_Envelope(n) for n in range(1, 51)])
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    mover = SpoolMover(log, spool_path, TOPIC, batch_max=20, prune_every=0.0)
    db = mover._connect()
    assert db is not None
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    assert [await mover.move_once() for _ in range(2)] == [20, 20]
    db.set_trace_callback(None)
    assert spooled_ids(spool_path) == list(range(41, 51))
    reads = [s for s in statements if s.startswith(("SELECT offset", "DELETE"))]
    assert len(reads) == 4
    for statement in reads:
        plan = " ".join(str(step[-1]) for step in db.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert "SEARCH records" in plan and "SCAN" not in plan, (statement, plan)
    mover._close()
    await spool.close()
    await log.close()


async def test_the_mover_lingers_under_load_and_never_holds_a_lone_update(
        tmp_path: Path) -> None:
    """A move of several records waits ``linger`` before the next (so moves carry more); a
    move of one record does not, and a stop ends a linger."""
    spool_path = tmp_path / "spool.sqlite"
    spool = await open_spool(spool_path)
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    mover = SpoolMover(log, spool_path, TOPIC, linger=30.0)
    stop = asyncio.Event()
    running = asyncio.create_task(mover.run(stop))

    async def moved(count: int, within: float) -> bool:
        for _ in range(int(within / 0.01)):
            if mover.moved >= count:
                return True
            await asyncio.sleep(0.01)
        return mover.moved >= count

    for n in (1, 2):  # one at a time: each moved at once
        await BusRawLog(spool, TOPIC).append([_Envelope(n)])
        assert await moved(n, within=5.0)
    await BusRawLog(spool, TOPIC).append([_Envelope(n) for n in range(3, 6)])
    assert await moved(5, within=5.0)
    await BusRawLog(spool, TOPIC).append([_Envelope(6)])
    assert not await moved(6, within=0.5)  # the mover lingers after a move of three
    stop.set()
    await asyncio.wait_for(running, 5.0)  # the stop ended the linger; the rest is moved
    assert await logged_ids(log) == list(range(1, 7))
    await spool.close()
    await log.close()


async def test_recovery_refuses_a_spool_another_front_holds(tmp_path: Path) -> None:
    spool_path = tmp_path / "spool.sqlite"
    spool = await open_spool(spool_path)
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    with pytest.raises(Exception, match="in use by another webhook front"):
        await SpoolMover(log, spool_path, TOPIC).recover()
    await spool.close()
    await log.close()


class _Envelope:
    def __init__(self, n: int) -> None:
        self.n = n

    def routing_key(self) -> str:
        return f"chat:{self.n % 3}"

    def to_bytes(self) -> bytes:
        return json.dumps({"update": update(self.n)}).encode()


async def test_kill_9_of_the_front_loses_no_acknowledged_update(tmp_path: Path) -> None:
    """The front process under concurrent load, SIGKILLed: every update it answered 200 is
    in the log once after recovery (and an unanswered one may be there too: Telegram retries
    it, and the worker's idempotency absorbs the second copy)."""
    port, spool_path = free_port(), tmp_path / "data" / "webhook-spool.sqlite"
    spool_path.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECASE_")}
    env.update({"TELECASE_TELEGRAM_BOT_TOKEN": "7000000001:AAE-test", "TELECASE_LOG_LEVEL":
                "warning", "TELECASE_TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELECASE_WEBHOOK_HOST": "127.0.0.1", "TELECASE_WEBHOOK_PORT": str(port)})
    front = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telecase.roles.embedded_front", "--spool", str(spool_path),
        "--parent", str(os.getpid()), env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE)
    assert front.stdout is not None
    assert (await asyncio.wait_for(front.stdout.readline(), 60)).strip() == b"ready"
    acknowledged: list[int] = []
    url = f"http://127.0.0.1:{port}/telegram"
    async with aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as session:
        async def chat(first: int) -> None:
            for n in range(first, first + 10_000, 20):  # one chat's updates, in turn
                try:
                    async with session.post(url, json=update(n)) as resp:
                        if resp.status != 200:
                            return
                except aiohttp.ClientError:
                    return
                acknowledged.append(n)

        senders = [asyncio.create_task(chat(first)) for first in range(20)]
        while len(acknowledged) < 300:
            await asyncio.sleep(0.01)
        front.send_signal(signal.SIGKILL)
        await front.wait()
        await asyncio.gather(*senders)
    log = await EmbeddedLog.open(tmp_path / "data" / "log.sqlite")
    await SpoolMover(log, spool_path, TOPIC).recover()
    counts = Counter(await logged_ids(log))
    assert set(acknowledged) <= set(counts)
    assert max(counts.values()) == 1
    await log.close()


async def test_the_fronts_counters_reach_the_main_process_once(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    from telecase.roles.front_metrics import SPACE, CounterRelay

    def accepted() -> float:
        return REGISTRY.get_sample_value("telecase_telegram_updates_accepted_total",
                                         {"mode": "webhook"}) or 0.0

    spool_path = tmp_path / "spool.sqlite"
    spool = await open_spool(spool_path)
    key = json.dumps(["telecase_telegram_updates_accepted", {"mode": "webhook"}],
                     sort_keys=True).encode()

    async def published(value: float) -> None:  # as the front process publishes its own
        await spool.transact(lambda db: spool.put_states_in(db, SPACE,
                                                            [(key, repr(value).encode())]))

    relay, before = CounterRelay(spool_path), accepted()
    await published(5.0)
    relay.relay()
    relay.relay()
    assert accepted() == before + 5
    await published(12.0)
    relay.relay()
    assert accepted() == before + 12
    await spool.close()


class _SlowLog:
    """Records each append's envelopes; the first append waits until released."""

    def __init__(self, fail: bool = False) -> None:
        self.appends: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def append(self, envelopes: Any) -> None:
        if not self.appends:
            self.appends.append([e.n for e in envelopes])
            await self.release.wait()
        else:
            self.appends.append([e.n for e in envelopes])
        if self.fail:
            raise ConnectionError("disk gone")


async def test_appends_arriving_during_a_commit_go_together_and_return_once_durable() -> None:
    from telecase.roles.embedded_front import GroupedAppend

    slow = _SlowLog()
    grouped = GroupedAppend(slow, linger=0.0, max_group=3)
    returned: list[int] = []

    async def append(n: int) -> None:
        await grouped.append([_Envelope(n)])
        returned.append(n)

    tasks = [asyncio.create_task(append(1))]
    await asyncio.sleep(0.01)  # the first group is committing
    tasks += [asyncio.create_task(append(n)) for n in range(2, 6)]
    await asyncio.sleep(0.01)
    assert slow.appends == [[1]] and returned == []  # nothing returns before it is durable
    slow.release.set()
    await asyncio.gather(*tasks)
    assert slow.appends == [[1], [2, 3, 4], [5]]  # the waiting ones grouped, at most 3
    assert sorted(returned) == [1, 2, 3, 4, 5]


async def test_a_failed_group_append_fails_each_of_its_requests() -> None:
    from telecase.roles.embedded_front import GroupedAppend

    slow = _SlowLog(fail=True)
    grouped = GroupedAppend(slow, linger=0.0)
    tasks = [asyncio.create_task(grouped.append([_Envelope(1)]))]
    await asyncio.sleep(0.01)
    tasks += [asyncio.create_task(grouped.append([_Envelope(n)])) for n in (2, 3)]
    await asyncio.sleep(0.01)
    slow.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert slow.appends == [[1], [2, 3]]


async def test_a_group_lingers_for_the_requests_arriving_just_after_its_first() -> None:
    from telecase.roles.embedded_front import GroupedAppend

    slow = _SlowLog()
    slow.release.set()
    grouped = GroupedAppend(slow, linger=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(grouped.append([_Envelope(1)]))
    await asyncio.sleep(0.02)
    assert slow.appends == [] and not first.done()  # still gathering
    await asyncio.gather(first, grouped.append([_Envelope(2)]))
    assert slow.appends == [[1, 2]]
    assert 0.045 <= loop.time() - started < 1.0  # the first waited its linger, no more
