"""``telecase bench ingest --runtime embedded``: the real ``telecase run`` driven from outside.

Three processes besides the bench's own:

- ``telecase run`` in webhook mode, as an operator starts it (its own data directory, SQLite
  projections, no Salesforce): the webhook, the worker, the projector, the dead-letter gauge,
  the reply mirror and the intake messenger all run, built by :mod:`telecase.roles.embedded`;
- the Telegram Bot API simulator (flood limits off) that the mirror and the intake call;
- :mod:`bench.telegram_sender`, which delivers as Telegram does: per-chat sequential, many
  chats at once over at most ``connections`` connections, retried until answered 200, with
  full forum-topic updates (:class:`bench.traffic.DeskTraffic`); a lean HTTP client, since
  Telegram sends from elsewhere but this stand-in shares the machine.

The offered rate steps through ``rates``, ``seconds`` each, on fresh chats; between steps the
bench waits until the worker and projector have caught up (``drained_s``). Each step reports
the acceptance rate, the delivery delay (an update coming due to its 200) p50/p99/max, retries,
the CPU seconds ``telecase run`` used per second of the step, and the consumers' lag when the
step's sending ended, and the CPU milliseconds per update of the main process and of the
webhook front process (when it runs in its own) until the pipeline drained.
``sustained_updates_per_s`` is the highest offered rate whose delivery delay p99 stayed within
``p99_budget_ms`` with every update acknowledged. The machine's load average is printed with
the figures, and so is what the sender took from it: ``sender_cpu_ms_per_update``, its CPU
per acknowledged update while delivering (``sender_cpu_s``: its processes' whole CPU time,
start-up and building the requests included).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BOT_TOKEN = "7000000001:AAE-bench-token"
SECRET = "bench-secret"
WORKER_GROUP = "telecase-worker"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data: Path, port: int, api_base: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TELECASE_") and k != "DATABASE_URL"}
    env.update({"TELECASE_DATA_DIR": str(data), "TELECASE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELECASE_TELEGRAM_WEBHOOK_SECRET": SECRET,
                "TELECASE_TELEGRAM_API_BASE": api_base, "TELECASE_WEBHOOK_HOST": "127.0.0.1",
                "TELECASE_WEBHOOK_PORT": str(port), "TELECASE_LOG_LEVEL": "warning",
                **extra})
    return env


async def _start_simulator(cwd: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.telegram", "--port", "0", "--token", BOT_TOKEN,
        "--no-rate-limits", stdout=asyncio.subprocess.PIPE, cwd=cwd)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, line.decode().strip()


async def _port_open(port: int, timeout: float, proc: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError("telecase run exited at start")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise TimeoutError("telecase run did not open its webhook port")


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU seconds of ``pid``, and of its live child processes (the front)."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = [0.0, 0.0]
    pids = [(pid, 0)]
    while pids:
        current, which = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            totals[which] += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [(int(c), 1) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return totals[0], totals[1]


def _lag(log_file: Path) -> dict[str, int]:
    """Each consumer group's records not yet consumed, summed over topics and partitions."""
    if not log_file.exists():  # the door alone: no log
        return {}
    db = sqlite3.connect(f"file:{log_file}?mode=ro", uri=True, timeout=10)
    try:
        ends = {(t, p): e for t, p, e in db.execute(
            "SELECT topic, partition, MAX(offset) + 1 FROM records GROUP BY topic, partition")}
        lag: dict[str, int] = {}
        for grp, topic, part, nxt in db.execute("SELECT grp, topic, partition, next_offset "
                                                "FROM positions"):
            lag[grp] = lag.get(grp, 0) + max(0, ends.get((topic, part), 0) - nxt)
        return lag
    finally:
        db.close()


async def _drained(log_file: Path, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not any(_lag(log_file).values()):
            return round(time.perf_counter() - start, 2)
        await asyncio.sleep(0.2)
    return float("inf")


async def _send(url: str, rate: int, seconds: float, chats: int, connections: int,
                step: int, senders: int, cwd: Path) -> dict[str, Any]:
    """``senders`` sender processes, each with its share of the chats, the rate and the
    connections; their figures merged."""
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.telegram_sender", url, SECRET, "--rate",
        str(rate / senders), "--seconds", str(seconds), "--chats", str(chats // senders),
        "--connections", str(max(1, connections // senders)),
        "--raw", str(cwd / f"delays-{n}.json"),
        "--chat-base", str(-1003000000000 - step * 100_000 - n * 10_000),
        "--start-update", str(1 + step * 10_000_000 + n * 1_000_000),
        stdout=asyncio.subprocess.PIPE, cwd=cwd) for n in range(senders)]
    parts = []
    for proc in procs:
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError("a sender failed")
        parts.append(json.loads(out))
    delays = sorted(d for n in range(senders)
                    for d in json.loads((cwd / f"delays-{n}.json").read_text()))

    def pct(share: float) -> float | None:
        return delays[min(len(delays) - 1, int(len(delays) * share))] if delays else None

    return {"offered_per_s": rate, "seconds": seconds, "chats": chats,
            "connections": connections, "senders": senders,
            "offered": sum(p["offered"] for p in parts),
            "acknowledged": sum(p["acknowledged"] for p in parts),
            "retries": sum(p["retries"] for p in parts),
            "accepted_per_s": sum(p["accepted_per_s"] for p in parts),
            "delivery_delay_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0),
                                  "mean": round(sum(delays) / len(delays), 1)
                                  if delays else None},
            "sender_cpu_s": round(sum(p["sender_cpu_s"] for p in parts), 2),
            "sender_cpu_ms_per_update": round(
                sum(p["sender_delivering_cpu_s"] for p in parts) * 1000
                / max(1, sum(p["acknowledged"] for p in parts)), 4)}


async def _step(url: str, rate: int, seconds: float, chats: int, connections: int,
                step: int, senders: int, pid: int, log_file: Path,
                cwd: Path) -> dict[str, Any]:
    cpu_before, t0 = _cpu_seconds(pid), time.perf_counter()
    figures = await _send(url, rate, seconds, chats, connections, step, senders, cwd)
    took = time.perf_counter() - t0
    figures["lag_at_end"] = _lag(log_file)
    figures["drained_s"] = await _drained(log_file, 300)
    main, front = (after - before for after, before in zip(_cpu_seconds(pid), cpu_before,
                                                              strict=True))
    figures["telecase_cpu_per_s"] = round((main + front) / took, 2)
    # CPU per update, until the pipeline drained: what a core's capacity is divided by
    figures["cpu_ms_per_update"] = {"main": round(main * 1000 / figures["offered"], 3),
                                    "front": round(front * 1000 / figures["offered"], 3)}
    return figures


async def _start_telecase(tmp: Path, port: int, api_base: str, env: dict[str, str],
                          door_only: bool) -> asyncio.subprocess.Process:
    """``telecase run``; ``door_only``: just its webhook front process (no pipeline)."""
    data = tmp / "data"
    data.mkdir()
    args = (["-m", "telecase.roles.embedded_front", "--spool",
             str(data / "webhook-spool.sqlite"), "--parent", str(os.getpid())] if door_only
            else ["-m", "telecase", "run", "--no-demo"])
    with (tmp / "telecase.err").open("wb") as err:  # a pipe left unread could fill and block
        return await asyncio.create_subprocess_exec(
            sys.executable, *args, env=_env(data, port, api_base, env), cwd=tmp,
            stdout=asyncio.subprocess.DEVNULL, stderr=err)


async def run_embedded_bench(*, rates: list[int], seconds: float, chats: int,
                             connections: int, p99_budget_ms: float = 250.0,
                             env: dict[str, str] | None = None,
                             door_only: bool = False, senders: int = 2) -> dict[str, Any]:
    """Step ``telecase run`` through the offered ``rates``; ``env`` adds settings.
    ``door_only``: only the webhook front process, to see the door's own capacity."""
    with tempfile.TemporaryDirectory(prefix="telecase-bench-") as tmp:
        data, port = Path(tmp) / "data", _free_port()
        simulator, api_base = await _start_simulator(Path(tmp))
        run = await _start_telecase(Path(tmp), port, api_base, env or {}, door_only)
        steps: list[dict[str, Any]] = []
        try:
            await _port_open(port, 60, run)
            url = f"http://127.0.0.1:{port}/telegram"
            for i, rate in enumerate(rates):
                steps.append(await _step(url, rate, seconds, chats, connections, i, senders,
                                         run.pid, data / "log.sqlite", Path(tmp)))
        finally:
            if run.returncode is None:
                run.terminate()
            await run.wait()
            simulator.terminate()
            await simulator.wait()
            err = (Path(tmp) / "telecase.err").read_text(errors="replace")[-2000:]
        if run.returncode not in (0, -15):
            raise RuntimeError(f"telecase run failed: {err}")
    if door_only:  # the measured process is the front itself
        for step in steps:
            step["cpu_ms_per_update"] = {"front": step["cpu_ms_per_update"]["main"]}
    within = [s["offered_per_s"] for s in steps
              if s["acknowledged"] == s["offered"]
              and (s["delivery_delay_ms"]["p99"] or 0) <= p99_budget_ms]
    return {"runtime": "embedded", "door_only": door_only, "load": os.getloadavg()[0],
            "cores": os.cpu_count(),
            "p99_budget_ms": p99_budget_ms, "steps": steps,
            "sustained_updates_per_s": max(within, default=0)}
