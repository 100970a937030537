"""The Kafka runtime's long-running processes, each built from settings by its own small
composition root on :func:`telecase.bootstrap.runtime.open_runtime` (the bus every write
goes through, raw logs, the projections database, the desk store)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from aiohttp import web

from connectors.telegram import webhook_admin
from connectors.telegram.bot_api import BotApi
from connectors.telegram.polling import LongPoller
from connectors.telegram.webhook import create_webhook_app
from projections.db import create_schema
from projections.kafka_runner import KafkaProjector
from streams.runtime.kafka.worker import WorkerConfig, run_worker
from telecase.bootstrap.intake import intake_messenger, intake_rules, pilot_gate
from telecase.bootstrap.policy import load_policies
from telecase.bootstrap.runtime import ensure_kafka_topics, open_runtime
from telecase.ops.deadletter_watch import watch_dead_letters
from telecase.ops.desk import DeskError
from telecase.settings import RuntimeKind, Settings
from telecase.web.metrics import serve_metrics

log = structlog.get_logger("telecase")


def _metrics(settings: Settings) -> None:
    serve_metrics(settings)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _run_until_signalled(
        *loops: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run ``loop(stop)`` for each loop until SIGINT/SIGTERM or until one of them ends; then
    set ``stop`` and wait for all. A loop that failed raises here (the process exits non-zero)."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]
    waiter = asyncio.create_task(_until_signalled())
    await asyncio.wait({*tasks, waiter}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    waiter.cancel()
    for task in tasks:
        await task


ensure = ensure_kafka_topics
"""The topics made sure of (the name ``telecase init`` calls)."""

KAFKA = RuntimeKind.KAFKA


async def telegram_connector(settings: Settings) -> None:
    """Webhook server or long poller, appending to ``telegram.updates``."""
    _metrics(settings)
    async with open_runtime(settings, KAFKA) as rt:
        raw_log = rt.raw_log(rt.names.telegram_updates)
        if settings.telegram_mode == "webhook":
            app = create_webhook_app(raw_log, bot_id=settings.bot_id,
                                     secret=settings.require_webhook_secret(),
                                     path=settings.webhook_path,
                                     max_body_bytes=settings.webhook_max_body_bytes,
                                     body_timeout=settings.webhook_body_timeout_seconds)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
            await site.start()
            log.info("connector.webhook.listening", host=settings.webhook_host,
                     port=settings.webhook_port, path=settings.webhook_path)
            await webhook_admin.prepare_inbound(settings)
            try:
                await _until_signalled()
            finally:
                await runner.cleanup()  # finishes in-flight requests before the log closes
        else:
            await webhook_admin.prepare_inbound(settings)
            api = BotApi(settings.require_token(), settings.telegram_api_base)
            poller = LongPoller(api, raw_log, bot_id=settings.bot_id,
                                dead_letters=rt.raw_log(rt.names.dead_letters))
            task = asyncio.create_task(poller.run())
            waiter = asyncio.create_task(_until_signalled())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            poller.stop()
            waiter.cancel()
            if task in done:
                task.result()
            else:
                with contextlib.suppress(asyncio.CancelledError):
                    task.cancel()
                    await task
            await api.aclose()


def instance_id(settings: Settings, role: str) -> str:
    """The process's stable identity in its consumer group (static membership):
    ``TELECASE_INSTANCE_ID``, else ``<hostname>-<role>``."""
    return settings.instance_id or f"{socket.gethostname()}-{role}"


def worker(settings: Settings) -> None:
    from telecase.bootstrap.agent_tools import templates

    policies = load_policies(settings.policy_file)
    catalog = asyncio.run(templates(settings))  # the file, and Quick Text read once
    _metrics(settings)
    asyncio.run(ensure_kafka_topics(settings))
    run_worker(WorkerConfig(bootstrap_servers=settings.kafka_bootstrap_servers,
                            app_id=settings.worker_app_id, partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                            topic_prefix=settings.topic_prefix,
                            session_timeout=settings.consumer_session_timeout,
                            instance_id=instance_id(settings, "worker"),
                            agent_ids=tuple(settings.telegram_agent_ids),
                            sla_policy=policies.sla, templates=catalog,
                            tick_interval=settings.sla_tick_interval,
                            tick_max_due=settings.sla_tick_max_due,
                            clock=lambda: time.time() + settings.sla_clock_offset,
                            intake=intake_rules(settings), pilot=pilot_gate(settings),
                            datadir=f"{settings.data_dir}/faust/{settings.worker_app_id}"),
               loglevel="WARNING")


async def projector(settings: Settings) -> None:
    _metrics(settings)
    async with open_runtime(settings, KAFKA) as rt:
        engine = rt.projection_engine()
        create_schema(engine)
        runner = KafkaProjector(engine, settings.kafka_bootstrap_servers,
                                group_id=settings.projector_group_id,
                                session_timeout=settings.consumer_session_timeout,
                                names=rt.names, bus=rt.bus,
                                instance_id=instance_id(settings, "projector"))
        task = asyncio.create_task(runner.run())
        watched = asyncio.Event()  # stops the dead letters' gauge
        watch = asyncio.create_task(watch_dead_letters(rt.bus, rt.names, watched))
        waiter = asyncio.create_task(_until_signalled())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        runner.stop()
        watched.set()
        waiter.cancel()
        await task
        await watch


async def salesforce_connector(settings: Settings) -> None:
    """The Salesforce side on Kafka: the sync (a consumer of ``ticket.events`` with its own
    group, linking Cases back into ``salesforce.changes``) and the poller for agents'
    changes (appending to ``salesforce.changes``)."""
    from telecase.bootstrap.agent_tools import agent_tools_runner
    from telecase.bootstrap.salesforce import (
        change_poller,
        milestone_reader,
        sync_runner,
        watch_api_limits,
    )

    _metrics(settings)
    async with open_runtime(settings, KAFKA) as rt:
        bus, names = rt.bus, rt.names
        changes = rt.raw_log(names.salesforce_changes)
        runner = await sync_runner(settings, bus, names, changes)
        poller = await change_poller(settings, changes, bus, names)
        tools = await agent_tools_runner(settings, bus, names, changes)  # Knowledge, ...
        loops = [runner.run, poller.run, tools.run,
                 lambda stop: watch_api_limits(settings, stop)]  # the limit guard's /limits
        reader = await milestone_reader(settings, changes, bus, names)
        if reader is not None:  # Salesforce the SLA clock of record: its milestones
            loops.append(reader.run)
        if settings.has_telegram_credentials:  # customers' files onto the Case
            from connectors.salesforce.files_runner import FilesRunner
            from telecase.bootstrap.salesforce import case_files
            files, _close = await case_files(settings)  # its clients live as long as the process
            loops.append(FilesRunner(bus, names, files).run)
        if settings.salesforce_notifications:  # deadline notifications in Salesforce
            from telecase.bootstrap.salesforce import deadline_notifications
            loops.append((await deadline_notifications(settings, bus, names)).run)
        if settings.salesforce_opportunities:  # deals: qualified tickets' Opportunities
            from telecase.bootstrap.salesforce import opportunities_runner
            loops.append((await opportunities_runner(settings, bus, names)).run)
        if settings.reconcile_interval > 0:
            from connectors.salesforce.change_poller import SalesforceChangeApi
            from connectors.salesforce.reconcile import Reconciler
            from telecase.bootstrap.salesforce import connect, limit_guard, milestone_check
            reconciler = Reconciler(bus, names.ticket_events,
                                    SalesforceChangeApi(await connect(settings)), changes,
                                    integration_user_id=settings.salesforce_integration_user_id,
                                    integration_username=settings.salesforce_username,
                                    guard=limit_guard(settings),
                                    milestones=milestone_check(settings))
            loops.append(lambda stop: reconciler.run(stop, settings.reconcile_interval))
        if settings.outreach_chat_id is not None and settings.has_telegram_credentials:
            from telecase.ops.salesforce_outreach import salesforce_outreach
            loops.append(lambda stop: salesforce_outreach(settings, bus, names, stop))
        await _run_until_signalled(*loops)


async def telegram_out_connector(settings: Settings) -> None:
    """The reply mirror on Kafka: agents' Salesforce replies from ``ticket.events`` into the
    tickets' Telegram threads (its own consumer group; ledger in the database)."""
    from telecase.bootstrap.mirror import reply_mirror

    _metrics(settings)
    async with open_runtime(settings, KAFKA) as rt:
        bus, names = rt.bus, rt.names
        raw_log = rt.raw_log(names.telegram_updates)
        api = BotApi(settings.require_token(), settings.telegram_api_base)
        mirror, ledger = reply_mirror(settings, "kafka", bus, names, api, raw_log)
        messenger, intake_ledger = intake_messenger(settings, "kafka", bus, names, api,
                                                    raw_log)
        loops = [mirror.run, messenger.run]  # the bot intake forms' questions and topics too
        if settings.reconcile_interval > 0:  # each open ticket's topic against Telegram
            from connectors.salesforce.reconcile import Reconciler
            from connectors.telegram.topic_check import TopicProbe
            topics = Reconciler(bus, names.ticket_events, None, None, topics=TopicProbe(api),
                                topic_log=raw_log)
            loops.append(lambda stop: topics.run(stop, settings.reconcile_interval))
        if settings.telegram_silence_after > 0:  # Telegram falling silent (ops.silence)
            from telecase.ops.silence import watch_from_settings
            sla = load_policies(settings.policy_file).sla
            loops.append(lambda stop: watch_from_settings(settings, sla, bus,
                                                          names.telegram_updates, api, stop))
        try:
            await _run_until_signalled(*loops)
        finally:
            await api.aclose()
            ledger.dispose()
            intake_ledger.dispose()


async def desk(settings: Settings) -> None:
    """The desk on Kafka: routing and assignment from ``ticket.events`` and
    ``desk.requests`` into ``ticket.commands``; its state and positions in the database."""
    from streams.runtime.desk import DeskWorker

    policies = load_policies(settings.policy_file)
    if policies.assignment is None:
        raise DeskError("no assignment policy is configured: set TELECASE_POLICY_FILE to a "
                        "file with [routing], [queues] and [agents] (see examples/routing.toml)")
    _metrics(settings)
    async with open_runtime(settings, KAFKA) as rt:
        runner = DeskWorker(rt.bus, rt.names, policies.assignment, await rt.desk_store(),
                            sla_enabled=policies.sla is not None)
        log.info("desk.running", agents=len(policies.assignment.agents),
                 sla=policies.sla is not None)
        await _run_until_signalled(runner.run)
