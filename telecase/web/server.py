"""The web processes' composition roots: the audit API (``telecase audit serve``), the dashboard
(``telecase dashboard``: Kafka mode, or beside an embedded run) and the dashboard inside
``telecase run``, with the demo's keys."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from streams.assignment.desk import DeskState
from streams.runtime.embedded.log import EmbeddedLog
from telecase.bootstrap.policy import Policies, load_policies
from telecase.bootstrap.projections import open_projections
from telecase.ops.ticket import ticket_opener
from telecase.settings import RuntimeKind, Settings, SettingsError
from telecase.web.audit_api import (
    ApiKey,
    KeyRing,
    KeysFile,
    KeysFileError,
    create_audit_app,
    key_sha256,
)
from telecase.web.dashboard import DeskReader, create_dashboard_app
from telecase.web.metrics import serve_metrics
from telecase.web.sessions import Sessions

log = structlog.get_logger("telecase.web.dashboard")
audit_log = structlog.get_logger("telecase.audit")

DASHBOARD_PORT = 8091


async def listen(app: web.Application, host: str, port: int, *,
                 fallback_to_free_port: bool = False) -> tuple[web.AppRunner, str]:
    """Serve ``app``; returns the runner and the page's URL. ``fallback_to_free_port``: when
    ``port`` is taken, any free port instead (the demo's default)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError:
            if not fallback_to_free_port:
                raise
            site = web.TCPSite(runner, host, 0)
            await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SettingsError(f"TELECASE_DASHBOARD_PORT: the dashboard cannot listen on "
                            f"{host}:{port}: {exc.strerror or exc}") from None
    bound = runner.addresses[0]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return runner, f"http://{shown}:{bound[1]}/dashboard"


def demo_keys(data_dir: Path, agents: Sequence[str]) -> tuple[KeyRing, Path]:
    """Fresh keys for ``telecase run --demo`` (an admin, and one per demo agent), written to
    ``<data dir>/dashboard-keys.txt`` readable by this user only; the keys never go to the
    logs or the console, only the file's path does."""
    plain = {"admin": secrets.token_urlsafe(24)}
    plain.update({agent: secrets.token_urlsafe(24) for agent in agents if agent != "admin"})
    ring = KeyRing({name: ApiKey(key_sha256=key_sha256(key),
                                 role="admin" if name == "admin" else "agent",
                                 agent_id=None if name == "admin" else name)
                    for name, key in plain.items()})
    path = data_dir / "dashboard-keys.txt"
    lines = ["# telecase run --demo: dashboard keys for this run (paste one into the login form)",
             *(f"{name:<8} {'admin' if name == 'admin' else 'agent':<6} {key}"
               for name, key in plain.items())]
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # a file left by an earlier run keeps its old mode
        out.write("\n".join(lines) + "\n")
    return ring, path


def session_secret(configured: SecretStr | None) -> bytes | None:
    """``TELECASE_DASHBOARD_SECRET`` as bytes (``None``: unset, a random one per process)."""
    value = configured.get_secret_value() if configured is not None else ""
    return value.encode() if value else None


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM: the life of a server process."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_audit_api(settings: Settings, runtime: RuntimeKind, host: str, port: int) -> None:
    """Run the audit API until SIGINT/SIGTERM (the composition root of the API process)."""
    if settings.audit_api_keys_file is None:
        raise SettingsError("TELECASE_AUDIT_API_KEYS_FILE is not set (the API's keys; see "
                            "`telecase audit key-hash`)")
    policy = load_policies(settings.policy_file).assignment
    keys = KeysFile(Path(settings.audit_api_keys_file), policy)
    engine = open_projections(settings, runtime)
    serve_metrics(settings)
    runner = web.AppRunner(create_audit_app(engine, keys.current, policy), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        audit_log.info("audit_api.listening", host=host, port=port, runtime=runtime,
                       keys=len(keys.current().keys))
        await until_stopped()
    finally:
        await runner.cleanup()
        engine.dispose()


async def serve_dashboard(settings: Settings, runtime: RuntimeKind, host: str, port: int) -> None:
    """``telecase dashboard``: serve until SIGINT/SIGTERM (the composition root)."""
    if settings.audit_api_keys_file is None:
        raise SettingsError("TELECASE_AUDIT_API_KEYS_FILE is not set: the dashboard logs in "
                            "with the audit API's keys (see `telecase audit key-hash`)")
    policies = load_policies(settings.policy_file)
    keys = KeysFile(Path(settings.audit_api_keys_file), policies.assignment)
    engine = open_projections(settings, runtime)
    desk = (_database_desk(engine, f"{settings.topic_prefix}desk")
            if runtime == RuntimeKind.KAFKA and policies.assignment is not None else None)
    serve_metrics(settings)
    app = create_dashboard_app(engine, keys.current, sla_policy=policies.sla,
                               assignment_policy=policies.assignment, desk=desk,
                               sessions=Sessions(session_secret(settings.dashboard_secret)),
                               open_ticket=ticket_opener(settings, runtime))
    try:
        runner, url = await listen(app, host, port)
        try:
            log.info("dashboard.listening", url=url, runtime=runtime,
                     keys=len(keys.current().keys))
            print(f"Dashboard: {url}", flush=True)
            await until_stopped()
        finally:
            await runner.cleanup()
    finally:
        engine.dispose()


def _database_desk(engine: Engine, name: str) -> DeskReader:
    """The Kafka desk's state, as it saved it last
    (:class:`~streams.runtime.kafka.desk_store.SqlDeskStore`)."""
    from streams.runtime.desk import load_snapshot
    from streams.runtime.kafka.desk_store import desk_state

    def query() -> DeskState | None:
        with engine.connect() as conn:
            raw = conn.execute(select(desk_state.c.snapshot)
                               .where(desk_state.c.name == name)).scalar_one_or_none()
        return None if raw is None else load_snapshot(raw).desk

    async def read() -> DeskState | None:
        try:
            return await asyncio.to_thread(query)
        except SQLAlchemyError:
            return None  # the desk never ran here (no table yet)

    return read


async def start_embedded(engine: Engine, event_log: EmbeddedLog, settings: Settings,
                         policies: Policies, *, demo: bool,
                         ) -> tuple[web.AppRunner, str, Path | None]:
    """The dashboard inside ``telecase run`` (on ``TELECASE_DASHBOARD_PORT``; with ``--demo``
    by default on :data:`DASHBOARD_PORT`, or any free port when that one is taken). Keys: the
    audit API's keys file when set; else, in the demo, fresh :func:`demo_keys`. Returns the
    runner, the page's URL and the demo keys' file (``None``: the keys file is in use)."""
    assignment = policies.assignment
    keys_path: Path | None = None
    if settings.audit_api_keys_file is not None:
        try:
            keys: Callable[[], KeyRing] = KeysFile(Path(settings.audit_api_keys_file),
                                                   assignment).current
        except KeysFileError as exc:
            raise SettingsError(f"TELECASE_AUDIT_API_KEYS_FILE: {exc}") from None
    elif demo:
        ring, keys_path = demo_keys(Path(settings.data_dir),
                                    list(assignment.agents) if assignment is not None else [])

        def demo_ring() -> KeyRing:
            return ring

        keys = demo_ring
    else:
        raise SettingsError("TELECASE_DASHBOARD_PORT is set but TELECASE_AUDIT_API_KEYS_FILE "
                            "is not: the dashboard logs in with the audit API's keys")
    desk: DeskReader | None = None
    if assignment is not None:
        from streams.runtime.desk import STATE_KEY, STATE_SPACE, load_snapshot

        async def desk_now() -> DeskState | None:
            raw = event_log.get_state(STATE_SPACE, STATE_KEY)  # small; on the loop's thread
            return None if raw is None else load_snapshot(raw).desk

        desk = desk_now
    app = create_dashboard_app(engine, keys, sla_policy=policies.sla,
                               assignment_policy=assignment, desk=desk,
                               sessions=Sessions(session_secret(settings.dashboard_secret)),
                               open_ticket=ticket_opener(settings, RuntimeKind.EMBEDDED))
    port = settings.dashboard_port
    runner, url = await listen(app, settings.dashboard_host,
                               DASHBOARD_PORT if port is None else port,
                               fallback_to_free_port=port is None)
    log.info("run.dashboard.listening", url=url)
    return runner, url, keys_path
