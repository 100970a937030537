"""A webhook sender that delivers the way Telegram does, in its own process (so it does not
share the measured process's event loop):

    python -m bench.telegram_sender URL SECRET --rate R --seconds S --chats C ...

Updates come due at ``--rate`` per second for ``--seconds``, spread over ``--chats`` forum
supergroups (:class:`bench.traffic.DeskTraffic`). As Telegram does, each chat's updates go one
at a time in order (the next is POSTed only after the previous one was answered 200), different
chats concurrently over at most ``--connections`` connections (``setWebhook``'s
``max_connections``), and an answer other than 200 or a failed request is retried (after
``--retry-delay`` seconds, doubling up to 2 s).

It prints one JSON object: offered and acknowledged counts, the acceptance rate, and the delivery
delay (from the moment an update came due to its 200) p50/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.traffic import DeskTraffic

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _schedule(args: argparse.Namespace) -> list[list[tuple[float, bytes]]]:
    """Per chat, its updates in order with the second (from the start) each comes due."""
    traffic = DeskTraffic(args.chats, args.topics, chat_base=args.chat_base,
                          start_update=args.start_update)
    per_chat: list[list[tuple[float, bytes]]] = [[] for _ in range(args.chats)]
    total = int(args.rate * args.seconds)
    for i in range(total):
        chat = (i * 7919) % args.chats  # chats take turns in a scrambled order
        per_chat[chat].append((i / args.rate,
                               json.dumps(traffic.next_update(chat)).encode()))
    return per_chat


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 1)


async def deliver(args: argparse.Namespace) -> tuple[dict[str, Any], list[float]]:
    per_chat = _schedule(args)
    delays: list[float] = []
    retries = 0
    connector = aiohttp.TCPConnector(limit=args.connections)
    headers = {SECRET_HEADER: args.secret, "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=timeout) as session:
        start = time.perf_counter() + 0.2

        async def chat(updates: list[tuple[float, bytes]]) -> None:
            nonlocal retries
            for due, body in updates:
                wait = start + due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                pause = args.retry_delay
                while True:
                    try:
                        async with session.post(args.url, data=body) as resp:
                            await resp.read()
                            if resp.status == 200:
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    retries += 1
                    await asyncio.sleep(pause)
                    pause = min(2.0, pause * 2)
                delays.append(time.perf_counter() - start - due)

        await asyncio.gather(*(chat(updates) for updates in per_chat if updates))
        took = time.perf_counter() - start
    delays.sort()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    offered = sum(len(u) for u in per_chat)
    return {
        "offered_per_s": args.rate, "seconds": args.seconds, "chats": args.chats,
        "connections": args.connections, "offered": offered, "acknowledged": len(delays),
        "retries": retries, "accepted_per_s": round(len(delays) / took),
        "delivery_delay_ms": {"p50": _percentile(delays, 0.5), "p99": _percentile(delays, 0.99),
                              "max": _percentile(delays, 1.0),
                              "mean": round(statistics.fmean(delays) * 1000, 1)
                              if delays else None},
        "sender_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }, delays


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram_sender")
    parser.add_argument("url")
    parser.add_argument("secret")
    parser.add_argument("--rate", type=float, required=True, help="updates due per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--topics", type=int, default=4, help="topics in each chat")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--chat-base", type=int, default=-1003000000000)
    parser.add_argument("--start-update", type=int, default=1)
    parser.add_argument("--retry-delay", type=float, default=0.2)
    parser.add_argument("--raw", type=Path, help="write every delay (ms), a JSON list, here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import uvloop  # the sender's own cost is not what is measured
        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    figures, delays = runner(deliver(args))
    if args.raw is not None:
        args.raw.write_text(json.dumps([round(d * 1000, 2) for d in delays]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
