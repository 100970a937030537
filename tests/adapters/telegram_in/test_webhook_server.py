"""The embedded front's lean HTTP server, where it differs from aiohttp's by being its own:
keep-alive and pipelining in order, framing it refuses to guess at, ``Expect: 100-continue``,
the other routes, and a stop that answers what is in flight. (Every webhook answer is also
checked against both servers by ``test_webhook``, ``test_hostile_body`` and the fuzzers.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from connectors.telegram.webhook import SECRET_HEADER, WebhookDoor
from connectors.telegram.webhook_server import LeanWebhookServer, serve_lean_webhook
from tests.adapters.telegram_in.hostile import SECRET, MemoryLog, normal_update


class _GatedLog(MemoryLog):
    """Appends wait until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def append(self, envelopes: Sequence[Any]) -> None:
        await self.gate.wait()
        await super().append(envelopes)


@pytest.fixture
async def server() -> AsyncIterator[LeanWebhookServer]:
    door = WebhookDoor(MemoryLog(), bot_id=7, secret=SECRET)
    served = await serve_lean_webhook(door, host="127.0.0.1", port=0, body_timeout=1.0)
    yield served
    await served.cleanup()


def request(update: object, *, extra: bytes = b"", secret: str = SECRET) -> bytes:
    body = json.dumps(update).encode()
    return (b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"{SECRET_HEADER}: {secret}\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


def stored_ids(log: MemoryLog) -> list[int]:
    return [json.loads(record)["update"]["update_id"] for record in log.records]


async def answers(port: int, data: bytes, count: int, *,
                  bodies: bool = True) -> list[tuple[int, bytes]]:
    """Send ``data`` at once on one connection; the first ``count`` answers (status, head);
    ``bodies``: whether they have their body (not for HEAD)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = []
    try:
        for _ in range(count):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if bodies:
                await reader.readexactly(length)
            got.append((int(head.split(b" ")[1]), head))
    finally:
        writer.close()
    return got


async def closed_after(port: int, data: bytes) -> tuple[int, bool]:
    """The status of the one answer to ``data``, and whether the server closed afterwards."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    everything = await asyncio.wait_for(reader.read(), 5)  # to EOF: closed by the server
    writer.close()
    return int(everything.split(b" ")[1]), everything.count(b"HTTP/1.1") == 1


async def test_pipelined_requests_are_answered_in_order_on_one_connection(
        server: LeanWebhookServer) -> None:
    data = (request(normal_update(1))
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + request({"update_id": "x"})
            + request(normal_update(3)))
    got = await answers(server.port, data, 4)
    assert [status for status, _ in got] == [200, 200, 400, 200]
    assert not any(b"connection: close" in head.lower() for _, head in got)  # kept alive
    log = server.door.raw_log
    assert isinstance(log, MemoryLog)
    assert stored_ids(log) == [1, 3]


async def test_chunk_extensions_and_trailers_are_read_past(server: LeanWebhookServer) -> None:
    body = json.dumps(normal_update(10)).encode()
    chunked = (b"POST /telegram HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               + f"{SECRET_HEADER}: {SECRET}\r\n\r\n".encode()
               + b"%x;ext=1\r\n" % 10 + body[:10] + b"\r\n"
               + b"%x\r\n" % (len(body) - 10) + body[10:] + b"\r\n"
               + b"0\r\nX-Trailer: t\r\n\r\n")
    got = await answers(server.port, chunked + request(normal_update(11)), 2)
    assert [status for status, _ in got] == [200, 200]
    log = server.door.raw_log
    assert isinstance(log, MemoryLog)
    assert stored_ids(log) == [10, 11]


@pytest.mark.parametrize("framing", [
    b"Transfer-Encoding: chunked\r\n",  # with Content-Length too: ambiguous
    b"Content-Length: 5\r\n",  # a second, different length
    b"Transfer-Encoding: gzip\r\n",
    b"Bad Header: x\r\n",
    b"X-Folded: a\r\n continued\r\n",
])
async def test_framing_in_doubt_is_400_and_closed(server: LeanWebhookServer,
                                                  framing: bytes) -> None:
    assert await closed_after(server.port, request(normal_update(4), extra=framing)) == (
        400, True)


async def test_a_bare_lf_in_the_head_is_400(server: LeanWebhookServer) -> None:
    data = request(normal_update(5)).replace(b"Host: x\r\n", b"Host: x\nX-Smuggled: y\r\n")
    assert await closed_after(server.port, data) == (400, True)


async def test_a_wrong_secret_with_a_body_is_401_and_the_body_never_read(
        server: LeanWebhookServer) -> None:
    assert await closed_after(server.port, request(normal_update(6), secret="nope")) == (
        401, True)


async def test_expect_100_continue_then_the_answer(server: LeanWebhookServer) -> None:
    body = json.dumps(normal_update(7)).encode()
    head = (b"POST /telegram HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"{SECRET_HEADER}: {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(head)
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
        b"HTTP/1.1 100 Continue\r\n\r\n")
    writer.write(body)
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(
        b"HTTP/1.1 200 OK")
    writer.close()


@pytest.mark.parametrize(("line", "status"), [
    (b"GET /telegram HTTP/1.1", 405), (b"POST /elsewhere HTTP/1.1", 404),
    (b"HEAD /healthz HTTP/1.1", 200), (b"GET /healthz?x=1 HTTP/1.1", 200)])
async def test_other_routes(server: LeanWebhookServer, line: bytes, status: int) -> None:
    got = await answers(server.port, line + b"\r\nHost: x\r\n\r\n", 1,
                        bodies=not line.startswith(b"HEAD"))
    assert got[0][0] == status


async def test_http_1_0_closes_unless_kept_alive(server: LeanWebhookServer) -> None:
    data = request(normal_update(8)).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    assert await closed_after(server.port, data) == (200, True)


async def test_a_stop_answers_the_requests_in_flight_first() -> None:
    log = _GatedLog()
    door = WebhookDoor(log, bot_id=7, secret=SECRET)
    served = await serve_lean_webhook(door, host="127.0.0.1", port=0)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(request(normal_update(9)))
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(served.cleanup())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the request in flight
    log.gate.set()
    await asyncio.wait_for(stopping, 5)
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer
    assert stored_ids(log) == [9]
    writer.close()


async def test_a_client_not_reading_its_answers_is_not_read_either(
        server: LeanWebhookServer) -> None:
    import socket
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    count = 40_000
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * count)  # never read, for now
    await asyncio.sleep(0.5)
    (connection,) = server.connections
    assert not connection.reading  # it stopped reading the requests
    assert connection.transport is not None
    assert connection.transport.get_write_buffer_size() < 1_000_000  # and piling answers up
    answers = 0
    async with asyncio.timeout(30):
        while answers < count:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(len(b'{"ok": true}'))
            answers += 1
    writer.close()
