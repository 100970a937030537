"""The Telegram webhook endpoint.

``POST <path>`` with one Update as JSON. The answer tells Telegram whether to retry:

- 200 only after the update is durably in ``telegram.updates`` (Telegram then forgets it);
- 401 when ``X-Telegram-Bot-Api-Secret-Token`` is missing or wrong (compared in constant time);
- 413 when the body is larger than ``max_body_bytes``;
- 400 when the body is not JSON, or is JSON but not an Update (an object with an integer
  ``update_id``). Unknown update *types* are fine: they are stored raw and the worker skips them;
- 503 when the log cannot take the update right now (Telegram retries later).

Each rejection is counted by reason (``telecase_telegram_webhook_rejected_total``). Logs carry
the update id and the outcome, never the token, the secret or message bodies.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiohttp import web

from connectors.raw_log import RawLog
from connectors.telegram.inbound_metrics import ACCEPTED, REJECTED
from streams.schema.envelope import EncodedUpdate

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
log = structlog.get_logger("telecase.telegram.webhook")


def _reject(status: int, reason: str, text: str) -> web.Response:
    REJECTED.labels(reason).inc()
    log.warning("webhook.rejected", reason=reason, status=status)
    return web.json_response({"ok": False, "error": text}, status=status)


def create_webhook_app(raw_log: RawLog, *, bot_id: int, secret: str, path: str = "/telegram",
                       max_body_bytes: int = 1_000_000,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                       ) -> web.Application:
    """An aiohttp application with the webhook route and ``GET /healthz``."""
    if not secret:
        raise ValueError("a webhook secret is required (Telegram's secret_token)")
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _reject(401, "missing_secret", "missing secret token")
        if not hmac.compare_digest(given.encode(), expected):
            return _reject(401, "bad_secret", "wrong secret token")
        if request.content_length is not None and request.content_length > max_body_bytes:
            return _reject(413, "too_large", "body too large")
        body = await request.content.read(max_body_bytes + 1)
        if len(body) > max_body_bytes:
            return _reject(413, "too_large", "body too large")
        try:
            update = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _reject(400, "not_json", "body is not JSON")
        if (not isinstance(update, dict) or not isinstance(update.get("update_id"), int)
                or isinstance(update.get("update_id"), bool)):
            return _reject(400, "not_an_update", "body is not a Telegram Update")
        envelope = EncodedUpdate.from_body(bot_id=bot_id, source="webhook",
                                           received_at=clock(), body=body, update=update)
        try:
            await raw_log.append([envelope])
        except Exception as exc:  # the log refused: Telegram must retry, nothing is lost
            log.error("webhook.log_unavailable", update_id=update["update_id"],
                      error=type(exc).__name__)
            return web.json_response({"ok": False, "error": "log unavailable"}, status=503)
        ACCEPTED.labels("webhook").inc()
        log.debug("webhook.accepted", update_id=update["update_id"])
        return web.json_response({"ok": True})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=max_body_bytes + 1024)
    app.router.add_post(path, receive)
    app.router.add_get("/healthz", healthz)
    return app
