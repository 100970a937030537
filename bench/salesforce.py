"""``telecase bench salesforce``: what the outbound sync costs and how fast it is.

A Salesforce simulator (HTTPS, in this process), an embedded log, and the real
:class:`~connectors.salesforce.sync_runner.SyncRunner` driving
:class:`~connectors.salesforce.case_sync.CaseSync` through unmodified simple-salesforce.
Ticket events are appended to ``ticket.events`` (``partitions`` partitions, keyed by ticket
as the workers key them) at a steady rate of customer messages
(``new_ticket_share`` of them open a ticket, with a ``ticket.opened`` first; the rest land on
tickets already open), for ``seconds`` at each rate. The runner batches as ``telecase run``
does: a batch lingers up to ``linger`` seconds while it grows (default
``TELECASE_SALESFORCE_SYNC_LINGER``'s, :mod:`connectors.salesforce.linger`), and its writes go
to Salesforce folded into one Composite call (:mod:`connectors.salesforce.folding`). Each rate
has a fresh runner and log (the arrival rate it lingers by is learned anew). Per rate:

- ``api_calls_per_message``: Salesforce API calls counted by the simulator's per-org
  counter, divided by the customer messages synced (logins are not API calls);
- ``projected_daily_calls`` (with ``messages_per_day``): ``api_calls_per_message``
  times ``messages_per_day``, and ``share_of_daily_allocation_pct``: that against the org's daily
  allocation (``daily_allocation``, the simulated org's: 100,000 by default, an Enterprise
  Edition org's base before its per-licence calls; shared with every other integration and
  the agents' own UI);
- ``sync_latency_ms``: p50/p99/max from appending an event to the log until Salesforce accepted
  the batch holding it (``CaseSync.apply`` returned), the linger included;
- ``messages``, ``tickets``, ``rejected``, ``achieved_rate``.

Then (unless ``replies`` is 0) ``reply_delivery``: agent replies from Salesforce to Telegram
through the pipeline ``telecase run`` builds (:mod:`telecase.roles.embedded`), in this process, on a
Salesforce simulator and a Telegram Bot API simulator of its own (Telegram's flood limits on):
the embedded log, :class:`~streams.runtime.embedded.worker.EmbeddedWorker`, the sync with link-back,
the :class:`~connectors.salesforce.change_poller.ChangePoller` (every ``poll_interval``
seconds) and the :class:`~connectors.telegram.reply_mirror.ReplyMirror`. ``reply_tickets``
customers each open a forum topic (updates appended as the connector would), the sync makes
their Cases, then an agent posts ``replies`` CaseComments, ``reply_rate`` a second, round-robin
over the Cases. Figures:

- ``reply_latency_ms``: p50/p99/max (and ``samples``) from posting a comment until the bot's
  message with its text is in the simulator, in the ticket's thread (the simulator's record of
  what the bot sent, watched every ``WATCH`` seconds with the bench's own clock). The poll
  interval dominates it: a comment waits for the next poll, ``poll_interval_s`` / 2 on average;
- ``after_poll_ms``: the part after the poller read the comment (its ``observed_at``):
  log, worker, mirror, ``sendMessage``;
- ``replies_delivered`` (distinct, in the right thread), ``completeness_pct``, ``duplicates``,
  ``misdelivered`` (in another thread), ``api_calls`` (in that org from the first comment to
  the end: the poller's queries and the sync's writes), ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.raw_log import BusRawLog
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi, SyncResult
from connectors.salesforce.change_poller import ChangePoller, LogWatermarks, SalesforceChangeApi
from connectors.salesforce.linger import DEFAULT_LINGER
from connectors.salesforce.sync_runner import SyncRunner
from connectors.telegram.bot_api import BotApi
from connectors.telegram.ledger import DeliveryLedger
from connectors.telegram.reply_mirror import Limits, ReplyMirror
from simulators.salesforce import (
    SalesforceDriver,
    SalesforceSimulator,
    requests_session,
)
from simulators.telegram import BotApiSimulator, SimulatorDriver
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.topics import TopicNames
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import (
    Actor,
    Customer,
    CustomerMessageReceived,
    SourceRef,
    TicketEvent,
    TicketOpened,
    encode_event,
)
from streams.schema.salesforce import SalesforceChange

TICK = 0.01
WATCH = 0.02  # how often the reply phase looks at what the bot sent
TG_TOKEN = "7000000003:bench-salesforce"
OVERLAP = 60.0  # the poller's re-read window (TELECASE_SALESFORCE_POLL_OVERLAP's default)
DAILY_ALLOCATION = 100_000
PARTITIONS = 4
"""``ticket.events`` partitions: a Kafka deployment's (``KafkaBus``'s default), so the figures
hold where the sync reads several partitions (it batches across them)."""
"""An Enterprise Edition org's daily API calls before the 1,000 per licence."""
_MARK = re.compile(r"\[c(\d+)\]")


class _TimedSync(CaseSync):
    """The sync, noting when Salesforce accepted each event."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted: dict[str, float] = {}
        self.rejected = 0

    def apply(self, events: Sequence[TicketEvent]) -> SyncResult:
        result = super().apply(events)
        now = time.perf_counter()
        self.accepted.update((e.event_id, now) for e in events)
        self.rejected += len(result.rejected)
        return result


class _Traffic:
    """Customer messages on many tickets, most on tickets already open."""

    def __init__(self, run_id: str, new_ticket_share: float, seed: int) -> None:
        self.run_id, self.share = run_id, new_ticket_share
        self.random = random.Random(seed)
        self.seqs: dict[str, int] = {}
        self.customers: dict[str, Customer] = {}
        self.messages = 0

    def next(self) -> list[TicketEvent]:
        now = datetime.now(UTC)
        base: dict[str, Any] = {"occurred_at": now, "recorded_at": now,
                                "source": SourceRef(kind="telegram"),
                                "actor": Actor(kind="customer")}
        events: list[TicketEvent] = []
        if not self.seqs or self.random.random() < self.share:
            n = len(self.seqs)
            ticket = f"bench:{self.run_id}:t{n}"
            who = Customer(telegram_user_id=10_000_000 + n, username=f"c{self.run_id}x{n}",
                           first_name=f"Customer {n}")
            self.seqs[ticket], self.customers[ticket] = 1, who
            events.append(TicketOpened(
                event_id=f"{ticket}#1", ticket_id=ticket, seq=1, channel="forum_topic",
                chat_id=-100, thread_id=n + 2, thread_key=f"-100:{n + 2}",
                subject=f"Inquiry {n}", subject_message_id=n + 2, customer=who,
                customer_message_id=n + 2, **base))
        else:
            ticket = self.random.choice(list(self.seqs))
        seq = self.seqs[ticket] = self.seqs[ticket] + 1
        self.messages += 1
        events.append(CustomerMessageReceived(
            event_id=f"{ticket}#{seq}", ticket_id=ticket, seq=seq, message_id=seq * 1000,
            sender=self.customers[ticket], text=f"message {self.messages}",
            content_kind="text", message_version=0, reply_to_message_id=None, **base))
        return events


async def _one_rate(sim: SalesforceSimulator, driver: SalesforceDriver, data: Path,
                    rate: float, seconds: float, new_ticket_share: float,
                    batch_max: int, linger: float, partitions: int) -> dict[str, Any]:
    from simple_salesforce.api import Salesforce
    session = requests_session(sim.base_url, sim.ca_file)
    log = await EmbeddedLog.open(data / f"rate-{rate:g}.sqlite", default_partitions=partitions)
    try:
        sf = await asyncio.to_thread(Salesforce, username=sim.username, password=sim.password,
                                     security_token=sim.security_token, session=session)
        sync = _TimedSync(SimpleSalesforceApi(sf))
        names = TopicNames()
        runner = SyncRunner(log, names, sync, batch_max=batch_max, max_backoff=1.0,
                            linger=linger)
        traffic = _Traffic(f"r{rate:g}", new_ticket_share, seed=int(rate))
        appended: dict[str, float] = {}
        calls_before = await driver.api_calls()
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        start = time.perf_counter()
        sent = 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate) + 1 - sent
            if due > 0:
                events = [e for _ in range(due) for e in traffic.next()]
                await log.append(names.ticket_events, [
                    Outgoing(e.ticket_id.encode(), encode_event(e)) for e in events])
                now = time.perf_counter()
                appended.update((e.event_id, now) for e in events)
                sent += due
            await asyncio.sleep(TICK)
        produced = time.perf_counter() - start
        deadline = time.perf_counter() + max(60.0, seconds * 4)
        while len(sync.accepted.keys() & appended.keys()) < len(appended):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"sync did not catch up at {rate}/s")
            await asyncio.sleep(0.02)
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        calls = await driver.api_calls() - calls_before
        latencies = sorted((sync.accepted[k] - t) * 1000 for k, t in appended.items())
        return {"rate": rate, "messages": traffic.messages, "tickets": len(traffic.seqs),
                "achieved_rate": round(traffic.messages / produced, 1),
                "api_calls": calls,
                "api_calls_per_message": round(calls / max(traffic.messages, 1), 4),
                "sync_latency_ms": {
                    "p50": round(statistics.median(latencies), 1),
                    "p99": round(latencies[min(len(latencies) - 1,
                                               int(len(latencies) * 0.99))], 1),
                    "max": round(latencies[-1], 1)},
                "rejected": sync.rejected}
    finally:
        await log.close()
        session.close()


class _Thread:
    """One forum topic the reply phase answers in, and its Case."""

    def __init__(self, forum_id: int, thread_id: int, customer_id: int) -> None:
        self.forum_id, self.thread_id, self.customer_id = forum_id, thread_id, customer_id
        self.ticket_id = f"tg:{forum_id}:t{thread_id}"
        self.case_id = ""


async def _open_tickets(tg: SimulatorDriver, raw: BusRawLog, bot_id: int,
                        count: int) -> list[_Thread]:
    """``count`` customers each open a topic in a forum of their own and write in it; their
    updates go to ``telegram.updates`` as the connector would append them."""
    threads: list[_Thread] = []
    emitted = []
    for n in range(count):
        who = await tg.create_user(f"Customer {n}", username=f"bench_sf_{n}")
        forum = await tg.create_forum(f"Support {n}")
        topic = await tg.open_topic(forum["id"], who["id"], f"Question {n}")
        said = await tg.write(forum["id"], who["id"], f"Hello, question {n} here",
                              topic.thread_id)
        emitted += [topic, said]
        threads.append(_Thread(forum["id"], topic.thread_id, who["id"]))
    now = datetime.now(UTC)
    await raw.append([RawTelegramUpdate(bot_id=bot_id, source="simulator", received_at=now,
                                        update=e.update) for e in emitted
                      if e.update is not None])
    return threads


async def _await_cases(sf: SalesforceDriver, threads: list[_Thread], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    wanted = {t.ticket_id: t for t in threads}
    while True:
        for case in await sf.records("Case"):
            thread = wanted.get(str(case.get("Telecase_Ticket_Id__c")))
            if thread is not None:
                thread.case_id = case["Id"]
        if all(t.case_id for t in threads):
            return
        if time.perf_counter() > deadline:
            raise TimeoutError("the sync did not create every Case of the reply phase")
        await asyncio.sleep(0.1)


class _Watch:
    """What the bot sent, read from the simulator's own record every :data:`WATCH` seconds:
    when each marked reply first appeared (bench clock and wall clock), and where."""

    def __init__(self, tg: BotApiSimulator) -> None:
        self.sent = tg.sim.sent
        self.seen = 0
        self.first: dict[int, tuple[float, float, int, int | None]] = {}
        self.copies: dict[int, int] = {}

    def look(self) -> None:
        now, wall = time.perf_counter(), time.time()
        for record in self.sent[self.seen:]:
            mark = _MARK.search(record.get("text") or "")
            if mark is None:
                continue
            n = int(mark.group(1))
            self.copies[n] = self.copies.get(n, 0) + 1
            self.first.setdefault(n, (now, wall, record["chat_id"],
                                      record.get("message_thread_id")))
        self.seen = len(self.sent)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.look()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH)
        self.look()


async def _observed(log: EmbeddedLog, topic: str) -> dict[int, float]:
    """When the poller read each marked comment (``observed_at``, wall clock)."""
    out: dict[int, float] = {}
    for partition in range(await log.partitions(topic)):
        offset = 0
        while records := await log.read(topic, partition, offset, 5000):
            for record in records:
                with contextlib.suppress(ValueError):
                    change = SalesforceChange.model_validate_json(record.value)
                    mark = _MARK.search(change.comment_body or "")
                    if change.change == "case_comment" and mark is not None:
                        out.setdefault(int(mark.group(1)), change.observed_at.timestamp())
            offset = records[-1].offset + 1
    return out


async def _reply_phase(data: Path, *, replies: int, tickets: int, reply_rate: float,
                       poll_interval: float, timeout: float) -> dict[str, Any]:
    from simple_salesforce.api import Salesforce
    work = data / "replies"
    work.mkdir(parents=True, exist_ok=True)
    names = TopicNames()
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    async with SalesforceSimulator(cert_dir=data / "certs") as sim, \
            SalesforceDriver(sim.base_url, sim.ca_file) as sfd, \
            BotApiSimulator(TG_TOKEN) as tg_sim, SimulatorDriver(tg_sim.base_url) as tg:
        log = await EmbeddedLog.open(work / "log.sqlite")
        ledger = DeliveryLedger.from_url(f"sqlite:///{work / 'telegram-ledger.sqlite'}")
        api = BotApi(TG_TOKEN, tg_sim.base_url)
        sessions = [requests_session(sim.base_url, sim.ca_file) for _ in range(2)]
        try:
            for topic in (names.telegram_updates, names.ticket_events, names.dead_letters):
                await log.create_topic(topic, 1)
            sync_sf, poll_sf = [await asyncio.to_thread(
                Salesforce, username=sim.username, password=sim.password,
                security_token=sim.security_token, session=session) for session in sessions]
            changes = BusRawLog(log, names.salesforce_changes)
            updates = BusRawLog(log, names.telegram_updates)
            worker = EmbeddedWorker(log, names)
            runner = SyncRunner(log, names, CaseSync(SimpleSalesforceApi(sync_sf)),
                                links=changes)
            poller = ChangePoller(
                SalesforceChangeApi(poll_sf), changes, integration_username=sim.username,
                watermarks=LogWatermarks(log, names.salesforce_changes, overlap=OVERLAP),
                interval=poll_interval, overlap=OVERLAP)
            mirror = ReplyMirror(log, names, api, ledger, raw_log=updates, limits=Limits())
            watch = _Watch(tg_sim)
            tasks = [asyncio.create_task(loop.run(stop)) for loop in
                     (worker, runner, poller, mirror, watch)]
            threads = await _open_tickets(tg, updates, tg_sim.bot["id"], tickets)
            await _await_cases(sfd, threads, timeout)
            agent = await sfd.create_user("Bench Agent")
            calls_before = await sfd.api_calls()
            posted: dict[int, float] = {}
            start = time.perf_counter()
            for n in range(replies):
                delay = start + n / reply_rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                thread = threads[n % len(threads)]
                posted[n] = time.perf_counter()
                await sfd.post_case_comment(
                    thread.case_id, f"Here is the answer to your question. [c{n}]",
                    user_id=agent["Id"])
            deadline = time.perf_counter() + timeout
            while len(watch.first) < replies and time.perf_counter() < deadline:
                for task in tasks:
                    if task.done():
                        task.result()  # a loop that died: say why
                        raise RuntimeError("a pipeline loop stopped during the reply phase")
                await asyncio.sleep(WATCH)
            await asyncio.sleep(2 * WATCH)  # a duplicate right behind would show
            watch.look()
            calls = await sfd.api_calls() - calls_before
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            await api.aclose()
            await asyncio.to_thread(ledger.dispose)
            for session in sessions:
                session.close()
        try:
            observed = await _observed(log, names.salesforce_changes)
        finally:
            await log.close()
    failed = [r for r in results if isinstance(r, BaseException)
              and not isinstance(r, asyncio.CancelledError)]
    if failed:
        raise failed[0]
    where = {n: (threads[n % len(threads)].forum_id, threads[n % len(threads)].thread_id)
             for n in range(replies)}
    right = {n: seen for n, seen in watch.first.items()
             if n in where and seen[2:] == where[n]}
    latencies = sorted((right[n][0] - posted[n]) * 1000 for n in right)
    after_poll = sorted((right[n][1] - observed[n]) * 1000 for n in right if n in observed)
    return {"replies": replies, "tickets": len(threads), "reply_rate": reply_rate,
            "poll_interval_s": poll_interval,
            "replies_delivered": len(right),
            "completeness_pct": round(100.0 * len(right) / replies, 2),
            "duplicates": sum(c - 1 for c in watch.copies.values()),
            "misdelivered": len(watch.first) - len(right),
            "reply_latency_ms": _percentiles(latencies),
            "after_poll_ms": _percentiles(after_poll),
            "api_calls": calls}


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p99/max of sorted ``values`` (nearest rank), and how many there were."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "samples": 0}
    return {"p50": round(statistics.median(values), 1),
            "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 1),
            "max": round(values[-1], 1), "samples": len(values)}


async def measure(rates: Sequence[float] = (10, 100, 1000), seconds: float = 10.0, *,
                  new_ticket_share: float = 0.1, batch_max: int = 500,
                  linger: float = DEFAULT_LINGER, messages_per_day: int | None = None,
                  daily_allocation: int = DAILY_ALLOCATION,
                  data_dir: Path | None = None, replies: int = 40, reply_tickets: int = 10,
                  reply_rate: float = 2.0, poll_interval: float = 1.0,
                  reply_timeout: float = 60.0, partitions: int = PARTITIONS) -> dict[str, Any]:
    """Run the benchmark on the running event loop (see :func:`run`)."""
    with tempfile.TemporaryDirectory(prefix="telecase-bench-sf-") as tmp:
        data = Path(data_dir or tmp)
        data.mkdir(parents=True, exist_ok=True)
        async with SalesforceSimulator(cert_dir=data / "certs",
                                       daily_api_limit=daily_allocation) as sim, \
                SalesforceDriver(sim.base_url, sim.ca_file) as driver:
            results = [await _one_rate(sim, driver, data, rate, seconds, new_ticket_share,
                                       batch_max, linger, partitions) for rate in rates]
            allocation = int((await driver.api_usage())["max"])
        if messages_per_day is not None:
            for r in results:
                daily = round(r["api_calls_per_message"] * messages_per_day)
                r["projected_daily_calls"] = daily
                r["share_of_daily_allocation_pct"] = round(100.0 * daily / allocation, 2)
        out: dict[str, Any] = {"seconds_per_rate": seconds,
                               "new_ticket_share": new_ticket_share,
                               "batch_max": batch_max, "linger_s": linger,
                               "ticket_events_partitions": partitions,
                               **({"messages_per_day": messages_per_day}
                                  if messages_per_day is not None else {}),
                               "daily_allocation": allocation, "rates": results}
        if replies > 0:
            out["reply_delivery"] = await _reply_phase(
                data, replies=replies, tickets=max(1, min(reply_tickets, replies)),
                reply_rate=reply_rate, poll_interval=poll_interval, timeout=reply_timeout)
    return out


def run(rates: Sequence[float] = (10, 100, 1000), seconds: float = 10.0, *,
        new_ticket_share: float = 0.1, batch_max: int = 500,
        linger: float = DEFAULT_LINGER, messages_per_day: int | None = None,
        daily_allocation: int = DAILY_ALLOCATION, data_dir: Path | None = None,
        replies: int = 40, reply_tickets: int = 10,
        reply_rate: float = 2.0, poll_interval: float = 1.0,
        reply_timeout: float = 60.0, partitions: int = PARTITIONS) -> dict[str, Any]:
    """Feed ``rates`` customer messages per second for ``seconds`` each through the sync and
    the simulator; API calls per message and sync latency per rate. Then, unless ``replies``
    is 0, post ``replies`` agent comments (``reply_rate`` a second over ``reply_tickets``
    Cases) and time each one's way to Telegram with the change poller polling every
    ``poll_interval`` seconds (``reply_timeout``: how long to wait for the last). With
    ``messages_per_day``, each rate's projected daily calls against ``daily_allocation``. A
    JSON-able dict."""
    return asyncio.run(measure(rates, seconds, new_ticket_share=new_ticket_share,
                               batch_max=batch_max, linger=linger,
                               messages_per_day=messages_per_day,
                               daily_allocation=daily_allocation, data_dir=data_dir,
                               replies=replies,
                               reply_tickets=reply_tickets, reply_rate=reply_rate,
                               poll_interval=poll_interval, reply_timeout=reply_timeout,
                               partitions=partitions))


if __name__ == "__main__":  # python -m bench.salesforce
    import json
    print(json.dumps(run(), indent=2))
