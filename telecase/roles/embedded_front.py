"""The embedded runtime's webhook front: the Telegram webhook in a process of its own.

``telecase run`` (webhook mode, ``TELECASE_WEBHOOK_FRONT_PROCESS``, on by default) starts
``python -m telecase.roles.embedded_front`` as its child. The child serves the same webhook
application (:func:`connectors.telegram.webhook.create_webhook_app`: same answers, same check)
over the spool (:mod:`streams.runtime.embedded.spool`), so a 200 still means the update is
``fsync``'ed (the requests of a few milliseconds share one commit: :class:`GroupedAppend`);
the parent's :class:`~streams.runtime.embedded.spool.SpoolMover` carries it into
``telegram.updates``. HTTP and the check then run on the second core, and an acknowledgement
never waits behind the worker's batch in the parent's event loop.

The child dies with its parent (``PR_SET_PDEATHSIG``, and a check of its parent's id), so a
``kill -9`` of ``telecase run`` frees the port for the restart; on SIGTERM it stops accepting,
answers the requests in flight, closes the spool and exits 0. It reads the same settings (the
environment and ``.env``), and is told only where the spool is and the parent's pid; it prints
``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from connectors.raw_log import BusRawLog, RawEnvelope, RawLog
from connectors.telegram.webhook import serve_webhook
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.embedded.spool import SpoolMover, open_spool
from telecase import logs
from telecase.errors import TelecaseError
from telecase.roles import front_metrics
from telecase.settings import Settings, load_settings

log = structlog.get_logger("telecase.run.front")
SPOOL_FILE = "webhook-spool.sqlite"
_PR_SET_PDEATHSIG = 1


class FrontError(TelecaseError):
    """The webhook front process did not start, or stopped on its own."""


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


class GroupedAppend:
    """A :class:`~connectors.raw_log.RawLog` that joins concurrent appends into one append to
    ``raw_log``, so many requests share one commit (one ``fsync``, one transaction step, one
    multi-row insert): a commit costs the front about 0.3 ms of CPU whatever its size, a
    record about 0.03 ms more. A group starts committing ``linger`` seconds after its first
    request arrived (at once when ``max_group`` are waiting), and the requests arriving
    meanwhile, or while the previous group commits, join it; so an acknowledgement waits at
    most ``linger`` longer than it would alone. Each :meth:`append` returns only once the
    group holding its envelopes is durable, and raises what that group's append raised
    (every request of a failed group is answered 503)."""

    def __init__(self, raw_log: RawLog, *, linger: float = 0.005,
                 max_group: int = 1000) -> None:
        self.raw_log, self.linger, self.max_group = raw_log, linger, max_group
        self._waiting: list[tuple[Sequence[RawEnvelope], asyncio.Future[None]]] = []
        self._oldest = 0.0  # when the first of those waiting arrived (the loop's clock)
        self._flushing: asyncio.Task[None] | None = None

    async def append(self, envelopes: Sequence[RawEnvelope]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._waiting:
            self._oldest = loop.time()
        self._waiting.append((envelopes, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        group: list[tuple[Sequence[RawEnvelope], asyncio.Future[None]]] = []
        try:
            while self._waiting:
                pause = self._oldest + self.linger - loop.time()
                if pause > 0 and len(self._waiting) < self.max_group:
                    await asyncio.sleep(pause)
                group = self._waiting[:self.max_group]
                del self._waiting[:self.max_group]
                self._oldest = 0.0  # any left over has waited its linger already
                await self._append(group)
                group = []
        except BaseException:  # cancelled: nobody waits forever
            for _, done in group + self._waiting:
                if not done.done():
                    done.set_exception(ConnectionError("the front is stopping"))
            self._waiting.clear()
            raise
        finally:
            self._flushing = None

    async def _append(self, group: list[tuple[Sequence[RawEnvelope],
                                              asyncio.Future[None]]]) -> None:
        try:
            await self.raw_log.append([e for envelopes, _ in group for e in envelopes])
        except Exception as exc:
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in group:
                if not done.done():
                    done.set_result(None)


async def _serve(settings: Settings, spool_path: Path, parent: int) -> None:
    spool = await open_spool(spool_path)
    grouped = GroupedAppend(BusRawLog(spool, "telegram.updates"))
    runner = await serve_webhook(grouped, bot_id=settings.bot_id,
                                 secret=settings.require_webhook_secret(),
                                 host=settings.webhook_host, port=settings.webhook_port,
                                 path=settings.webhook_path,
                                 max_body_bytes=settings.webhook_max_body_bytes,
                                 body_timeout=settings.webhook_body_timeout_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    try:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            await front_metrics.publish(spool)
    finally:
        await runner.cleanup()  # requests in flight are answered first
        await front_metrics.publish(spool)
        await spool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m telecase.roles.embedded_front")
    parser.add_argument("--spool", required=True, type=Path)
    parser.add_argument("--parent", required=True, type=int)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    settings = load_settings()
    logs.configure(settings.log_level)
    try:
        import uvloop
        uvloop.run(_serve(settings, args.spool, args.parent))
    except ImportError:
        asyncio.run(_serve(settings, args.spool, args.parent))


class FrontDoor:
    """The running front (child process) and the mover; :meth:`cleanup` stops both, in
    order: the front first (it answers what is in flight), then the mover moves the rest."""

    def __init__(self, process: asyncio.subprocess.Process, mover: SpoolMover,
                 moving: asyncio.Task[None], moved_all: asyncio.Event) -> None:
        self.process, self.mover = process, mover
        self._moving, self._moved_all = moving, moved_all
        self.stopping = False
        self.counters = front_metrics.CounterRelay(mover.spool)

    async def watch(self) -> None:
        """Relays the front's counters until it stops; raises when it stopped on its own."""
        exited = asyncio.ensure_future(self.process.wait())
        while not exited.done():
            await asyncio.wait({exited}, timeout=1.0)
            self.counters.relay()
        code = exited.result()
        if not self.stopping:
            raise FrontError(f"the webhook front process exited ({code})")

    async def cleanup(self) -> None:
        self.stopping = True
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.counters.relay()  # what the front published last
        self._moved_all.set()
        await self._moving


async def start_front(log_: EmbeddedLog, topic: str, data_dir: Path,
                      supervise: Callable[[asyncio.Task[None]], None]) -> FrontDoor:
    """Recover the last run's spool into ``topic`` of the log, start the front process and
    the mover (both supervised: a failure stops ``telecase run``)."""
    spool = data_dir / SPOOL_FILE
    mover = SpoolMover(log_, spool, topic)
    recovered = await mover.recover()
    if recovered:
        log.info("run.front.recovered", updates=recovered)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telecase.roles.embedded_front", "--spool", str(spool),
        "--parent", str(os.getpid()), stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise FrontError("the webhook front process did not start (see its log above)")
    moved_all = asyncio.Event()
    moving = asyncio.create_task(mover.run(moved_all), name="webhook-spool")
    door = FrontDoor(process, mover, moving, moved_all)
    watching = asyncio.create_task(door.watch(), name="webhook-front")
    for task in (moving, watching):
        task.add_done_callback(supervise)
    return door


if __name__ == "__main__":
    main()
