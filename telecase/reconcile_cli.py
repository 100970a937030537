"""``telecase reconcile``: the log against Salesforce, once or every N seconds.

On Kafka it reads ``ticket.events`` without a consumer group and appends corrections to
``salesforce.changes`` through the connectors' producer (keyed by chat, like the poller's). On
the embedded runtime it needs the log to itself (``telecase run`` holds it: there, set
``TELECASE_RECONCILE_INTERVAL`` and it runs inside ``telecase run``); ``--dry-run`` only reads
and works beside a running ``telecase run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from connectors.raw_log import BusRawLog, KafkaRawLog
from connectors.salesforce.change_poller import SalesforceChangeApi
from connectors.salesforce.reconcile import Reconciler, Report
from streams.embedded_log import EmbeddedLog, LogUnavailableError
from streams.topics import TopicNames
from telecase.salesforce import connect
from telecase.settings import Settings, SettingsError


def report_json(report: Report) -> dict[str, Any]:
    return {"tickets": report.tickets, "cases": report.cases, "drifts": report.counts(),
            "corrected": report.corrected,
            "details": [{"ticket_id": d.ticket_id, "kind": d.kind, "log": d.log_value,
                         "salesforce": d.salesforce_value, "detail": d.detail,
                         "corrected": d.correction is not None} for d in report.drifts]}


def report_table(report: Report) -> Table:
    table = Table(title=f"reconcile: {report.tickets} tickets, {report.cases} Cases, "
                        f"{len(report.drifts)} drifts, {report.corrected} corrected")
    for col in ("ticket", "drift", "log", "Salesforce", "action"):
        table.add_column(col)
    for d in report.drifts:
        table.add_row(d.ticket_id, d.kind, d.log_value or "-", d.salesforce_value or "-",
                      "corrected" if d.correction is not None else d.detail)
    return table


async def run(settings: Settings, *, runtime: Literal["embedded", "kafka"], dry_run: bool,
              every: float, console: Console) -> Report | None:
    """One round (``every`` 0) returning its report, or rounds until SIGINT/SIGTERM."""
    names = TopicNames(settings.topic_prefix)
    api = SalesforceChangeApi(await connect(settings))
    closers: list[Any] = []
    try:
        if runtime == "kafka":
            from streams.kafka_bus import KafkaBus
            bus: Any = KafkaBus(settings.kafka_bootstrap_servers, settings.topic_partitions)
            await bus.start()
            closers.append(bus.close)
            raw_log: Any = None
            if not dry_run:
                raw_log = KafkaRawLog(settings.kafka_bootstrap_servers,
                                      names.salesforce_changes)
                await raw_log.start()
                closers.append(raw_log.stop)
        else:
            path = Path(settings.data_dir) / "log.sqlite"
            try:
                bus = (await EmbeddedLog.open_read_only(path) if dry_run
                       else await EmbeddedLog.open(path))
            except LogUnavailableError as exc:
                raise SettingsError(f"{exc}. While telecase run is running, use --dry-run, "
                                    "or set TELECASE_RECONCILE_INTERVAL so it reconciles "
                                    "itself") from None
            closers.append(bus.close)
            raw_log = None if dry_run else BusRawLog(bus, names.salesforce_changes)
        reconciler = Reconciler(bus, names.ticket_events, api, raw_log, dry_run=dry_run)
        if every <= 0:
            report = await reconciler.run_once()
            return report
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        console.print(f"reconciling every {every:g} s; Ctrl-C stops")
        await reconciler.run(stop, every)
        return None
    finally:
        for close in reversed(closers):
            await close()
