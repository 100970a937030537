"""``telecase bench timers --live N``: the ticket worker's own restart path for SLA timers.

``telecase bench timers`` measures the SLA core and its index. A worker that restarts does more
per ticket: it reads the thread's stored state (the bytes its table or store holds), decodes it,
indexes its next deadline, and on the clock's tick folds every overdue thread with
``fire_due`` into ticket events, which it encodes for the log together with the new state. This
measures exactly that, in this process, for ``tickets`` private-chat tickets opened through the
real fold (``UpdateFolder``) under the bench's policy (two timers each), after a downtime past
every first-response deadline. Figures per ticket and the total, and the same extrapolated to
1,000,000 tickets on one core.
"""

from __future__ import annotations

import gc
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.timers import POLICY
from streams.core.service_level import fire_due, next_due
from streams.runtime.fold import Position, UpdateFolder
from streams.runtime.state_codec import dump_thread, load_thread
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import SourceRef, encode_event
from streams.sla.policy import SlaPolicy
from streams.sla.timers import TimerIndex


class _Store(dict[str, Any]):
    def due_threads(self, partition: int, at: datetime) -> list[str]:  # no ticks here
        return []


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


def run(tickets: int = 100_000) -> dict[str, Any]:
    policy = SlaPolicy.from_toml(POLICY)
    folder = UpdateFolder(sla_policy=policy)
    store = _Store()
    opened = int(time.time()) - 3 * 3600
    where = Position("telegram.updates", 0, 0, None)
    build_started = time.perf_counter()
    for i in range(tickets):
        folded = folder.fold(_update(i, opened), store, where, datetime.now(UTC))
        assert folded.thread is not None
        store[folded.thread.thread_key] = folded.thread
    stored = {k: dump_thread(s) for k, s in store.items()}
    build_s = time.perf_counter() - build_started
    store.clear()
    gc.collect()
    now = datetime.fromtimestamp(opened, UTC) + timedelta(hours=2, minutes=1)
    source = SourceRef(kind="clock", tick_at=now)

    started = time.perf_counter()
    states = {k: load_thread(raw) for k, raw in stored.items()}
    decoded = time.perf_counter()
    index: TimerIndex[str] = TimerIndex((k, next_due(s)) for k, s in states.items())
    indexed = time.perf_counter()
    events = 0
    out: list[bytes] = []
    for key in index.pop_due(now):
        fired, state = fire_due(states[key], now, policy, now, source)
        out.extend(encode_event(e) for e in fired)
        out.append(dump_thread(state))
        events += len(fired)
    finished = time.perf_counter()
    total = finished - started
    return {
        "tickets": tickets,
        "policy": "as `telecase bench timers`: first response 2h, resolution 8h, 24/7",
        "setup_s": round(build_s, 2),
        "stored_bytes_per_thread": round(sum(map(len, stored.values())) / tickets),
        "restart": {
            "overdue_timers": tickets,
            "events_fired": events,
            "decode_s": round(decoded - started, 2),
            "index_s": round(indexed - decoded, 2),
            "fire_and_encode_s": round(finished - indexed, 2),
            "total_s": round(total, 2),
            "us_per_ticket": round(total / tickets * 1e6, 1),
            "extrapolated_1m_tickets_s": round(total / tickets * 1_000_000, 1),
            "target_s": 10,
        },
    }
