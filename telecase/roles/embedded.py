"""``telecase run``: connector, worker and projector in one process over the embedded log.

The same code as the Kafka deployment (the webhook/poller, ``UpdateFolder``, the cases
projector) behind the :class:`~streams.runtime.bus.Bus` interface, with the log in
``<data dir>/log.sqlite`` and projections in ``<data dir>/projections.sqlite`` (or
``TELECASE_DATABASE_URL``). Ctrl-C (or SIGTERM) stops the inbound side first, lets requests in
flight finish (each is acknowledged only once durable), then stops the worker and projector
between batches; a restart resumes from the stored positions.

With ``--demo`` (the default when no bot token is configured) a Telegram simulator in the same
process plays customers and delivers to the real webhook endpoint, and a live table shows the
tickets as the projection sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from rich.console import Console
from sqlalchemy import Engine, select
from sqlalchemy.exc import DatabaseError, OperationalError

from connectors.raw_log import BusRawLog
from connectors.salesforce.change_poller import SalesforceChangeApi
from connectors.salesforce.files_runner import FilesRunner
from connectors.salesforce.reconcile import Reconciler
from connectors.salesforce.sync_runner import SyncRunner
from connectors.telegram import webhook_admin
from connectors.telegram.bot_api import BotApi
from connectors.telegram.polling import LongPoller
from connectors.telegram.topic_check import TopicProbe
from connectors.telegram.webhook import serve_webhook
from projections.bus_runner import BusProjector
from projections.db import create_schema
from projections.tables import cases
from streams.runtime.embedded.log import EmbeddedLog, LogUnavailableError
from streams.runtime.embedded.worker import EmbeddedWorker
from streams.runtime.quarantine import describe, format_traceback
from streams.runtime.topics import TopicNames
from telecase.bootstrap.agent_tools import (
    TemplatesFileError,
    agent_tools_api,
    agent_tools_runner,
    load_templates_file,
    refresh_quick_text,
)
from telecase.bootstrap.intake import intake_messenger, intake_rules, pilot_gate
from telecase.bootstrap.mirror import reply_mirror
from telecase.bootstrap.policy import Policies, PolicyFileError, load_policies
from telecase.bootstrap.runtime import (
    open_embedded_log,
    projection_engine,
    topic_names,
)
from telecase.bootstrap.salesforce import (
    case_files,
    change_poller,
    connect,
    deadline_notifications,
    limit_guard,
    milestone_check,
    milestone_reader,
    opportunities_runner,
    watch_api_limits,
)
from telecase.bootstrap.salesforce import sync_runner as salesforce_sync
from telecase.demo import policy as demo_policy
from telecase.demo import screen, simulated
from telecase.demo import world as demo_world
from telecase.demo.traffic import DemoSummary
from telecase.errors import TelecaseError
from telecase.ops.deadletter import RETRY_INBOX
from telecase.ops.deadletter_watch import watch_dead_letters
from telecase.ops.salesforce_outreach import salesforce_outreach
from telecase.ops.silence import watch_from_settings
from telecase.ops.ticket import drain_ticket_inbox
from telecase.roles import tally
from telecase.roles.embedded_front import start_front
from telecase.settings import RuntimeKind, Settings, SettingsError
from telecase.web.metrics import serve_metrics

log = structlog.get_logger("telecase.run")


class RunError(TelecaseError):
    """``telecase run`` cannot start; the message says why and what to do."""


@dataclass
class Runtime:
    log: EmbeddedLog
    engine: Engine
    names: TopicNames
    worker: EmbeddedWorker
    projector: BusProjector
    policies: Policies


async def open_runtime(settings: Settings, *, demo: bool = False) -> Runtime:
    """``demo``: without a policy file, the demo's SLA policy (``telecase.demo.policy``)."""
    try:
        policies = load_policies(settings.policy_file)
    except PolicyFileError as exc:
        raise RunError(str(exc)) from None
    if demo and settings.policy_file is None:
        policies = Policies(sla=demo_policy.sla_policy())
    try:  # the log, its topics made sure of
        log_ = await open_embedded_log(settings)
    except LogUnavailableError as exc:
        raise RunError(str(exc)) from None
    engine = projection_engine(settings, RuntimeKind.EMBEDDED)
    try:
        await asyncio.to_thread(create_schema, engine)
    except (DatabaseError, OperationalError) as exc:
        await log_.close()
        cause = str(exc.orig) if exc.orig is not None else str(exc)
        raise RunError(f"the projection database {engine.url.render_as_string()} cannot be "
                       f"used: {cause}. If it is a corrupt file, move it aside: it is rebuilt "
                       "from the log.") from None
    names = topic_names(settings)
    worker = EmbeddedWorker(log_, names, agents=frozenset(settings.telegram_agent_ids),
                            sla_policy=policies.sla, tick_interval=settings.sla_tick_interval,
                            clock=lambda: time.time() + settings.sla_clock_offset,
                            intake=intake_rules(settings), pilot=pilot_gate(settings),
                            tick_max_due=settings.sla_tick_max_due)
    try:  # agents' /t templates; Quick Text joins them once Salesforce is connected
        worker.folder.templates = load_templates_file(settings.templates_file)
    except TemplatesFileError as exc:
        await log_.close()
        raise RunError(str(exc)) from None
    return Runtime(log_, engine, names, worker, BusProjector(log_, engine, names), policies)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve_webhook(rt: Runtime, settings: Settings, *, bot_id: int, secret: str,
                         host: str, port: int) -> web.AppRunner:
    return await serve_webhook(BusRawLog(rt.log, rt.names.telegram_updates), bot_id=bot_id,
                               secret=secret, host=host, port=port, path=settings.webhook_path,
                               max_body_bytes=settings.webhook_max_body_bytes,
                               body_timeout=settings.webhook_body_timeout_seconds)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run(settings: Settings, *, demo: bool, duration: float,
              console: Console | None = None) -> DemoSummary:
    console = console or Console()
    if not demo and not settings.has_telegram_credentials:
        raise SettingsError("TELECASE_TELEGRAM_BOT_TOKEN is not set; set it, or use --demo")
    serve_metrics(settings)
    rt = await open_runtime(settings, demo=demo)
    start = await tally.read(rt.log, rt.names, rt.engine)  # what earlier runs left
    stop = asyncio.Event()
    _install_signals(stop)
    summary = DemoSummary()
    # the simulators' world of earlier demo runs on this data (telecase.demo.world)
    world = demo_world.load(settings.data_dir) if demo else None
    loops = [asyncio.create_task(rt.worker.run(stop), name="worker"),
             asyncio.create_task(rt.projector.run(stop), name="projector"),
             asyncio.create_task(watch_dead_letters(  # the gauge; retries queued while running
                 rt.log, rt.names, stop, inbox=Path(settings.data_dir) / RETRY_INBOX),
                 name="deadletters")]
    after_loops: list[Any] = []  # closed once the loops have stopped
    loops.append(asyncio.create_task(drain_ticket_inbox(  # telecase ticket open (ops.ticket)
        rt.log, rt.names, Path(settings.data_dir), stop), name="ticket-inbox"))
    sync_runner: SyncRunner | None = None
    try:
        sf_settings = settings
        if demo and not settings.has_salesforce_credentials:
            sf_settings = await simulated.start_org(settings, after_loops, world)
            if settings.policy_file is None:  # the demo desk: agents in the simulated org
                agents = await simulated.demo_agents(sf_settings, world)
                rt.policies = Policies(rt.policies.sla, agents)
        if world is not None:
            loops.append(asyncio.create_task(
                demo_world.keep_saving(settings.data_dir, world, stop), name="demo-world"))
        if rt.policies.assignment is not None:  # the desk: routing and assignment
            from streams.runtime.desk import DeskWorker, EmbeddedDeskStore
            from telecase.ops.desk import drain_inbox
            desk = DeskWorker(rt.log, rt.names, rt.policies.assignment,
                              EmbeddedDeskStore(rt.log, rt.names),
                              sla_enabled=rt.policies.sla is not None)
            loops.append(asyncio.create_task(desk.run(stop), name="desk"))
            loops.append(asyncio.create_task(
                drain_inbox(rt.log, rt.names, Path(settings.data_dir), stop), name="desk-inbox"))
        if sf_settings.has_salesforce_credentials:
            changes = BusRawLog(rt.log, rt.names.salesforce_changes)
            sync_runner = await salesforce_sync(sf_settings, rt.log, rt.names, changes)
            poller = await change_poller(sf_settings, changes, rt.log, rt.names)
            loops.append(asyncio.create_task(sync_runner.run(stop), name="salesforce-sync"))
            loops.append(asyncio.create_task(poller.run(stop), name="salesforce-changes"))
            reader = await milestone_reader(sf_settings, changes, rt.log, rt.names)
            if reader is not None:  # Salesforce the SLA clock of record: its milestones
                loops.append(asyncio.create_task(reader.run(stop), name="salesforce-milestones"))
            loops.append(asyncio.create_task(watch_api_limits(sf_settings, stop),
                                             name="salesforce-limits"))
            if sf_settings.has_telegram_credentials:  # customers' files onto the Case
                attacher, close_files = await case_files(sf_settings)
                after_loops.append(close_files)
                loops.append(asyncio.create_task(FilesRunner(rt.log, rt.names, attacher).run(
                    stop), name="salesforce-files"))
            if settings.salesforce_notifications:  # deadline notifications in Salesforce
                bells = await deadline_notifications(sf_settings, rt.log, rt.names)
                loops.append(asyncio.create_task(bells.run(stop), name="salesforce-bells"))
            if settings.salesforce_opportunities:  # deals: qualified tickets' Opportunities
                deals = await opportunities_runner(sf_settings, rt.log, rt.names)
                loops.append(asyncio.create_task(deals.run(stop), name="salesforce-deals"))
            if settings.outreach_chat_id is not None and settings.has_telegram_credentials:
                loops.append(asyncio.create_task(salesforce_outreach(  # Cases for Telegram
                    sf_settings, rt.log, rt.names, stop), name="salesforce-outreach"))
            tools = await agent_tools_runner(sf_settings, rt.log, rt.names, changes)
            loops.append(asyncio.create_task(tools.run(stop), name="salesforce-agent-tools"))
            if settings.templates_quick_text:
                folder, files = rt.worker.folder, rt.worker.folder.templates

                def install(catalog: Any) -> None:
                    folder.templates = catalog

                loops.append(asyncio.create_task(refresh_quick_text(
                    settings, await agent_tools_api(sf_settings), files, install, stop),
                    name="quick-text"))
            if settings.reconcile_interval > 0:
                reconciler = Reconciler(
                    rt.log, rt.names.ticket_events,
                    SalesforceChangeApi(await connect(sf_settings)), changes,
                    integration_user_id=sf_settings.salesforce_integration_user_id,
                    integration_username=sf_settings.salesforce_username,
                    guard=limit_guard(sf_settings), milestones=milestone_check(sf_settings))
                loops.append(asyncio.create_task(
                    reconciler.run(stop, settings.reconcile_interval), name="reconcile"))
        if demo or settings.dashboard_port is not None:  # the dashboard, on the projections
            from telecase.web.server import start_embedded
            dashboard, url, keys_file = await start_embedded(rt.engine, rt.log, settings,
                                                             rt.policies, demo=demo)
            after_loops.append(dashboard.cleanup)
            console.print(f"Dashboard: {url}" + (f" (log in with a key from {keys_file})"
                                                 if keys_file is not None else ""))
    except BaseException:
        stop.set()
        for closer in after_loops:
            await closer()
        await asyncio.gather(*loops, return_exceptions=True)
        await rt.log.close()
        rt.engine.dispose()
        raise
    failed: list[BaseException] = []

    def supervise(task: asyncio.Task[None]) -> None:
        # A worker or projector that dies takes the process down (a supervisor restarts it
        # and it resumes from its position), rather than accepting updates nobody folds.
        if not task.cancelled() and (exc := task.exception()) is not None:
            failed.append(exc)
            # where (the stage's note: topic, partition, offsets) and the stack, never the
            # error's full text (a database error quotes its statement's parameters)
            log.error("run.loop_failed", loop=task.get_name(), error=describe(exc),
                      where=list(getattr(exc, "__notes__", ())),
                      traceback=format_traceback(exc))
            stop.set()

    for task in loops:
        task.add_done_callback(supervise)
    inbound: list[Any] = []
    try:
        if demo:
            console.print("[bold]telecase run --demo[/bold]: no Telegram credentials in use; "
                          "a simulated Telegram sends the traffic"
                          + ("" if settings.has_salesforce_credentials else
                             ", and Cases go to a simulated Salesforce")
                          + f". Data in {Path(settings.data_dir).resolve()}")
            await _demo(rt, settings, stop, duration, summary, console, inbound, supervise,
                        world or demo_world.DemoWorld())
        else:
            await _live(rt, settings, stop, duration, inbound, supervise)
    finally:
        stop.set()
        for closer in reversed(inbound):
            await closer()
        for task in loops:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        tally.settle(summary, start, await tally.read(rt.log, rt.names, rt.engine))
        summary.synced = sync_runner.synced if sync_runner is not None else None
        for closer in after_loops:
            await closer()
        if world is not None:  # what the simulators know now, for the next run
            demo_world.save(settings.data_dir, world)
        await rt.log.close()
        rt.engine.dispose()
    if failed:
        raise RunError(f"stopped: {failed[0]!r}. Nothing acknowledged is lost; start again "
                       "to resume.")
    return summary


async def _live(rt: Runtime, settings: Settings, stop: asyncio.Event, duration: float,
                inbound: list[Any], supervise: Callable[[asyncio.Task[None]], None]) -> None:
    if settings.telegram_mode == "webhook" and settings.webhook_front_process:
        settings.require_webhook_secret()  # served by telecase.roles.embedded_front
        door = await start_front(rt.log, rt.names.telegram_updates, Path(settings.data_dir),
                                 supervise)
        inbound.append(door.cleanup)
        log.info("run.webhook.listening", port=settings.webhook_port, process=door.process.pid)
        await webhook_admin.prepare_inbound(settings)
    elif settings.telegram_mode == "webhook":
        runner = await _serve_webhook(rt, settings, bot_id=settings.bot_id,
                                      secret=settings.require_webhook_secret(),
                                      host=settings.webhook_host, port=settings.webhook_port)
        inbound.append(runner.cleanup)
        log.info("run.webhook.listening", port=settings.webhook_port)
        await webhook_admin.prepare_inbound(settings)
    else:
        await webhook_admin.prepare_inbound(settings)
        api = BotApi(settings.require_token(), settings.telegram_api_base)
        poller = LongPoller(api, BusRawLog(rt.log, rt.names.telegram_updates),
                            bot_id=settings.bot_id,
                            dead_letters=BusRawLog(rt.log, rt.names.dead_letters))
        task = asyncio.create_task(poller.run())

        async def close_poller() -> None:
            poller.stop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await api.aclose()

        inbound.append(close_poller)
    _start_mirror(rt, settings, BotApi(settings.require_token(), settings.telegram_api_base),
                  stop, inbound, supervise)
    await _wait(stop, duration)


def _start_mirror(rt: Runtime, settings: Settings, api: BotApi, stop: asyncio.Event,
                  closers: list[Any], supervise: Callable[[asyncio.Task[None]], None]) -> None:
    """Agents' replies from Salesforce into the tickets' threads, until ``stop``. A loop
    that fails stops the process like the worker's would (``supervise``)."""
    mirror, ledger = reply_mirror(settings, "embedded", rt.log, rt.names, api,
                                  BusRawLog(rt.log, rt.names.telegram_updates))
    task = asyncio.create_task(mirror.run(stop), name="telegram-mirror")
    tasks = [task]
    # the bot intake forms' questions and intake topics, on the mirror's ledger and pace
    messenger, intake_ledger = intake_messenger(settings, "embedded", rt.log, rt.names, api,
                                                BusRawLog(rt.log, rt.names.telegram_updates))
    tasks.append(asyncio.create_task(messenger.run(stop), name="telegram-intake"))
    if settings.reconcile_interval > 0:  # each open ticket's topic against Telegram
        topics = Reconciler(rt.log, rt.names.ticket_events, None, None,
                            topics=TopicProbe(api),
                            topic_log=BusRawLog(rt.log, rt.names.telegram_updates))
        tasks.append(asyncio.create_task(topics.run(stop, settings.reconcile_interval),
                                         name="reconcile-telegram"))

    if settings.telegram_silence_after > 0:  # Telegram falling silent (telecase.ops.silence)
        tasks.append(asyncio.create_task(watch_from_settings(
            settings, rt.policies.sla, rt.log, rt.names.telegram_updates, api, stop),
            name="telegram-silence"))
    for running in tasks:
        running.add_done_callback(supervise)

    async def close() -> None:
        stop.set()
        try:
            for running in tasks:  # a failure is reported by supervise
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await running
        finally:
            await api.aclose()
            ledger.dispose()
            intake_ledger.dispose()

    closers.append(close)


async def _wait(stop: asyncio.Event, duration: float) -> None:
    if duration > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
    else:
        await stop.wait()


async def _demo(rt: Runtime, settings: Settings, stop: asyncio.Event, duration: float,
                summary: DemoSummary, console: Console, inbound: list[Any],
                supervise: Callable[[asyncio.Task[None]], None],
                world: demo_world.DemoWorld) -> None:
    port = _free_port()
    secret = "demo-" + str(random.getrandbits(64))
    runner = await _serve_webhook(rt, settings, bot_id=simulated.DEMO_BOT_ID,
                                  secret=secret, host="127.0.0.1", port=port)
    inbound.append(runner.cleanup)
    # closers run last-in-first-out: customers, mirror, simulator, webhook
    base_url = await simulated.start_telegram(
        world, webhook_url=f"http://127.0.0.1:{port}{settings.webhook_path}", secret=secret,
        closers=inbound)
    _start_mirror(rt, settings, BotApi(simulated.DEMO_TOKEN, base_url), stop, inbound,
                  supervise)
    writing = simulated.start_customers(base_url, world, summary, inbound)
    await screen.show(console, lambda: _rows(rt.engine), stop, duration, summary)
    await writing.stop()
    await asyncio.sleep(1.0)  # webhook deliveries in flight land before the summary


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(cases).order_by(cases.c.opened_at)).all())
