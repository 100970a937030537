"""The Faust worker: folds ``telegram.updates`` into ``ticket.events``.

Build the app with :func:`create_app` (nothing connects at import). The agent takes records in
small batches, folds each one with :class:`~streams.processing.UpdateFolder` against the
``threads`` table (changelog-backed, co-partitioned with ``telegram.updates`` because both are
keyed by chat), and then, in this order:

1. appends the batch's ticket events to ``ticket.events`` (keyed by ticket id, to the partition
   of the chat they came from, so every ticket's events stay in order in one partition) and
   dead letters to ``telecase.deadletter``, and waits until the broker acknowledged them all
   (producer ``acks=all``);
2. writes the new thread states to the table;
3. lets Faust commit the source offsets (Faust flushes the table changelog first).

A crash between 1 and 2 re-derives the same events with the same ``event_id`` and ``seq``;
consumers apply an event only when its ``seq`` is past what they hold, so nothing is doubled,
and nothing is lost because the state never runs ahead of the log.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.streams import _current_event

from streams.topics import TopicNames
from streams.core.ticket import ThreadState
from streams.processing import Folded, Position, UpdateFolder
from streams.schema.events import encode_event
from streams.state_codec import dump_thread, load_thread


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap_servers: str
    app_id: str = "telecase-worker"
    partitions: int = 4
    replication_factor: int = 1
    batch_max: int = 500
    batch_within: float = 0.01
    datadir: str | None = None
    topic_prefix: str = ""


class _BatchStore:
    """Reads the table, but sees states already decided earlier in the same batch."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[str, ThreadState] = {}

    def get(self, thread_key: str) -> ThreadState | None:
        if thread_key in self.pending:
            return self.pending[thread_key]
        raw = self.table.get(thread_key.encode())
        return load_thread(raw) if raw is not None else None


def create_app(config: WorkerConfig) -> faust.App:
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap_servers}",
        store="memory://",
        topic_partitions=config.partitions,
        topic_replication_factor=config.replication_factor,
        producer_acks=-1,
        web_enabled=False,
        datadir=config.datadir or f".telecase/faust/{config.app_id}",
        stream_wait_empty=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    raw_kw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                              "key_serializer": "raw", "value_serializer": "raw"}
    names = TopicNames(config.topic_prefix)
    updates = app.topic(names.telegram_updates, partitions=config.partitions, **raw_kw)
    events_out = app.topic(names.ticket_events, partitions=config.partitions, **raw_kw)
    dead_out = app.topic(names.dead_letters, partitions=1, **raw_kw)
    threads = app.Table("threads", partitions=config.partitions, key_type=bytes,
                        value_type=bytes)
    folder = UpdateFolder()

    async def fold_batch(batch: list[Any]) -> None:
        store = _BatchStore(threads)
        results: list[tuple[Any, Folded]] = []
        for event in batch:
            msg = event.message
            key = msg.key.decode() if isinstance(msg.key, bytes) else None
            where = Position(msg.topic, msg.partition, msg.offset, key)
            folded = folder.fold(event.value, store, where, datetime.now(UTC))
            if folded.thread is not None:
                store.pending[folded.thread.thread_key] = folded.thread
            results.append((event, folded))
        sent = []
        for event, folded in results:
            partition = event.message.partition
            for ticket_event in folded.events:
                sent.append(await events_out.send(
                    key=ticket_event.ticket_id.encode(), value=encode_event(ticket_event),
                    partition=partition, force=True))
            if folded.dead_letter is not None:
                sent.append(await dead_out.send(
                    key=(folded.dead_letter.key or "").encode(),
                    value=folded.dead_letter.model_dump_json().encode(), force=True))
        await asyncio.gather(*sent)
        for event, folded in results:
            if folded.thread is None:
                continue
            token = _current_event.set(weakref.ref(event))
            try:
                threads[folded.thread.thread_key.encode()] = dump_thread(folded.thread)
            finally:
                _current_event.reset(token)

    @app.agent(updates, name="fold-updates")
    async def fold_updates(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for batch in stream.take_events(config.batch_max, within=config.batch_within):
            await fold_batch(list(batch))
            yield None

    return app


def run_worker(config: WorkerConfig, loglevel: str = "warn") -> None:
    """Run the worker until SIGTERM/SIGINT (Faust handles the signals and a clean shutdown)."""
    app = create_app(config)
    Path(str(app.conf.datadir)).mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
