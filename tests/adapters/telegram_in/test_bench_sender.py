"""The bench's Telegram stand-in delivers as Telegram does: each chat's updates one at a time
and in order, retried until answered 200, over at most ``--connections`` keep-alive
connections; against a small HTTP/1.1 server that answers 500 once and closes a connection."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from bench.telegram_sender import ConnectionPool, RequestFailed, deliver, parse_args

SECRET = "s3cret"


class _Webhook:
    """Answers each POST after a short pause; the first update of ``failing_chat`` gets a
    500 (and the connection closed), once."""

    def __init__(self, failing_chat: int) -> None:
        self.failing_chat = failing_chat
        self.failed = False
        self.accepted: dict[int, list[int]] = defaultdict(list)  # chat: update ids, 200'd
        self.in_flight: dict[int, int] = defaultdict(int)
        self.overlaps = 0
        self.connections = self.most_connections = 0
        self.secrets: set[str] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.most_connections = max(self.most_connections, self.connections)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                headers = dict(line.split(": ", 1) for line in
                               head.decode().split("\r\n")[1:] if line)
                self.secrets.add(headers["X-Telegram-Bot-Api-Secret-Token"])
                update = json.loads(await reader.readexactly(int(headers["Content-Length"])))
                if not await self._answer(update, writer):
                    return
        finally:
            self.connections -= 1
            writer.close()

    async def _answer(self, update: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        chat = update["message"]["chat"]["id"]
        self.in_flight[chat] += 1
        self.overlaps += self.in_flight[chat] > 1
        await asyncio.sleep(0.002)
        self.in_flight[chat] -= 1
        if chat == self.failing_chat and not self.failed:
            self.failed = True
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\nno")
            await writer.drain()
            return False
        self.accepted[chat].append(update["update_id"])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 12\r\n\r\n{\"ok\": true}")
        await writer.drain()
        return True


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_each_chat_in_order_one_at_a_time_retried_until_200_over_few_connections(
        run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    run(_deliver_through_a_failure())


async def _deliver_through_a_failure() -> None:
    webhook = _Webhook(failing_chat=-1003000000000)
    server = await asyncio.start_server(webhook.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    args = parse_args([f"http://127.0.0.1:{port}/telegram", SECRET, "--rate", "400",
                       "--seconds", "0.5", "--chats", "10", "--connections", "3",
                       "--retry-delay", "0.01"])
    async with server:
        figures, delays = await deliver(args)
    assert figures["offered"] == figures["acknowledged"] == len(delays) == 200
    assert figures["retries"] == 1 and webhook.failed
    assert webhook.overlaps == 0  # never two updates of one chat at once
    assert webhook.most_connections <= 3 and webhook.secrets == {SECRET}
    ids = [update_id for chat in webhook.accepted.values() for update_id in chat]
    assert sorted(ids) == list(range(1, 201))  # each acknowledged once
    for chat in webhook.accepted.values():
        assert chat == sorted(chat)  # in order, the failed one before its successors
    assert figures["sender_cpu_ms_per_update"] > 0


async def test_a_refused_connection_is_a_failed_request() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = ConnectionPool(f"http://127.0.0.1:{port}/telegram", 2, {})
    try:
        await pool.post(pool.request(b"{}"))
    except RequestFailed:
        pass
    else:
        raise AssertionError("no error from a closed port")
    finally:
        pool.close()


async def test_a_connection_closed_since_it_was_picked_fails_the_request_at_once() -> None:
    from bench.telegram_sender import _Connection

    class Closing:
        def is_closing(self) -> bool:
            return True

        def abort(self) -> None:
            pass

    connection = _Connection()
    connection.connection_made(Closing())  # type: ignore[arg-type]
    answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    connection.send(b"POST / HTTP/1.1\r\n\r\n", answer)
    assert isinstance(answer.exception(), RequestFailed) and connection.closed
