"""A webhook sender that delivers the way Telegram does, in its own process (so it does not
share the measured process's event loop):

    python -m bench.telegram_sender URL SECRET --rate R --seconds S --chats C ...

Updates come due at ``--rate`` per second for ``--seconds``, spread over ``--chats`` forum
supergroups (:class:`bench.traffic.DeskTraffic`). As Telegram does, each chat's updates go one
at a time in order (the next is POSTed only after the previous one was answered 200), different
chats concurrently over at most ``--connections`` keep-alive connections (``setWebhook``'s
``max_connections``), and an answer other than 200 or a failed request (refused, reset, or
unanswered for 60 s) is retried (after ``--retry-delay`` seconds, doubling up to 2 s).

The sender stands in for Telegram, which sends from elsewhere; here it shares the machine with
what is measured, so it is kept lean: a small HTTP/1.1 client on asyncio protocols (uvloop when
installed), each request's bytes built before the clock starts, answers framed by their
``Content-Length`` (or by the server closing the connection), connections kept alive in a pool
of at most ``--connections``. It speaks only what a webhook answers (no chunked answers, no
redirects, no TLS).

It prints one JSON object: offered and acknowledged counts, retries, the acceptance rate, the
delivery delay (from the moment an update came due to its 200) p50/p99/max/mean in
milliseconds, ``sender_cpu_s`` (the process's CPU seconds, start-up and building the requests
included) and ``sender_cpu_ms_per_update`` (its CPU per acknowledged update while delivering:
what it took from the machine during the step).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import resource
import statistics
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from bench.traffic import DeskTraffic

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ANSWER_TIMEOUT = 60.0


class RequestFailed(ConnectionError):
    """No answer: the connection was refused, reset or closed early, or the answer was late
    or not HTTP/1.1 that this client reads."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer's status to a future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.sent_at = 0.0
        self._buffer = b""
        self._answer: asyncio.Future[int] | None = None
        self._status = self._length = -1
        self._head_end = -1
        self._close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, request: bytes, answer: asyncio.Future[int]) -> None:
        assert self.transport is not None
        self._answer, self.sent_at = answer, time.monotonic()
        if self.closed or self.transport.is_closing():  # closed since it was picked
            self.fail("connection closed")
            return
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer = self._buffer + data if self._buffer else data
        if self._head_end < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end + 4
            self._read_head(buffer[:end].lower())
        if self._length >= 0 and len(buffer) >= self._head_end + self._length:
            self._answered()

    def _read_head(self, head: bytes) -> None:
        if not head.startswith(b"http/1.1 ") or not head[9:12].isdigit():
            self.fail("not an HTTP/1.1 answer")
            return
        self._status = int(head[9:12])
        self._close_after = b"\r\nconnection: close" in head
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            end = head.find(b"\r\n", at + 2)
            try:
                self._length = int(head[at + 17:end if end >= 0 else None])
            except ValueError:
                self.fail("a bad Content-Length")
        elif b"\r\ntransfer-encoding:" in head:
            self.fail("a chunked answer")
        else:  # framed by the close
            self._close_after = True

    def _answered(self) -> None:
        status, answer = self._status, self._answer
        self._buffer = b""  # one request at a time: nothing follows the answer
        self._status = self._length = self._head_end = -1
        self._answer = None
        if self._close_after:
            self.abort()
        if answer is not None and not answer.done():
            answer.set_result(status)

    def fail(self, why: str) -> None:
        answer, self._answer = self._answer, None
        self.abort()
        if answer is not None and not answer.done():
            answer.set_exception(RequestFailed(why))

    def late(self, sent_before: float) -> bool:
        """Whether a request sent before ``sent_before`` still waits for its answer."""
        return self._answer is not None and self.sent_at < sent_before

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._status >= 0 and self._length < 0:  # an answer framed by the close
            self._answered()
        self.fail("connection lost")


class ConnectionPool:
    """At most ``limit`` keep-alive connections to one host; :meth:`post` waits for a free
    one (first come, first served) and returns the answer's status."""

    def __init__(self, url: str, limit: int, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// URL is needed, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.limit = limit
        self._head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                      + "".join(f"{k}: {v}\r\n" for k, v in headers.items())).encode()
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._waiting: collections.deque[asyncio.Future[_Connection | None]] = (
            collections.deque())
        self._watching: asyncio.Task[None] | None = None

    def request(self, body: bytes) -> bytes:
        """The whole request for ``body``, to build ahead of time."""
        return self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    async def post(self, request: bytes) -> int:
        """Send ``request`` (from :meth:`request`); its answer's status, or
        :class:`RequestFailed`."""
        connection = await self._acquire()
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            connection.send(request, answer)
            return await answer
        except asyncio.CancelledError:  # its answer would come to the next request
            connection.abort()
            raise
        finally:
            self._release(connection)

    async def _acquire(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        if len(self._open) >= self.limit:
            waiter: asyncio.Future[_Connection | None] = (
                asyncio.get_running_loop().create_future())
            self._waiting.append(waiter)
            handed = await waiter  # a connection, or None: a place to open one
            if handed is not None:
                return handed
        return await self._connect()

    async def _connect(self) -> _Connection:
        placeholder = _Connection()  # holds the place while connecting
        self._open.add(placeholder)
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            self._free(placeholder)
            raise RequestFailed(f"cannot connect: {exc}") from None
        self._open.discard(placeholder)
        self._open.add(connection)
        if self._watching is None:
            self._watching = asyncio.create_task(self._watch())
        return connection

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            self._free(connection)
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _free(self, connection: _Connection) -> None:
        """``connection`` is gone: its place goes to the first one waiting, if any."""
        self._open.discard(connection)
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _watch(self) -> None:
        """Aborts a connection whose answer is later than ``ANSWER_TIMEOUT``."""
        while True:
            await asyncio.sleep(1.0)
            late = time.monotonic() - ANSWER_TIMEOUT
            for connection in list(self._open):
                if connection.late(late):
                    connection.fail("no answer in time")

    def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
        for connection in self._open:
            connection.abort()


def _schedule(args: argparse.Namespace,
              pool: ConnectionPool) -> list[list[tuple[float, bytes]]]:
    """Per chat, its requests in order with the second (from the start) each comes due."""
    traffic = DeskTraffic(args.chats, args.topics, chat_base=args.chat_base,
                          start_update=args.start_update)
    per_chat: list[list[tuple[float, bytes]]] = [[] for _ in range(args.chats)]
    total = int(args.rate * args.seconds)
    for i in range(total):
        chat = (i * 7919) % args.chats  # chats take turns in a scrambled order
        body = json.dumps(traffic.next_update(chat)).encode()
        per_chat[chat].append((i / args.rate, pool.request(body)))
    return per_chat


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 1)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def deliver(args: argparse.Namespace) -> tuple[dict[str, Any], list[float]]:
    pool = ConnectionPool(args.url, args.connections,
                          {SECRET_HEADER: args.secret, "Content-Type": "application/json"})
    per_chat = _schedule(args, pool)
    delays: list[float] = []
    retries = 0
    clock, sleep = time.perf_counter, asyncio.sleep
    cpu_at_start = _cpu_seconds()
    start = clock() + 0.2

    async def chat(updates: list[tuple[float, bytes]]) -> None:
        nonlocal retries
        for due, request in updates:
            wait = start + due - clock()
            if wait > 0:
                await sleep(wait)
            pause = args.retry_delay
            while True:
                try:
                    if await pool.post(request) == 200:
                        break
                except RequestFailed:
                    pass
                retries += 1
                await sleep(pause)
                pause = min(2.0, pause * 2)
            delays.append(clock() - start - due)

    try:
        await asyncio.gather(*(chat(updates) for updates in per_chat if updates))
    finally:
        pool.close()
    took = clock() - start
    delivering_cpu = _cpu_seconds() - cpu_at_start
    delays.sort()
    offered = sum(len(u) for u in per_chat)
    return {
        "offered_per_s": args.rate, "seconds": args.seconds, "chats": args.chats,
        "connections": args.connections, "offered": offered, "acknowledged": len(delays),
        "retries": retries, "accepted_per_s": round(len(delays) / took),
        "delivery_delay_ms": {"p50": _percentile(delays, 0.5), "p99": _percentile(delays, 0.99),
                              "max": _percentile(delays, 1.0),
                              "mean": round(statistics.fmean(delays) * 1000, 1)
                              if delays else None},
        "sender_cpu_s": round(_cpu_seconds(), 2),
        "sender_delivering_cpu_s": round(delivering_cpu, 3),
        "sender_cpu_ms_per_update": round(delivering_cpu * 1000 / len(delays), 4)
        if delays else None,
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
