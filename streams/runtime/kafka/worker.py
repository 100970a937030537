"""The Faust worker: folds ``telegram.updates`` and ``salesforce.changes`` into
``ticket.events``.

Build the app with :func:`create_app` (nothing connects at import). The agent takes records of
both raw topics in small batches, folds each one with :class:`~streams.runtime.fold.UpdateFolder`
against the ``threads`` table (changelog-backed, co-partitioned with both raw topics because all
three are keyed by chat), and then, in this order:

1. appends the batch's ticket events to ``ticket.events`` (keyed by ticket id, to the partition
   of the chat they came from, so every ticket's events stay in order in one partition) and
   dead letters to ``telecase.deadletter``, and waits until the broker acknowledged them all
   (producer ``acks=all``);
2. writes the new thread states to the table;
3. lets Faust commit the source offsets (Faust flushes the table changelog first).

Faust's committed offsets are only a hint. With the thread states, step 2 also records the next
source offset the worker owes per topic and partition (key ``\x00next:<topic>:<partition>`` in
the same table, hence in the same changelog partition, recovered with the states). When a
partition's first record after an assignment lies past that position, Faust skipped records a
dead worker never folded (seen after SIGKILL: faust-streaming commits offsets of records it had
only fetched); the worker reads the gap back from the source topic itself and folds it first.
Records before the position were folded already and are dropped.

A record the fold raises on is dead-lettered with its traceback, a batch that fails otherwise is
folded again record by record (the one failing alone dead-lettered, its position stored like any
other), and the broker unreachable is retried with backoff (:mod:`streams.runtime.quarantine`).

A crash between 1 and 2 re-derives the same events with the same ``event_id`` and ``seq``;
consumers apply an event only when its ``seq`` is past what they hold, so nothing is doubled,
and nothing is lost because the state never runs ahead of the log.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter

from streams.core.intake import IntakeRules
from streams.core.pilot import EVERYTHING, PilotGate
from streams.core.templates import NO_TEMPLATES, TemplateCatalog
from streams.core.ticket import ThreadState
from streams.runtime.batch_store import BatchStore
from streams.runtime.bus import Outgoing
from streams.runtime.fold import Folded, Position, UpdateFolder
from streams.runtime.gc_pause import gc_paused
from streams.runtime.kafka.batches import BatchStream
from streams.runtime.kafka.bus import KafkaBus, kafka_partition
from streams.runtime.kafka.eager import use_eager_transport
from streams.runtime.kafka.sensors import LeanMonitor
from streams.runtime.kafka.stall import CatchUp, StallWatch
from streams.runtime.lag import LAG_INTERVAL, LagReport, count_appended, kafka_lag
from streams.runtime.quarantine import dead_letter, isolate, retry_infrastructure
from streams.runtime.state_codec import load_thread
from streams.runtime.timers import TimerBook
from streams.runtime.topics import TopicNames
from streams.schema.commands import Tick
from streams.schema.events import TicketEvent, encode_event
from streams.sla.policy import SlaPolicy

GC_MIDDLE_THRESHOLD = 100
"""The collector's second threshold in the worker's process (Python's default 10): how many
young collections between two of the middle generation. See :func:`run_worker`."""
RECORDS_REFILLED = Counter("telecase_worker_records_refilled_total",
                           "Raw records the Faust consumer skipped, read back and folded")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def position_key(topic: str, partition: int) -> bytes:
    """The table key holding the next offset of ``topic`` the worker owes for ``partition``."""
    return b"\x00next:%s:%d" % (topic.encode(), partition)


class _GapReader:
    """Reads a range of a source topic back with its own group-less consumer."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                              enable_auto_commit=False, group_id=None,
                                              auto_offset_reset="earliest",
                                              max_partition_fetch_bytes=16 * 1024 * 1024)
            await self._consumer.start()
        return self._consumer

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[RawRecord]:
        """Records with ``start <= offset < end`` (fewer if retention already deleted some)."""
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[RawRecord] = []
        while True:
            if await consumer.position(tp) >= end:
                return out
            fetched = await consumer.getmany(tp, timeout_ms=1000)
            for rec in fetched.get(tp, []):
                if rec.offset >= end:
                    return out
                out.append(RawRecord(rec.topic, rec.partition, rec.offset, rec.key, rec.value))

    async def ends(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The end offset (one past the last record) of each partition, asked of the broker."""
        consumer = await self._started()
        got = await consumer.end_offsets([TopicPartition(t, p) for t, p in partitions])
        return {(tp.topic, tp.partition): int(end) for tp, end in got.items()}

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


@dataclass(frozen=True)
class WorkerConfig:
    bootstrap_servers: str
    app_id: str = "telecase-worker"
    partitions: int = 4
    replication_factor: int = 1
    batch_max: int = 2000
    """Records folded per batch at most (a backlog's; live traffic's batches are what
    ``batch_within`` gathers). Each batch dumps a changed thread's state and appends it to
    the changelog once, and waits for two acknowledgements: 2,000 measured about 8% less
    worker CPU per update than 500 on a backlog (issue 19's profile)."""
    batch_within: float = 0.01
    datadir: str | None = None
    topic_prefix: str = ""
    agent_ids: tuple[int, ...] = ()
    session_timeout: float = 30.0
    """Seconds before the group gives a silent worker's partitions (and timers) to another."""
    instance_id: str | None = None
    """Static group membership (``group.instance.id``): a worker restarted with the same id
    takes its partitions back without waiting for ``session_timeout`` (nor does a clean stop
    hand them over before it). ``None``: a dynamic member."""
    sla_policy: SlaPolicy | None = None
    tick_interval: float = 1.0
    """Seconds between looks at the timer index (a tick goes out only when something is due)."""
    tick_max_due: int | None = None
    """At most this many threads' timers fired a tick of a partition (``None``:
    :data:`~streams.runtime.timers.TICK_MAX_DUE`); a tick that leaves more due sends the next
    at once, not at the ticker's next look."""
    clock: Callable[[], float] = time.time
    """The ticker's time (epoch seconds), as ``EmbeddedWorker``'s ``clock``."""
    intake: IntakeRules | None = None
    """Bot intake forms and the team's intake group (``streams.core.intake``)."""
    pilot: PilotGate = EVERYTHING
    """Which chats open tickets (``streams.core.pilot``)."""
    templates: TemplateCatalog = NO_TEMPLATES
    """The response templates agents' ``/t <name>`` may use (``streams.core.agent_tools``)."""
    stall_after: float = 30.0
    """Seconds a held partition may have records waiting with no progress before the worker
    reads them back and folds them itself (:mod:`streams.runtime.kafka.stall`)."""


class _DecodedCache:
    """Decoded thread states by key, valid while the table still holds the very bytes object
    they were decoded from (a rebalance or recovery replaces it, and the entry is dropped).

    It reads the table's local store (``table.data``, which the worker also writes) rather
    than through the table's ``get``: that calls the app's sensors for every key read (Faust's
    per-table ``keys_retrieved`` count, which nothing reads), two Python calls and a
    ``hasattr`` more for every record folded."""

    def __init__(self, table: Any, size: int = 50_000) -> None:
        self.table, self.size = table, size
        self.entries: dict[bytes, tuple[bytes, ThreadState]] = {}

    def raw(self, key: bytes) -> bytes | None:
        raw: bytes | None = self.table.data.get(key)
        return raw

    def get(self, key: bytes) -> ThreadState | None:
        raw = self.raw(key)
        if raw is None:
            return None
        hit = self.entries.get(key)
        if hit is not None and hit[0] is raw:
            return hit[1]
        state = load_thread(raw)
        self.remember(key, raw, state)
        return state

    def remember(self, key: bytes, raw: bytes, state: ThreadState) -> None:
        if len(self.entries) >= self.size:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = (raw, state)


class _BatchStore(BatchStore):
    """The table's states (decoded through the cache), under what the batch decided."""

    def __init__(self, cache: _DecodedCache, timers: TimerBook | None) -> None:
        super().__init__(timers)
        self.cache = cache

    def read(self, thread_key: str) -> ThreadState | None:
        return self.cache.get(thread_key.encode())

    def read_raw(self, thread_key: str) -> bytes | None:
        return self.cache.raw(thread_key.encode())

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        if self.timers is not None and not self.timers.built(partition):
            # The first tick since this worker got the partition (its table is recovered by
            # now: Faust feeds the agent only after recovery): index what the table holds.
            # From the stored bytes' deadline summaries (nothing decoded), in one pass for
            # every partition the table holds that has no index yet.
            data = self.cache.table.data
            stored = [(k.decode(), v) for k, v in list(data.items()) if not k.startswith(b"\x00")]
            # The changelog partition Faust's memory store noted of each key it recovered
            # (its ``_key_partition``; a key this worker wrote since is hashed instead).
            recovered: dict[bytes, int] | None = getattr(data, "_key_partition", None)
            known = None if not recovered else (lambda key: recovered.get(key.encode()))
            for p, count in self.timers.build_stored(stored, [partition], known).items():
                log.info("partition %d: indexed %d threads with SLA timers", p, count)
        return super().due_threads(partition, at)


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
        key_serializer="raw",
        value_serializer="raw",
        # Faust's defaults (1 MiB per partition fetch, 4096 buffered events) cap a worker at
        # about 2,000 records/s here; these measured about 5x that (see the bench).
        consumer_max_fetch_size=16 * 1024 * 1024,
        broker_session_timeout=config.session_timeout,
        consumer_group_instance_id=config.instance_id,
        broker_heartbeat_interval=max(0.5, config.session_timeout / 6),
        stream_buffer_maxsize=65536,
        # no per-record counters and timings that nothing reads (streams.runtime.kafka.sensors)
        Monitor=LeanMonitor,
        # ``take_events`` straight off the channel's queue (streams.runtime.kafka.batches)
        Stream=BatchStream,
    )
    use_eager_transport(app)  # Faust's consumer, handing each record over without 4 tasks
    raw_kw: dict[str, Any] = {"key_type": bytes, "value_type": bytes,
                              "key_serializer": "raw", "value_serializer": "raw"}
    names = TopicNames(config.topic_prefix)
    # Both raw topics are keyed by chat with the same partitioner, so partition p of each holds
    # the same chats, whose thread states are in partition p of the table.
    sources = app.topic(names.telegram_updates, names.salesforce_changes, names.ticket_commands,
                        partitions=config.partitions, **raw_kw)
    # Its own appends (events, commands, changelog) go through the bus: one record batch per
    # partition, an order of magnitude cheaper per record than Faust's ``Topic.send``.
    sink = KafkaBus(config.bootstrap_servers, config.partitions)
    threads = app.Table("threads", partitions=config.partitions, key_type=bytes,
                        value_type=bytes)
    folder = UpdateFolder(frozenset(config.agent_ids), config.sla_policy, config.templates,
                          intake=config.intake, pilot=config.pilot)
    timers = (TimerBook.for_folder(folder, config.partitions, kafka_partition,
                                   max_due=config.tick_max_due)
              if folder.needs_timers else None)
    cache = _DecodedCache(threads)
    changelog = threads.changelog_topic.get_topic_name()

    gaps = _GapReader(config.bootstrap_servers)

    async def in_order(batch: list[Any]) -> list[RawRecord]:
        """The batch's records, with any skipped range read back in front and anything
        already folded dropped, judged against the position stored with the states."""
        owed: dict[tuple[str, int], int | None] = {}
        out: list[RawRecord] = []
        for event in batch:
            msg = event.message
            tp = (msg.topic, msg.partition)
            if tp not in owed:
                stored = threads.data.get(position_key(*tp))
                owed[tp] = int(stored) if stored is not None else None
            expected = owed[tp]
            if expected is not None and msg.offset < expected:
                continue
            if expected is not None and msg.offset > expected:
                missing = await gaps.read(msg.topic, msg.partition, expected, msg.offset)
                RECORDS_REFILLED.inc(len(missing))
                log.warning("%s[%d]: consumer resumed at %d but %d is owed; "
                            "folding %d skipped records first", msg.topic, msg.partition,
                            msg.offset, expected, len(missing))
                out.extend(missing)
            out.append(RawRecord(msg.topic, msg.partition, msg.offset, msg.key, event.value))
            owed[tp] = msg.offset + 1
        return out

    folding = asyncio.Lock()  # the agent's batches and the stall catch-up, one at a time

    async def fold_batch(batch: list[Any]) -> None:
        """The batch's records folded, or a failing one dead-lettered alone; the broker
        unreachable is retried, never fatal (:mod:`streams.runtime.quarantine`)."""
        async with folding:
            records = await retry_infrastructure(lambda: in_order(batch),
                                                 stage=folder.consumer)
            await fold_in_order(records)

    async def fold_in_order(records: Sequence[RawRecord]) -> None:
        await isolate(records, fold_records, quarantine, stage=folder.consumer,
                      origin=lambda rec: rec)

    async def quarantine(rec: RawRecord, exc: Exception) -> None:
        letter = dead_letter(rec, folder.consumer, "worker_failed", exc, datetime.now(UTC))
        await fold_records([rec], poisoned=Folded(dead_letter=letter))

    async def fold_records(batch: Sequence[RawRecord], poisoned: Folded | None = None) -> None:
        store = _BatchStore(cache, timers)
        try:
            with gc_paused():  # the batch's objects live until it is written
                await fold_and_append(batch, store, poisoned)
        except BaseException:
            if timers is not None:  # the timers it took out go back in
                timers.schedule(s for k in store.popped if (s := cache.get(k.encode())))
            raise

    async def fold_and_append(batch: Sequence[RawRecord], store: _BatchStore,
                              poisoned: Folded | None) -> None:
        # One pass over the batch: each record folded, its records to append and the threads
        # it changed noted at once (an event's encoding reads nothing a later record's fold
        # changes), rather than a pass each over the results.
        # The batch's thread states are appended once a thread: its final one, to the table's
        # changelog (to the partition of the last event that changed it, as Faust itself
        # would) through the same cheap batch path, then put in the local store. Faust's own
        # per-key send costs more than the whole fold; recovery reads the changelog exactly
        # as usual. Each partition's next owed offset goes with them, to that partition.
        events_topic, commands_topic = names.ticket_events, names.ticket_commands
        records: list[tuple[str, Outgoing]] = []
        appended: list[TicketEvent] = []
        last_change: dict[str, int] = {}
        next_offset: dict[tuple[str, int], int] = {}
        ticked: list[int] = []
        for rec in batch:
            key = rec.key.decode(errors="replace") if isinstance(rec.key, bytes) else None
            where = Position(rec.topic, rec.partition, rec.offset, key)
            folded = poisoned or folder.fold(rec.value, store, where, datetime.now(UTC))
            store.take(folded)
            partition = rec.partition
            for e in folded.events:
                records.append((events_topic, Outgoing(e.ticket_id.encode(), encode_event(e),
                                                       partition=partition)))
            appended += folded.events
            if folded.dead_letter is not None:
                records.append((names.dead_letters, Outgoing(
                    (folded.dead_letter.key or "").encode(),
                    folded.dead_letter.model_dump_json().encode(), partition=0)))
            # keyed by chat like the raw topics, so they reach the partition of that chat
            for r in folded.forwards:
                records.append((commands_topic, Outgoing(
                    r.key or b"", r.value,
                    partition=kafka_partition(r.key or b"", config.partitions))))
            for state in folded.states:
                if state is not None:
                    last_change[state.thread_key] = partition
            for thread_key, _ in folded.encoded:
                last_change[thread_key] = partition
            next_offset[rec.topic, partition] = rec.offset + 1
            if rec.topic == commands_topic:
                ticked.append(partition)
        if not batch:
            return
        if timers is not None and ticked:
            # Each tick is folded: a partition whose tick left a backlog gets its next tick
            # now, on its way while this batch is written (the next batch folds it after).
            backlog_left = False
            for p in ticked:
                backlog_left = timers.tick_folded(p) or backlog_left
            if backlog_left:
                tick_soon()
        await sink.append_all(records, batch_from=1)
        count_appended(appended)
        encoded = {k.encode(): store.encoded(k) for k in last_change}
        rows = [Outgoing(k.encode(), encoded[k.encode()], partition=partition)
                for k, partition in last_change.items()]
        positions = {position_key(t, p): (p, str(o).encode())
                     for (t, p), o in next_offset.items()}
        rows.extend(Outgoing(pkey, raw, partition=p) for pkey, (p, raw) in positions.items())
        await sink.append_all([(changelog, row) for row in rows], batch_from=1)
        for thread_key in last_change:
            raw = encoded[thread_key.encode()]
            threads.data[thread_key.encode()] = raw
            if thread_key in store.pending:  # a state fired from its bytes is decoded if read
                cache.remember(thread_key.encode(), raw, store.pending[thread_key])
        for pkey, (_, raw) in positions.items():
            threads.data[pkey] = raw
        if timers is not None:
            timers.schedule_stored((k, encoded[k.encode()]) for k in last_change)
            timers.schedule_stored((k, held) for k in store.untouched()
                                   if (held := cache.raw(k.encode())) is not None)

    assigned: set[int] = set()

    async def tick() -> None:
        """Append a clock tick to each partition this worker holds that has something due
        (or whose index is not built yet: the first tick builds it)."""
        if timers is None or not sink.started:
            return
        held = {tp.partition for tp in app.assignor.assigned_actives()
                if tp.topic == names.ticket_commands}
        if held != assigned:
            timers.invalidate()
            assigned.clear()
            assigned.update(held)
        now = config.clock()
        at = datetime.fromtimestamp(now, UTC)
        await sink.append(names.ticket_commands, [
            Outgoing(b"tick", Tick(partition=p, at=at).to_bytes(), partition=p)
            for p in sorted(held) if timers.wants_tick(p, now)])

    follow_ups: set[asyncio.Task[None]] = set()

    def tick_soon() -> None:
        """:func:`tick` now, beside the ticker's own looks: a tick's batch left a backlog
        (waiting out the interval left the worker idle up to a second per tick). Each
        partition's tick goes out once whoever looks first (``TimerBook.wants_tick``)."""
        task = asyncio.ensure_future(tick())
        follow_ups.add(task)
        task.add_done_callback(ticked_soon)

    def ticked_soon(task: asyncio.Task[None]) -> None:
        follow_ups.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("the next tick after a backlog failed (the ticker sends it): %r",
                        task.exception())

    if timers is not None:
        app.timer(interval=config.tick_interval)(tick)

    lag = LagReport(config.app_id)
    source_topics = {names.telegram_updates, names.salesforce_changes, names.ticket_commands}

    async def report_lag() -> None:
        """``telecase_consumer_lag`` of the partitions this worker holds: the end its
        consumer last fetched against the next offset the worker owes (stored with the
        states), so records fetched but not yet folded count as lag."""
        owed = {(t, p): int(raw) for t in source_topics for p in range(config.partitions)
                if (raw := threads.data.get(position_key(t, p))) is not None}
        held = await kafka_lag(app.consumer, owed)
        lag.report({tp: n for tp, n in held.items() if tp[0] in source_topics})

    app.timer(interval=LAG_INTERVAL)(report_lag)

    def owed_at(partition: tuple[str, int]) -> int | None:
        raw = threads.data.get(position_key(*partition))
        return int(raw) if raw is not None else None

    catch_up = CatchUp(
        watch=StallWatch(config.stall_after), lock=folding,
        held=lambda: [(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
                      if tp.topic in source_topics],
        owed=owed_at, ends=gaps.ends, read=gaps.read, fold=fold_in_order,
        ready=lambda: (sink.started and not getattr(app, "rebalancing", False)
                       and not getattr(app, "in_recovery", False)),
        clock=time.monotonic)
    app.timer(interval=max(1.0, config.stall_after / 6))(catch_up.check)

    @app.agent(sources, name="fold-updates")
    async def fold_updates(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        await sink.start()
        try:
            batches = stream.take_events(  # type: ignore[attr-defined]  # not in Faust's stubs
                config.batch_max, within=config.batch_within)
            async for batch in batches:
                await fold_batch(list(batch))
                yield None
        finally:
            await gaps.stop()
            await sink.close()

    return app


class _Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        # Faust logs every record it sends (values included) at DEBUG: keep its loggers at
        # WARNING whatever the root level is, so no message body reaches a log.
        for name in ("faust", "mode", "aiokafka"):
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


def run_worker(config: WorkerConfig, loglevel: str = "WARNING") -> None:
    """Run the worker until SIGTERM/SIGINT (Faust handles the signals and a clean shutdown)."""
    # A batch's decoded states stay in the cache until the next batch replaces them, so with
    # Python's default thresholds a middle-generation collection every few batches promoted
    # them to the old generation, and the old generation's pending count then set off a full
    # collection of the whole heap (Faust, aiokafka, some 190,000 objects: about 0.1 s) every
    # 17,000 updates or so, although nearly all of it was freed by reference counting. With
    # middle collections ten times rarer those states are gone before one: on a 40,000-update
    # backlog (the worker alone, collector callbacks timing it) 0.22 s of collection (5.5 us
    # an update; 13 middle and 1 full collection) became 0.07 (1.8 us; 1 and none). Young
    # collections still run as before, and the batches keep the collector off while they run
    # (streams.runtime.gc_pause).
    young, _, old = gc.get_threshold()
    gc.set_threshold(young, GC_MIDDLE_THRESHOLD, old)
    app = create_app(config)
    Path(str(app.conf.datadir)).mkdir(parents=True, exist_ok=True)
    # The process keeps its own logging set-up (telecase.logs: JSON lines on stderr) rather
    # than Faust's coloured console handlers; Faust's loggers stay at WARNING regardless.
    for name in ("faust", "mode", "aiokafka"):
        logging.getLogger(name).setLevel(max(logging.getLevelName(loglevel), logging.WARNING))
    worker = _Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()
