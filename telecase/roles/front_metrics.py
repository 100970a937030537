"""The webhook front's counters, carried to the main process's ``/metrics``.

The front process (:mod:`telecase.roles.embedded_front`) counts what its webhook accepted,
rejected and refused in its own Prometheus registry, which nobody scrapes. :func:`publish` writes
their current values into the spool's ``kv`` table (space ``webhook-metrics``) every half second
and when the front stops; in the main process a :class:`CounterRelay` reads them and adds what
grew since its last read to the same counters there, so the webhook's metrics (and the alerts on
them) stay where they were with the webhook in-process.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from prometheus_client import Counter

from connectors.telegram.inbound_metrics import ACCEPTED, REFUSED, REJECTED
from streams.runtime.embedded.log import EmbeddedLog

SPACE = "webhook-metrics"
_COUNTERS: dict[str, Counter] = {"telecase_telegram_updates_accepted": ACCEPTED,
                                 "telecase_telegram_webhook_rejected": REJECTED,
                                 "telecase_telegram_updates_refused": REFUSED}


def _values() -> list[tuple[bytes, bytes]]:
    items = []
    for counter in _COUNTERS.values():
        for family in counter.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = json.dumps([family.name, sample.labels], sort_keys=True)
                    items.append((key.encode(), repr(sample.value).encode()))
    return items


async def publish(spool: EmbeddedLog) -> None:
    """The front's counters as they are now, into its spool."""
    items = _values()
    if items:
        await spool.transact(lambda db: spool.put_states_in(db, SPACE, items))


class CounterRelay:
    """Adds the growth of the front's published counters to this process's counters."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool
        self._seen: dict[bytes, float] = {}

    def relay(self) -> None:
        try:
            db = sqlite3.connect(f"file:{self.spool}?mode=ro", uri=True, timeout=0.05)
        except sqlite3.Error:
            return
        try:
            rows = db.execute("SELECT key, value FROM kv WHERE space = ?", (SPACE,)).fetchall()
        except sqlite3.Error:  # not created yet, or busy: next time
            return
        finally:
            db.close()
        for key, value in rows:
            key, total = bytes(key), float(bytes(value))
            grown = total - self._seen.get(key, 0.0)
            if grown <= 0:
                continue
            self._seen[key] = total
            name, labels = json.loads(key)
            counter = _COUNTERS.get(name)
            if counter is not None:
                counter.labels(**labels).inc(grown)
