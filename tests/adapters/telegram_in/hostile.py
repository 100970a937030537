"""Tools for hostile-input tests of the webhook: a raw HTTP client that frames and paces the
body itself (chunked, split across writes, stalled), the webhook app served in a thread of its
own, and the worker's fold applied to what the webhook stored.

The webhook tests and the embedded end-to-end test (tests/e2e/embedded/test_hostile_input.py)
share them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.telegram.webhook import SECRET_HEADER, create_webhook_app
from streams.core.ticket import ThreadState
from streams.runtime.fold import Folded, Position, UpdateFolder
from telecase.demo.policy import sla_policy

SECRET = "hostile-Secret_1"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def normal_update(update_id: int, chat_id: int = 5, text: str = "hello") -> dict[str, Any]:
    """A customer's message in a private chat: opens a ticket."""
    return {"update_id": update_id,
            "message": {"message_id": update_id, "date": 1_764_000_000, "text": text,
                        "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"}}}


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked framing of ``parts``, one chunk each, then the last chunk."""
    for part in parts:
        yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def raw_post(port: int, writes: Iterable[bytes], *, path: str = "/telegram",
             secret: str = SECRET, length: int | None = None, pause: float = 0.0,
             timeout: float = 30.0) -> int:
    """POST over a bare socket: the headers, then each of ``writes`` in its own ``send`` with
    ``pause`` seconds between them; chunked unless ``length`` is given. Returns the status
    (the server may answer, and close, before every write went out)."""
    framing = (f"Content-Length: {length}" if length is not None
               else "Transfer-Encoding: chunked")
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{SECRET_HEADER}: {secret}\r\n{framing}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for i, data in enumerate(writes):
                if pause and i:
                    time.sleep(pause)
                sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed early (413): the status is already on its way
        answer = b""
        while b"\r\n" not in answer:
            got = sock.recv(4096)
            if not got:
                break
            answer += got
    return int(answer.split(b" ", 2)[1])


def post_json(port: int, update: object, **kwargs: Any) -> int:
    body = json.dumps(update).encode()
    return raw_post(port, [body], length=len(body), **kwargs)


class MemoryLog:
    """``telegram.updates`` in memory: the envelopes' bytes, as the log would hold them."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    async def append(self, envelopes: Sequence[Any]) -> None:
        await asyncio.sleep(0)
        self.records.extend(e.to_bytes() for e in envelopes)


@dataclass
class _Threads:
    states: dict[str, ThreadState] = field(default_factory=dict)

    def get(self, thread_key: str) -> ThreadState | None:
        return self.states.get(thread_key)

    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


def fold_all(records: Sequence[bytes], bot_id: int = 7) -> list[Folded]:
    """Each record folded by the worker's own code (:meth:`UpdateFolder.fold`, with the demo's
    SLA policy, so the clocks' arithmetic runs too), states kept between them as the worker
    keeps them."""
    folder, store = UpdateFolder(sla_policy=sla_policy()), _Threads()
    results = []
    for offset, payload in enumerate(records):
        folded = folder.fold(payload, store, Position("telegram.updates", 0, offset, None), NOW)
        for state in folded.states:
            store.states[state.thread_key] = state
        results.append(folded)
    return results


@dataclass
class ServedWebhook:
    port: int
    log: MemoryLog


@contextmanager
def served_webhook(*, max_body_bytes: int = 1_000_000,
                   body_timeout: float = 10.0) -> Iterator[ServedWebhook]:
    """The real webhook app on a real port, in an event loop of its own thread."""
    log = MemoryLog()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        app = create_webhook_app(log, bot_id=7, secret=SECRET, max_body_bytes=max_body_bytes,
                                 body_timeout=body_timeout, clock=lambda: NOW)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="webhook", daemon=True)
    thread.start()
    assert ready.wait(10), "the webhook did not start"
    try:
        yield ServedWebhook(state["port"], log)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
