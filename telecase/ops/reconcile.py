"""``telecase reconcile``: the log against Salesforce and Telegram, once or every N seconds.

Salesforce is compared when its credentials are configured, Telegram (each open forum ticket's
topic, see :mod:`connectors.telegram.topic_check`) when a bot token is, except in a
``--dry-run``: Telegram's topic state can only be read by the call that repairs it.

On Kafka it reads ``ticket.events`` without a consumer group and appends corrections to
``salesforce.changes`` through the runtime's bus (keyed by chat, like the poller's). On
the embedded runtime it needs the log to itself (``telecase run`` holds it: there, set
``TELECASE_RECONCILE_INTERVAL`` and it runs inside ``telecase run``); ``--dry-run`` only reads
and works beside a running ``telecase run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from rich.console import Console
from rich.table import Table

from connectors.raw_log import BusRawLog
from connectors.salesforce.change_poller import SalesforceChangeApi
from connectors.salesforce.reconcile import Drift, Reconciler, Report
from connectors.telegram.bot_api import BotApi
from connectors.telegram.topic_check import TopicProbe
from streams.runtime.embedded.log import LogUnavailableError
from telecase.bootstrap.runtime import open_bus, topic_names
from telecase.bootstrap.salesforce import connect, milestone_check
from telecase.settings import RuntimeKind, Settings, SettingsError


def report_json(report: Report) -> dict[str, Any]:
    """The report as data. ``corrected``: drifts corrected (``records``: the correction
    records appended; one Case's drifts share one); in a dry run 0, and ``would_correct``
    says how many would have been (per row: ``corrected`` false, ``would_correct`` true)."""
    return {"tickets": report.tickets, "cases": report.cases, "topics": report.topics,
            "dry_run": report.dry_run, "field_history": report.field_history,
            "drifts": report.counts(), "corrected": report.drifts_corrected,
            "would_correct": report.drifts_would_correct, "records": report.corrected,
            "details": [{"ticket_id": d.ticket_id, "kind": d.kind, "system": d.system,
                         "log": d.log_value, d.system: d.remote_value, "detail": d.detail,
                         "corrected": report.was_corrected(d),
                         "would_correct": report.would_correct(d)} for d in report.drifts]}


def report_table(report: Report) -> Table:
    topics = "" if report.topics is None else f"{report.topics} Telegram topics, "
    done = (f"{report.drifts_would_correct} would be corrected (dry run)" if report.dry_run
            else f"{report.drifts_corrected} corrected")
    table = Table(title=f"reconcile: {report.tickets} tickets, {report.cases} Cases, {topics}"
                        f"{len(report.drifts)} drifts, {done}")
    for col in ("ticket", "drift", "log", "Salesforce / Telegram", "action", "detail"):
        table.add_column(col)
    for d in report.drifts:
        table.add_row(d.ticket_id, d.kind, d.log_value or "-", d.remote_value or "-",
                      _action(report, d), d.detail)
    return table


def _action(report: Report, drift: Drift) -> str:
    if report.was_corrected(drift):
        return "corrected"
    if report.would_correct(drift):
        return "would correct"
    if drift.correction is not None:
        return "not corrected (nowhere to append)"
    return "reported"


async def run(settings: Settings, *, runtime: RuntimeKind | str, dry_run: bool,
              every: float, console: Console) -> Report | None:
    """One round (``every`` 0) returning its report, or rounds until SIGINT/SIGTERM."""
    names = topic_names(settings)
    probe_telegram = settings.has_telegram_credentials and not dry_run
    if not settings.has_salesforce_credentials and not probe_telegram:
        raise SettingsError("nothing to reconcile with: set the Salesforce credentials "
                            "(TELECASE_SALESFORCE_USERNAME, ...) and/or "
                            "TELECASE_TELEGRAM_BOT_TOKEN (Telegram is not probed in a dry run)")
    api = (SalesforceChangeApi(await connect(settings))
           if settings.has_salesforce_credentials else None)
    closers: list[Any] = []
    topics: TopicProbe | None = None
    if probe_telegram:
        bot = BotApi(settings.require_token(), settings.telegram_api_base)
        closers.append(bot.aclose)
        topics = TopicProbe(bot)
    try:
        kind = RuntimeKind.parse(runtime)
        try:  # a dry run only reads: beside telecase run on the embedded log
            bus = await open_bus(settings, kind, read_only=dry_run)
        except LogUnavailableError as exc:
            raise SettingsError(f"{exc}. While telecase run is running, use --dry-run, "
                                "or set TELECASE_RECONCILE_INTERVAL so it reconciles "
                                "itself") from None
        closers.append(bus.close)
        raw_log = None if dry_run else BusRawLog(bus, names.salesforce_changes)
        topic_log = None if dry_run else BusRawLog(bus, names.telegram_updates)
        reconciler = Reconciler(
            bus, names.ticket_events, api, raw_log, dry_run=dry_run, topics=topics,
            topic_log=topic_log, integration_user_id=settings.salesforce_integration_user_id,
            integration_username=settings.salesforce_username,
            milestones=milestone_check(settings))
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
