"""``telecase bench salesforce``: what the outbound sync costs and how fast it is.

A Salesforce simulator (HTTPS, in this process), an embedded log, and the real
:class:`~connectors.salesforce.sync_runner.SyncRunner` driving
:class:`~connectors.salesforce.case_sync.CaseSync` through unmodified simple-salesforce.
Ticket events are appended to ``ticket.events`` at a steady rate of customer messages
(``new_ticket_share`` of them open a ticket, with a ``ticket.opened`` first; the rest land on
tickets already open), for ``seconds`` at each rate. Per rate:

- ``api_calls_per_message``: Salesforce API calls counted by the simulator's per-org
  counter, divided by the customer messages synced (logins are not API calls);
- ``sync_latency_ms``: p50/p99/max from appending an event to the log until Salesforce accepted
  the batch holding it (``CaseSync.apply`` returned);
- ``messages``, ``tickets``, ``rejected``, ``achieved_rate``.

Reply delivery (agent comment → Telegram) is measured elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi, SyncResult
from connectors.salesforce.simulator import (
    SalesforceDriver,
    SalesforceSimulator,
    requests_session,
)
from connectors.salesforce.sync_runner import SyncRunner
from streams.bus import Outgoing
from streams.embedded_log import EmbeddedLog
from streams.schema.events import (
    Actor,
    Customer,
    CustomerMessageReceived,
    SourceRef,
    TicketEvent,
    TicketOpened,
    encode_event,
)
from streams.topics import TopicNames

TICK = 0.01


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
                    batch_max: int) -> dict[str, Any]:
    from simple_salesforce.api import Salesforce
    session = requests_session(sim.base_url, sim.ca_file)
    log = await EmbeddedLog.open(data / f"rate-{rate:g}.sqlite")
    try:
        sf = await asyncio.to_thread(Salesforce, username=sim.username, password=sim.password,
                                     security_token=sim.security_token, session=session)
        sync = _TimedSync(SimpleSalesforceApi(sf))
        names = TopicNames()
        runner = SyncRunner(log, names, sync, batch_max=batch_max, max_backoff=1.0)
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


async def measure(rates: Sequence[float] = (10, 100, 1000), seconds: float = 10.0, *,
                  new_ticket_share: float = 0.1, batch_max: int = 500,
                  data_dir: Path | None = None) -> dict[str, Any]:
    """Run the benchmark on the running event loop (see :func:`run`)."""
    with tempfile.TemporaryDirectory(prefix="telecase-bench-sf-") as tmp:
        data = Path(data_dir or tmp)
        data.mkdir(parents=True, exist_ok=True)
        async with SalesforceSimulator(cert_dir=data / "certs") as sim, \
                SalesforceDriver(sim.base_url, sim.ca_file) as driver:
            results = [await _one_rate(sim, driver, data, rate, seconds, new_ticket_share,
                                       batch_max) for rate in rates]
    return {"seconds_per_rate": seconds, "new_ticket_share": new_ticket_share,
            "batch_max": batch_max, "rates": results}


def run(rates: Sequence[float] = (10, 100, 1000), seconds: float = 10.0, *,
        new_ticket_share: float = 0.1, batch_max: int = 500,
        data_dir: Path | None = None) -> dict[str, Any]:
    """Feed ``rates`` customer messages per second for ``seconds`` each through the sync and
    the simulator; API calls per message and sync latency per rate (a JSON-able dict)."""
    return asyncio.run(measure(rates, seconds, new_ticket_share=new_ticket_share,
                               batch_max=batch_max, data_dir=data_dir))


if __name__ == "__main__":  # python -m telecase.bench_salesforce
    import json
    print(json.dumps(run(), indent=2))
