"""``telecase bench timers --live N``: the ticket worker's own restart path for SLA timers.

``telecase bench timers`` measures the SLA core and its index. A worker that restarts does more
per ticket, and this measures that whole path, in this process, on ``tickets`` private-chat
tickets opened through the real fold (``UpdateFolder``) under the bench's policy (two timers
each), stored as the worker stores them (``dump_thread``: the bytes its table or store holds),
after a downtime past every first-response deadline:

1. ``index``: the worker's :class:`~streams.runtime.timers.TimerBook` built from the stored
   bytes (:meth:`~streams.runtime.timers.TimerBook.build_stored`, what both workers run at
   start: each state's deadline summary, nothing decoded);
2. ``fire``: clock ticks folded by ``UpdateFolder.fold`` against a store like the workers'
   (the index's due threads, at most :data:`~streams.runtime.timers.TICK_MAX_DUE` a tick,
   each stored state decoded when the fold asks for it), one batch per tick until none is
   left;
3. ``encode``: each tick's events encoded for ``ticket.events``, the new states encoded and
   stored, and the index told their next deadlines (what the workers do after a batch).

Nothing is sent anywhere (the log's I/O is not this bench's). The cyclic garbage collector is
paused during each tick's batch, as the workers pause it (:mod:`streams.runtime.gc_pause`).
Figures: seconds per step and in all, microseconds per ticket, the total extrapolated to
1,000,000 tickets on one core (the path is linear in the tickets), and memory: the stored states
(payload bytes, and the Python objects that hold them with their keys), the index, and the
process's peak RSS growth over the restart (a tick's new states and events are all in memory
until its batch is written), also per ticket and extrapolated to 1,000,000.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.timers import POLICY
from streams.core.ticket import ThreadState
from streams.runtime.fold import Position, UpdateFolder
from streams.runtime.gc_pause import gc_paused
from streams.runtime.state_codec import dump_thread, load_thread
from streams.runtime.timers import TimerBook, due_threads
from streams.schema.commands import Tick
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import encode_event
from streams.sla.policy import SlaPolicy


class _Opening(dict[str, ThreadState]):
    """The store while the bench opens its tickets (no ticks then)."""

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


class _Restarted:
    """A worker's store for one batch: what the batch decided, over the stored bytes (decoded
    when asked for), and the timer index's due threads."""

    def __init__(self, stored: dict[str, bytes], timers: TimerBook) -> None:
        self.stored, self.timers = stored, timers
        self.pending: dict[str, ThreadState] = {}
        self.popped: list[str] = []

    def get(self, thread_key: str) -> ThreadState | None:
        state = self.pending.get(thread_key)
        if state is None and (raw := self.stored.get(thread_key)) is not None:
            state = load_thread(raw)
        return state

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return due_threads(self.timers, self.pending, self.popped, partition, at)


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


def run(tickets: int = 100_000) -> dict[str, Any]:
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
    tick = Tick(partition=0, at=now).to_bytes()

    tracemalloc.start()  # the index's own bytes, on a book built only for that
    sized = TimerBook.for_folder(folder, 1)
    sized.build_stored(stored.items(), [0])
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del sized
    gc.collect()

    rss_before = _status_kb("VmRSS")
    peak_reset = _reset_peak_rss()
    started = time.perf_counter()
    timers = TimerBook.for_folder(folder, 1)
    timers.build_stored(stored.items(), [0])
    indexed = time.perf_counter()
    fire_s = encode_s = 0.0
    fired_events = encoded_bytes = written = ticks = 0
    while ticks == 0 or timers.backlog(0):  # one batch per tick, as the worker folds them
        ticks += 1
        with gc_paused():  # as the workers fold a batch
            batch_started = time.perf_counter()
            store = _Restarted(stored, timers)
            where = Position("ticket.commands", 0, ticks, "tick")
            folded = folder.fold(tick, store, where, now)
            batch_fired = time.perf_counter()
            events = [encode_event(e) for e in folded.events]
            for state in folded.states:
                if state is not None:
                    store.pending[state.thread_key] = state
            for key, state in store.pending.items():
                stored[key] = dump_thread(state)
            timers.schedule(store.pending.values())
            timers.schedule(s for k in store.popped if k not in store.pending
                            and (s := store.get(k)) is not None)
            fire_s += batch_fired - batch_started
            encode_s += time.perf_counter() - batch_fired
            fired_events += len(folded.events)
            encoded_bytes += sum(map(len, events))
            written += len(store.pending)
            del events, folded, store
    finished = time.perf_counter()
    peak = _status_kb("VmHWM") if peak_reset else None
    total = finished - started
    still_pending = len(timers.indexes[0])
    per_ticket_bytes = (held + index_bytes) / tickets
    return {
        "tickets": tickets,
        "policy": "as `telecase bench timers`: first response 2h, resolution 8h, 24/7",
        "setup_s": round(setup_s, 2),
        "stored_bytes_per_thread": round(payload / tickets),
        "memory": {
            "stored_states_mb": round(held / 2**20, 1),
            "stored_state_objects_bytes_per_thread": round(held / tickets),
            "index_bytes_per_thread": round(index_bytes / tickets),
            "stored_and_index_1m_tickets_mb": round(per_ticket_bytes * 1_000_000 / 2**20),
            "rss_before_restart_mb": None if rss_before is None else round(rss_before / 1024),
            "restart_peak_rss_growth_mb": (None if peak is None or rss_before is None
                                           else round((peak - rss_before) / 1024)),
        },
        "restart": {
            "overdue_timers": tickets,
            "events_fired": fired_events,
            "events_encoded_bytes": encoded_bytes,
            "states_written": written,
            "still_pending": still_pending,
            "ticks": ticks,
            "index_s": round(indexed - started, 2),
            "fire_s": round(fire_s, 2),
            "encode_s": round(encode_s, 2),
            "total_s": round(total, 2),
            "us_per_ticket": round(total / tickets * 1e6, 1),
            "extrapolated_1m_tickets_s": round(total / tickets * 1_000_000, 1),
            "target_s": 10,
        },
    }
