"""The Telegram webhook endpoint.

``POST <path>`` with one Update as JSON. The answer tells Telegram whether to retry:

- 200 only after the update is durably in ``telegram.updates`` (Telegram then forgets it);
- 401 when ``X-Telegram-Bot-Api-Secret-Token`` is missing or wrong (compared in constant time);
- 413 when the body is larger than ``max_body_bytes`` (by its ``Content-Length``, or as soon as
  a chunked body passes the limit: the rest is not read and the connection is closed);
- 408 when the whole body has not arrived within ``body_timeout`` seconds (the connection is
  closed);
- 400 when the worker would not fold the update (:mod:`streams.schema.update_check`: not JSON,
  a lone surrogate, nested deeper than 64 levels, not an object with an integer ``update_id``,
  a field the worker reads out of Telegram's bounds, such as a chat id over 52 bits). Unknown
  update *types* and fields are fine: they are stored raw and the worker skips them;
- 503 when the log cannot take the update right now (Telegram retries later).

A client that disconnects mid-body gets nothing (counted as ``client_gone``).

The body is read whole, chunk by chunk, whatever its framing (``Content-Length``, chunked, or
split across TCP segments); each request waits only on its own client, so a slow one holds up
nobody else. Each rejection is counted by reason (``telecase_telegram_webhook_rejected_total``),
and an update refused by the check also in ``telecase_telegram_updates_refused_total``. Logs
carry the update id and the outcome, never the token, the secret or message bodies.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web

from connectors.raw_log import RawLog
from connectors.telegram.inbound_metrics import ACCEPTED, REFUSED, REJECTED
from streams.schema.envelope import EncodedUpdate
from streams.schema.update_check import UpdateRefused, check_body

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_OK = b'{"ok": true}'
log = structlog.get_logger("telecase.telegram.webhook")


def _reject(status: int, reason: str, text: str) -> web.Response:
    REJECTED.labels(reason).inc()
    log.warning("webhook.rejected", reason=reason, status=status)
    return web.json_response({"ok": False, "error": text}, status=status)


class _BodyRefused(Exception):
    """The body was not read whole: too large, or it stalled."""

    def __init__(self, status: int, reason: str, text: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.text = status, reason, text


async def _read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    """Every chunk of the body, as it arrives, up to ``max_bytes``, all within ``timeout``
    seconds (a client that trickles a byte at a time is cut off too)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _BodyRefused(413, "too_large", "body too large")
    if request.content.is_eof():  # all of it arrived with the headers: nothing to wait for
        body = request.content.read_nowait()
        if len(body) > max_bytes:
            raise _BodyRefused(413, "too_large", "body too large")
        return body
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > max_bytes:
                    raise _BodyRefused(413, "too_large", "body too large")
                chunks.append(chunk)
    except TimeoutError:
        raise _BodyRefused(408, "body_timeout", "body not received in time") from None
    return b"".join(chunks)


async def _refuse_and_close(request: web.Request, refused: _BodyRefused) -> web.StreamResponse:
    """Answer, then close the connection, so the rest of the body is never read."""
    response = _reject(refused.status, refused.reason, refused.text)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.protocol is not None:
        request.protocol.force_close()
    return response


def create_webhook_app(raw_log: RawLog, *, bot_id: int, secret: str, path: str = "/telegram",
                       max_body_bytes: int = 1_000_000, body_timeout: float = 10.0,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                       ) -> web.Application:
    """An aiohttp application with the webhook route and ``GET /healthz``."""
    if not secret:
        raise ValueError("a webhook secret is required (Telegram's secret_token)")
    expected = secret.encode()
    accepted = ACCEPTED.labels("webhook")

    async def receive(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _reject(401, "missing_secret", "missing secret token")
        if not hmac.compare_digest(given.encode(), expected):
            return _reject(401, "bad_secret", "wrong secret token")
        try:
            body = await _read_body(request, max_body_bytes, body_timeout)
        except _BodyRefused as refused:
            return await _refuse_and_close(request, refused)
        except ConnectionError:  # the client left mid-body: nobody to answer
            return _reject(400, "client_gone", "connection lost")
        try:
            checked = check_body(body)
        except UpdateRefused as refused:
            REFUSED.labels("webhook", refused.reason).inc()
            return _reject(400, refused.reason, f"not a foldable Update: {refused.detail}")
        update = checked.update
        envelope = EncodedUpdate.from_body(bot_id=bot_id, source="webhook",
                                           received_at=clock(), body=checked.body,
                                           update=update)
        try:
            await raw_log.append([envelope])
        except Exception as exc:  # the log refused: Telegram must retry, nothing is lost
            log.error("webhook.log_unavailable", update_id=update["update_id"],
                      error=type(exc).__name__)
            return web.json_response({"ok": False, "error": "log unavailable"}, status=503)
        accepted.inc()
        log.debug("webhook.accepted", update_id=update["update_id"])
        return web.Response(body=_OK, content_type="application/json")

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=max_body_bytes + 1024)
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", healthz)
    return app


async def serve_webhook(raw_log: RawLog, *, bot_id: int, secret: str, host: str, port: int,
                        path: str = "/telegram", max_body_bytes: int = 1_000_000,
                        body_timeout: float = 10.0) -> web.AppRunner:
    """The webhook application listening on ``host:port``; ``cleanup()`` the runner to stop
    (requests in flight are answered first)."""
    app = create_webhook_app(raw_log, bot_id=bot_id, secret=secret, path=path,
                             max_body_bytes=max_body_bytes, body_timeout=body_timeout)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
