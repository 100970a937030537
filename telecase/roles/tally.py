"""What one ``telecase run`` did, told apart from what its data directory holds: the figures
of the run's summary.

The summary's "this run" figures are differences between a :class:`Reading` taken at start
and one taken at the end (tickets opened, customer messages received, records dead-lettered,
Telegram deliveries refused); its totals are the end reading. A dead letter or a refused
delivery during the run is an error: the summary lists it and ``telecase run`` exits 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy import Engine, func, select

from connectors.telegram.inbound_metrics import REJECTED
from projections.tables import cases
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.demo.traffic import DemoSummary
from telecase.ops.deadletter import Index, read_new


@dataclass(frozen=True)
class Reading:
    tickets: int
    messages: int
    letters: int
    """Records in ``telecase.deadletter`` (retry markers aside)."""
    waiting: int
    """Of those, the ones not retried."""
    refused: int
    """Webhook requests refused in this process (an update it would not fold, a wrong
    secret, too large, too slow); long polling dead-letters what it refuses."""


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        tickets, messages = conn.execute(
            select(func.count(), func.coalesce(func.sum(cases.c.message_count), 0))).one()
    return int(tickets), int(messages)


def _total(counter: Counter) -> int:
    return int(sum(s.value for metric in counter.collect() for s in metric.samples
                   if s.name.endswith("_total")))


async def read(bus: Bus, names: TopicNames, engine: Engine) -> Reading:
    """Now: the projection's tickets and messages, the dead letters, the refusals."""
    tickets, messages = await asyncio.to_thread(_counts, engine)
    letters = await read_new(bus, names.dead_letters, Index())
    return Reading(tickets, messages, len(letters.letters), sum(letters.waiting().values()),
                   _total(REJECTED))


def settle(summary: DemoSummary, start: Reading, end: Reading) -> None:
    """Fill ``summary`` with this run's figures and the totals; the run's dead letters and
    refused deliveries become its errors."""
    summary.tickets = end.tickets - start.tickets
    summary.messages = end.messages - start.messages
    summary.total_tickets, summary.total_messages = end.tickets, end.messages
    summary.dead_letters_waiting = end.waiting
    if letters := end.letters - start.letters:
        summary.errors.append(f"{letters} record(s) dead-lettered in this run "
                              "(`telecase deadletter list` shows them)")
    if refused := end.refused - start.refused:
        summary.errors.append(f"{refused} webhook request(s) refused in this run "
                              "(telecase_telegram_webhook_rejected_total and the log's "
                              "webhook.rejected lines say why)")
