"""The webhook over a lean HTTP/1.1 server of its own (asyncio protocols), for the embedded
front process, where HTTP is most of what the process does.

The answers are :mod:`connectors.telegram.webhook`'s, given by the same
:class:`~connectors.telegram.webhook.WebhookDoor` (secret, update check, durable append, the
same counters and logs); only the HTTP around them is smaller than aiohttp's: about 0.03 ms of
CPU a request against 0.1 ms. What it reads and refuses:

- ``POST <path>`` (a query string is ignored) is the webhook; ``GET``/``HEAD /healthz`` answers
  ``{"ok": true}``; another method on the path is 405, another path 404;
- the body framed by ``Content-Length`` or ``Transfer-Encoding: chunked`` (with or without
  chunk extensions and trailers); both at once, several lengths, another transfer coding or a
  malformed request line, header or chunk is 400 and the connection is closed (a request
  whose framing is in doubt is never guessed at);
- 401 before the body is read; 413 as soon as the declared length or the chunks pass
  ``max_body_bytes``, 408 when the body has not arrived ``body_timeout`` seconds after the
  head, both answered then closed (the rest is not read); a client gone mid-body is counted as
  ``client_gone``; a head over 64 KiB is 431, closed;
- keep-alive as HTTP/1.1 has it (``Connection: close`` honoured, HTTP/1.0 closes unless asked
  to keep alive), requests on one connection answered in order (pipelined ones wait their
  turn, and reading stops while a client does not read its answers), ``Expect:
  100-continue`` answered before the body is read; connections idle for ``idle_timeout``
  seconds are closed.

:func:`serve_lean_webhook` returns the server; ``await server.cleanup()`` stops accepting,
answers the requests in flight and closes every connection.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus

from connectors.telegram.webhook import OK, WebhookDoor, rejection

_MAX_HEAD = 65_536
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _BadRequest(Exception):
    """The request cannot be read safely: answered 400 (or ``status``) and closed."""

    def __init__(self, why: str, status: int = 400) -> None:
        super().__init__(why)
        self.status = status


def _answer(status: int, body: bytes, *, close: bool = False, head_only: bool = False) -> bytes:
    return b"".join((b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n" % (status, HTTPStatus(status).phrase.encode(),
                                                  len(body)),
                     b"Connection: close\r\n\r\n" if close else b"\r\n",
                     b"" if head_only else body))


_ACCEPTED = _answer(200, OK)


class _Head:
    """A request's line and the headers this server reads (names lower-cased)."""

    __slots__ = ("chunked", "expect", "keep_alive", "length", "method", "path", "secret")

    def __init__(self, raw: bytes) -> None:
        lines = raw.split(b"\r\n")
        if raw.count(b"\n") != len(lines) - 1 or raw.count(b"\r") != len(lines) - 1:
            raise _BadRequest("a bare CR or LF")
        parts = lines[0].split(b" ")
        if (len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0")
                or not _TOKEN.fullmatch(parts[0])):
            raise _BadRequest("not an HTTP/1.x request line")
        self.method, target = parts[0], parts[1]
        self.path = target.split(b"?", 1)[0]
        connection, lengths = b"", set()
        self.chunked, self.secret, self.expect = False, None, False
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):  # no space before the colon, no fold
                raise _BadRequest("a malformed header")
            name, value = name.lower(), value.strip(b" \t")
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                if self.chunked or value.lower() != b"chunked":
                    raise _BadRequest("a transfer coding other than chunked")
                self.chunked = True
            elif name == b"x-telegram-bot-api-secret-token":
                self.secret = value
            elif name == b"connection":
                connection = value.lower()
            elif name == b"expect":
                self.expect = value.lower() == b"100-continue"
        if len(lengths) > 1 or (lengths and self.chunked):
            raise _BadRequest("ambiguous framing")
        self.length = 0
        if lengths:
            (text,) = lengths
            if not text.isdigit() or len(text) > 15:
                raise _BadRequest("a malformed Content-Length")
            self.length = int(text)
        self.keep_alive = (b"close" not in connection if parts[2] == b"HTTP/1.1"
                           else b"keep-alive" in connection)


_SIZE_LINE, _TRAILERS = -1, -2  # where a chunked body's reading is, besides inside a chunk


class _Connection(asyncio.Protocol):
    """One client connection: reads requests one at a time, each answered before the next."""

    def __init__(self, server: LeanWebhookServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.head: _Head | None = None  # a webhook request whose body is being read
        self.body: list[bytes] = []
        self.size = 0
        self.chunk_left = _SIZE_LINE  # chunked: bytes left in the current chunk
        self.busy = False  # answering (or closed): what arrives waits in the buffer
        self.write_blocked = False  # the client is not reading its answers
        self.reading = True
        self.seen = 0.0
        self.body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.seen = self.server.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._stop_body_timer()
        if self.head is not None and not self.busy:  # left mid-body
            rejection("client_gone", 400, "connection lost")
        self.head = None
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.seen = self.server.loop.time()
        self.buffer = self.buffer + data if self.buffer else data
        if not self.busy and not self.write_blocked:
            self._read()
        else:
            self._flow()

    def pause_writing(self) -> None:
        self.write_blocked = True
        self._flow()

    def resume_writing(self) -> None:
        self.write_blocked = False
        self._flow()
        if self.buffer and not self.busy:
            self._read()

    def _flow(self) -> None:
        """Read from the socket unless far ahead: the client not reading its answers, or
        pipelining more than a request's worth while one is being answered."""
        if self.transport is None or self.transport.is_closing():
            return
        stop = self.write_blocked or (
            self.busy and len(self.buffer) > _MAX_HEAD + self.server.max_body_bytes)
        if stop and self.reading:
            self.reading = False
            self.transport.pause_reading()
        elif not stop and not self.reading:
            self.reading = True
            self.transport.resume_reading()

    def _read(self) -> None:
        try:
            while not self.busy and not self.write_blocked and self.transport is not None:
                if self.head is None:
                    if not self._read_head():
                        return
                    if self.head is None:  # answered already
                        continue
                if not self._read_body():
                    return
                self._dispatch()
        except _BadRequest as bad:
            self.head = None
            self._close_after(bad.status, b'{"ok": false, "error": "bad request"}')

    def _read_head(self) -> bool:
        """Whether a request's head was read (and answered, unless it is the webhook's)."""
        while self.buffer.startswith(b"\r\n"):  # empty lines before a request are ignored
            self.buffer = self.buffer[2:]
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                raise _BadRequest("head too large", 431)
            return False
        head = _Head(self.buffer[:end])
        self.buffer = self.buffer[end + 4:]
        has_body = head.length > 0 or head.chunked
        if head.path != self.server.path or head.method != b"POST":
            self._answer_other(head, close=has_body)
            return True
        refused = self.server.door.refuse_secret(head.secret)
        if refused is not None:
            self._send(head, *refused, close=has_body)  # the body is never read
            return True
        if head.length > self.server.max_body_bytes:
            self._too_large()
            return True
        self.head, self.body, self.size, self.chunk_left = head, [], 0, _SIZE_LINE
        if head.expect:
            self._write(_CONTINUE)
        if has_body:
            self.body_timer = self.server.loop.call_later(self.server.body_timeout,
                                                          self._body_late)
        return True

    def _read_body(self) -> bool:
        """Whether the current request's body is whole (its bytes in ``self.body``)."""
        head = self.head
        assert head is not None
        if not head.chunked:
            if len(self.buffer) < head.length:
                return False
            if head.length:
                self.body.append(self.buffer[:head.length])
                self.buffer = self.buffer[head.length:]
            return True
        while self.chunk_left != _TRAILERS:
            if self.chunk_left == _SIZE_LINE:
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    if len(self.buffer) > 4096:
                        raise _BadRequest("a chunk size line too long")
                    return False
                size = self.buffer[:end].split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size):
                    raise _BadRequest("a malformed chunk size")
                self.buffer, self.chunk_left = self.buffer[end + 2:], int(size, 16)
                self.size += self.chunk_left
                if self.size > self.server.max_body_bytes:
                    self._too_large()
                    return False
                if self.chunk_left == 0:
                    self.chunk_left = _TRAILERS
                    break
            if len(self.buffer) < self.chunk_left + 2:
                return False
            if self.buffer[self.chunk_left:self.chunk_left + 2] != b"\r\n":
                raise _BadRequest("a chunk without its CRLF")
            self.body.append(self.buffer[:self.chunk_left])
            self.buffer, self.chunk_left = self.buffer[self.chunk_left + 2:], _SIZE_LINE
        return self._read_trailers()

    def _read_trailers(self) -> bool:
        """After the last chunk: trailer lines (ignored), then an empty line."""
        if self.buffer.startswith(b"\r\n"):
            self.buffer = self.buffer[2:]
            return True
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                raise _BadRequest("trailers too large", 431)
            return False
        self.buffer = self.buffer[end + 4:]
        return True

    def _dispatch(self) -> None:
        """The webhook request whose body is whole: answered by a task of its own."""
        head, self.head = self.head, None
        assert head is not None
        self._stop_body_timer()
        self.busy = True
        task = self.server.loop.create_task(self._receive(head, b"".join(self.body)))
        self.body = []
        self.server.answering.add(task)
        task.add_done_callback(self.server.answering.discard)

    async def _receive(self, head: _Head, body: bytes) -> None:
        try:
            status, answer = await self.server.door.receive(body)
        except Exception:  # a bug, not the client's fault: answered, and logged by the task
            self._send(head, 500, b'{"ok": false, "error": "internal error"}', close=True)
            raise
        self.busy = False
        self._send(head, status, answer)
        self._flow()
        if self.buffer and not self.busy and not self.write_blocked:
            self._read()

    def _answer_other(self, head: _Head, *, close: bool) -> None:
        if head.path == self.server.path:
            self._send(head, 405, b'{"ok": false, "error": "method not allowed"}', close=close)
        elif head.path == b"/healthz" and head.method in (b"GET", b"HEAD"):
            self._send(head, 200, OK, close=close, head_only=head.method == b"HEAD")
        else:
            self._send(head, 404, b'{"ok": false, "error": "not found"}', close=close)

    def _send(self, head: _Head, status: int, body: bytes, *, close: bool = False,
              head_only: bool = False) -> None:
        keep_alive = head.keep_alive and not close and not self.server.closing
        if status == 200 and keep_alive and not head_only:
            self._write(_ACCEPTED)
        else:
            self._write(_answer(status, body, close=not keep_alive, head_only=head_only))
        if not keep_alive:
            self.close()

    def _close_after(self, status: int, body: bytes) -> None:
        """Answer before the body is read, then close (the rest is never read)."""
        self._stop_body_timer()
        self.head = None
        self._write(_answer(status, body, close=True))
        self.close()

    def _too_large(self) -> None:
        self._close_after(413, rejection("too_large", 413, "body too large"))

    def _body_late(self) -> None:
        self.body_timer = None
        if self.head is not None and not self.busy:
            self._close_after(408, rejection("body_timeout", 408, "body not received in time"))

    def _stop_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        self.busy = True  # nothing more is read
        if self.transport is not None:
            self.transport.close()


    def idle_since(self, before: float) -> bool:
        return not self.busy and self.head is None and self.seen < before


class LeanWebhookServer:
    """The listening webhook; :meth:`cleanup` to stop."""

    def __init__(self, door: WebhookDoor, *, path: str, max_body_bytes: int,
                 body_timeout: float, idle_timeout: float) -> None:
        self.door, self.path = door, path.encode()
        self.max_body_bytes, self.body_timeout = max_body_bytes, body_timeout
        self.idle_timeout = idle_timeout
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Connection] = set()
        self.answering: set[asyncio.Task[None]] = set()
        self.closing = False
        self._server: asyncio.Server | None = None
        self._sweeping: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(lambda: _Connection(self), host, port)
        self._sweeping = self.loop.create_task(self._sweep())

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout))
            before = self.loop.time() - self.idle_timeout
            for connection in [c for c in self.connections if c.idle_since(before)]:
                connection.close()

    async def cleanup(self) -> None:
        """Stop accepting, answer the requests in flight, close every connection."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        if self._sweeping is not None:
            self._sweeping.cancel()
        while self.answering:
            await asyncio.gather(*self.answering, return_exceptions=True)
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()


async def serve_lean_webhook(door: WebhookDoor, *, host: str, port: int,
                             path: str = "/telegram", max_body_bytes: int = 1_000_000,
                             body_timeout: float = 10.0,
                             idle_timeout: float = 75.0) -> LeanWebhookServer:
    """The webhook listening on ``host:port`` (``port`` 0: any free one, see ``.port``)."""
    server = LeanWebhookServer(door, path=path, max_body_bytes=max_body_bytes,
                               body_timeout=body_timeout, idle_timeout=idle_timeout)
    await server.start(host, port)
    return server
