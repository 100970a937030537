"""``telecase bench timers --live N``: the ticket worker's own restart path for SLA timers.

``telecase bench timers`` measures the SLA core and its index. A worker that restarts does more
per ticket, and this measures that whole path, in this process, on ``tickets`` private-chat
tickets opened through the real fold (``UpdateFolder``) under the bench's policy (two timers
each), stored as the worker stores them (``dump_thread``: the bytes its table or store holds),
after a downtime past every first-response deadline:

1. ``index``: the worker's :class:`~streams.runtime.timers.TimerBook` built from the stored
   bytes (:meth:`~streams.runtime.timers.TimerBook.build_stored`, what both workers run at
   start: each state's deadline summary, nothing decoded);
2. ``fire``: clock ticks folded by ``UpdateFolder.fold`` against the workers' batch store
   (:class:`~streams.runtime.batch_store.BatchStore`: the index's due threads, at most
   :data:`~streams.runtime.timers.TICK_MAX_DUE` a tick, each fired from its stored clocks
   and written back encoded, or decoded when the clocks alone cannot decide), one batch per
   tick until none is left;
3. ``encode``: each tick's events encoded for ``ticket.events``, the new states stored (those
   the fold decoded, encoded), and the index told their next deadlines from the stored
   states' summaries (``TimerBook.schedule_stored``: what the workers do after a batch).

With ``processes`` > 1 the tickets are split by partition (Kafka's partitioner over that many
partitions) between as many forked worker processes, each holding its partition's stored
states (and each state's partition, as the Kafka table's recovery notes it), as the Kafka
runtime's workers share a topic's partitions; all start at once, and the
restart lasts until the last is done (its ``index``/``fire``/``encode`` figures are the slowest
process's, ``cpu_s`` is all of theirs). The bench's processes share the machine with whatever
else runs: ``load_average_1m`` is the 1-minute load before and after the restart, and
``cpu_s`` the CPU time it took, a figure less swayed by a busy machine than the seconds.
The same machine's speed moves by a third from minute to minute, so the restart is run
``restarts`` times over the same stored states (with ``processes`` > 1, each time in freshly
forked processes, as a restarted worker is fresh) and its figures are the median run's, with
every run's seconds and CPU listed (``runs_total_s``, ``runs_cpu_s``, fastest first).

Nothing is sent anywhere (the log's I/O is not this bench's). The cyclic garbage collector is
paused during each tick's batch, as the workers pause it (:mod:`streams.runtime.gc_pause`).
Figures: seconds per step and in all, microseconds per ticket, the total extrapolated to
1,000,000 tickets on one core (the path is linear in the tickets), and memory: the stored states
(payload bytes, and the Python objects that hold them with their keys), the index, and the
process's peak RSS growth over the restart (a tick's new states and events are all in memory
until its batch is written), also per ticket and extrapolated to 1,000,000; ``page_faults``:
the minor page faults the restart took (memory touched for the first time, all processes).
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from bench.timers import POLICY
from streams.core.ticket import ThreadState
from streams.runtime.batch_store import BatchStore
from streams.runtime.bus import partition_for
from streams.runtime.fold import Position, UpdateFolder
from streams.runtime.gc_pause import gc_paused
from streams.runtime.kafka.bus import kafka_partition
from streams.runtime.state_codec import dump_thread, load_thread
from streams.runtime.timers import Partitioner, TimerBook, partition_of
from streams.schema.commands import Tick
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import encode_event
from streams.sla.policy import SlaPolicy


class _Opening(dict[str, ThreadState]):
    """The store while the bench opens its tickets (no ticks then)."""

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


class _Restarted(BatchStore):
    """A worker's store for one batch (:class:`~streams.runtime.batch_store.BatchStore`)
    over the stored bytes (fired from them, or decoded when asked for), and the timer
    index's due threads."""

    def __init__(self, stored: dict[str, bytes], timers: TimerBook) -> None:
        super().__init__(timers)
        self.states = stored

    def read(self, thread_key: str) -> ThreadState | None:
        raw = self.states.get(thread_key)
        return load_thread(raw) if raw is not None else None

    def read_raw(self, thread_key: str) -> bytes | None:
        return self.states.get(thread_key)


def _update(i: int, date: int) -> bytes:
    uid = 100_000 + i
    sender = {"id": uid, "is_bot": False, "first_name": "Prospect"}
    update = {"update_id": i + 1, "message": {
        "message_id": 1, "date": date, "chat": {"id": uid, "type": "private",
                                                "first_name": "Prospect"},
        "from": sender, "text": "Hello, what does the annual plan cost?"}}
    return RawTelegramUpdate(bot_id=7000000001, source="webhook",
                             received_at=datetime.fromtimestamp(date, UTC),
                             update=update).to_bytes()


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux: ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _open_tickets(folder: UpdateFolder, tickets: int, opened: int) -> dict[str, bytes]:
    """``tickets`` tickets opened at ``opened`` (epoch seconds), as the worker stores them."""
    store = _Opening()
    where = Position("telegram.updates", 0, 0, None)
    stored: dict[str, bytes] = {}
    for i in range(tickets):
        folded = folder.fold(_update(i, opened), store, where, datetime.now(UTC))
        assert folded.thread is not None
        key = folded.thread.thread_key
        stored[key] = dump_thread(folded.thread)
    return stored


def _held_bytes(stored: dict[str, bytes]) -> int:
    """The Python objects holding the stored states: values, keys, the dict's table."""
    return (sys.getsizeof(stored) + sum(map(sys.getsizeof, stored.values()))
            + sum(map(sys.getsizeof, stored)))


def _restart(folder: UpdateFolder, stored: dict[str, bytes], partitions: int,
             partition: int, now: datetime, partitioner: Partitioner,
             known: dict[str, int] | None = None) -> dict[str, Any]:
    """The worker's restart path for ``partition`` (of ``partitions``), whose stored states
    are ``stored``: the index built, every due timer fired one tick at a time, each tick's
    events and states encoded and the states stored and scheduled as the workers do.
    ``known``: each stored state's partition, as a Kafka table recovered from its changelog
    knows it (:meth:`~streams.runtime.timers.TimerBook.build_stored`)."""
    rss_before = _status_kb("VmRSS")
    peak_reset = _reset_peak_rss()
    tick = Tick(partition=partition, at=now).to_bytes()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started, cpu_started = time.perf_counter(), time.process_time()
    timers = TimerBook.for_folder(folder, partitions, partitioner)
    timers.build_stored(stored.items(), [partition], None if known is None else known.get)
    indexed = time.perf_counter()
    fire_s = encode_s = 0.0
    fired_events = encoded_bytes = written = ticks = 0
    while ticks == 0 or timers.backlog(partition):  # one batch per tick, as the worker folds
        ticks += 1
        with gc_paused():  # as the workers fold a batch
            batch_started = time.perf_counter()
            store = _Restarted(stored, timers)
            where = Position("ticket.commands", partition, ticks, "tick")
            folded = folder.fold(tick, store, where, now)
            batch_fired = time.perf_counter()
            events = [encode_event(e) for e in folded.events]
            store.take(folded)
            dumped = [(key, store.encoded(key)) for key in store.changed()]
            stored.update(dumped)
            timers.schedule_stored(dumped)
            timers.schedule_stored((k, raw) for k in store.untouched()
                                   if (raw := stored.get(k)) is not None)
            fire_s += batch_fired - batch_started
            encode_s += time.perf_counter() - batch_fired
            fired_events += len(folded.events)
            encoded_bytes += sum(map(len, events))
            written += len(dumped)
            del events, folded, store, dumped
    finished, cpu = time.perf_counter(), time.process_time() - cpu_started
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    peak = _status_kb("VmHWM") if peak_reset else None
    return {"tickets": len(stored), "events_fired": fired_events,
            "events_encoded_bytes": encoded_bytes, "states_written": written,
            "still_pending": len(timers.indexes[partition]), "ticks": ticks,
            "index_s": indexed - started, "fire_s": fire_s, "encode_s": encode_s,
            "total_s": finished - started, "cpu_s": cpu, "page_faults": faults,
            "rss_before_kb": rss_before,
            "peak_growth_kb": (None if peak is None or rss_before is None
                               else peak - rss_before)}


def _restart_in_child(folder: UpdateFolder, stored: dict[str, bytes], partitions: int,
                      partition: int, now: datetime, ready: Queue[Any], go: Event,
                      results: Queue[Any]) -> None:
    # The stored states are the parent's, shared copy-on-write since the fork: the first
    # touch of each (its reference count) copies its page. A worker holds its own (recovered
    # from the changelog), so the copies are made here, before the clock starts.
    for _ in stored.items():
        pass
    # What the Kafka table's recovery noted of each key it read back (its changelog
    # partition), which a worker indexes its partitions by instead of hashing every key.
    known = dict.fromkeys(stored, partition)
    gc.collect()
    ready.put(partition)
    go.wait()
    try:
        results.put(_restart(folder, stored, partitions, partition, now, kafka_partition,
                             known))
    except BaseException as exc:  # the parent waits for a result from every process
        results.put(f"partition {partition}: {exc!r}")
        raise


def _restart_split(folder: UpdateFolder, stored: dict[str, bytes], processes: int,
                   now: datetime) -> tuple[float, list[dict[str, Any]]]:
    """The restart split over ``processes`` worker processes, one partition of
    ``processes`` each (Kafka's partitioner, as the Kafka runtime's workers share a topic's
    partitions), all started at once: the seconds until the last is done, and each one's
    figures."""
    parts: list[dict[str, bytes]] = [{} for _ in range(processes)]
    for key, data in stored.items():
        parts[partition_of(key, processes, kafka_partition)][key] = data
    fork = get_context("fork")
    ready: Queue[Any] = fork.Queue()
    results: Queue[Any] = fork.Queue()
    go = fork.Event()
    children = [fork.Process(target=_restart_in_child, args=(
        folder, parts[p], processes, p, now, ready, go, results)) for p in range(processes)]
    for child in children:
        child.start()
    for _ in children:
        ready.get()
    started = time.perf_counter()
    go.set()
    figures = [results.get() for _ in children]
    elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    failed = [f for f in figures if isinstance(f, str)]
    if failed:
        raise RuntimeError(f"a worker process failed: {'; '.join(failed)}")
    return elapsed, figures


def run(tickets: int = 100_000, processes: int = 1, restarts: int = 1) -> dict[str, Any]:
    """``processes`` > 1: the firing split over that many worker processes (see
    :func:`_restart_split`); the stored states are opened and measured in this one.
    ``restarts``: the restart run that many times over the same stored states (each split
    over fresh forks; in this process, each over a copy of the store), the figures those of
    the median run (by its seconds), every run's seconds and CPU listed."""
    policy = SlaPolicy.from_toml(POLICY)
    folder = UpdateFolder(sla_policy=policy)
    opened = int(time.time()) - 3 * 3600
    setup_started = time.perf_counter()
    stored = _open_tickets(folder, tickets, opened)
    setup_s = time.perf_counter() - setup_started
    payload = sum(map(len, stored.values()))
    held = _held_bytes(stored)
    gc.collect()
    now = datetime.fromtimestamp(opened, UTC) + timedelta(hours=2, minutes=1)

    tracemalloc.start()  # the index's own bytes, on a book built only for that
    sized = TimerBook.for_folder(folder, 1)
    sized.build_stored(stored.items(), [0])
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del sized
    gc.collect()

    load_before = os.getloadavg()
    runs: list[tuple[float, list[dict[str, Any]]]] = []
    for _ in range(restarts):
        if processes == 1:
            one = _restart(folder, dict(stored), 1, 0, now, partition_for)
            runs.append((one["total_s"], [one]))
        else:
            runs.append(_restart_split(folder, stored, processes, now))
        gc.collect()
    load_after = os.getloadavg()
    runs.sort(key=lambda run: run[0])
    total, figures = runs[(len(runs) - 1) // 2]  # the median (the lower middle of an even count)
    growths = [f["peak_growth_kb"] for f in figures]
    growth = None if None in growths else sum(growths)
    rss_before = figures[0]["rss_before_kb"] if processes == 1 else _status_kb("VmRSS")
    per_ticket_bytes = (held + index_bytes) / tickets

    def summed(name: str) -> int:
        return int(sum(f[name] for f in figures))

    def slowest(name: str) -> float:
        return round(float(max(f[name] for f in figures)), 2)

    return {
        "tickets": tickets,
        "processes": processes,
        "policy": "as `telecase bench timers`: first response 2h, resolution 8h, 24/7",
        "setup_s": round(setup_s, 2),
        "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "stored_bytes_per_thread": round(payload / tickets),
        "memory": {
            "stored_states_mb": round(held / 2**20, 1),
            "stored_state_objects_bytes_per_thread": round(held / tickets),
            "index_bytes_per_thread": round(index_bytes / tickets),
            "stored_and_index_1m_tickets_mb": round(per_ticket_bytes * 1_000_000 / 2**20),
            "rss_before_restart_mb": None if rss_before is None else round(rss_before / 1024),
            "restart_peak_rss_growth_mb": None if growth is None else round(growth / 1024),
        },
        "restart": {
            "restarts": restarts,
            "runs_total_s": [round(t, 2) for t, _ in runs],
            "runs_cpu_s": [round(sum(f["cpu_s"] for f in fs), 3) for _, fs in runs],
            "overdue_timers": tickets,
            "events_fired": summed("events_fired"),
            "events_encoded_bytes": summed("events_encoded_bytes"),
            "states_written": summed("states_written"),
            "still_pending": summed("still_pending"),
            "ticks": summed("ticks"),
            "index_s": slowest("index_s"),
            "fire_s": slowest("fire_s"),
            "encode_s": slowest("encode_s"),
            "total_s": round(total, 2),
            "cpu_s": round(sum(f["cpu_s"] for f in figures), 2),
            "us_per_ticket": round(total / tickets * 1e6, 1),
            "cpu_us_per_ticket": round(sum(f["cpu_s"] for f in figures) / tickets * 1e6, 1),
            "page_faults": summed("page_faults"),
            "extrapolated_1m_tickets_s": round(total / tickets * 1_000_000, 1),
            "target_s": 10,
        },
    }
