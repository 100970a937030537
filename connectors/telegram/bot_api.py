"""A small Bot API client (httpx) for what the connectors call, and the typed errors it raises.

An unsuccessful answer is Telegram's envelope ``{"ok": false, "error_code", "description",
"parameters": {"retry_after", "migrate_to_chat_id"}}`` (Bot API, "Making requests" and
``ResponseParameters``). :func:`api_error` reads it once, here, into a typed exception, so
callers write ``except TopicClosed`` rather than test the description's text::

    ConnectorError                              (connectors.errors)
    ├── TransientError                          retry later
    │   ├── TooManyRequests      429            flood control; ``retry_after`` seconds
    │   └── TelegramServerError  5xx            or an answer that is not JSON (a proxy)
    └── PermanentError                          retrying the same call cannot help
        └── TelegramApiError     any refusal    ``error_code``, ``description``
            ├── BadRequest       400
            │   ├── TopicClosed          TOPIC_CLOSED: reopen the topic, then send
            │   ├── TopicDeleted         TOPIC_DELETED, TOPIC_ID_INVALID, "message thread
            │   │                        not found", "topic not found"
            │   ├── NotEnoughRights      "not enough rights to ..." (the bot's admin rights)
            │   ├── TopicNotModified     TOPIC_NOT_MODIFIED (already open, or closed)
            │   ├── MessageNotModified   "message is not modified"
            │   └── ChatNotFound         "chat not found"
            ├── Forbidden        403     the bot was kicked, may not write, ...
            │   └── BotBlocked           "bot was blocked by the user"
            └── Conflict         409     another getUpdates, or a webhook is set

A deleted topic has several answers, all :class:`TopicDeleted`: ``message thread not found``
(the Bot API's own check, e.g. ``sendMessage``), ``TOPIC_ID_INVALID`` and ``TOPIC_DELETED``
(the server's, passed through, for the topic methods and sends). A missing administrator
right ("not enough rights to create a topic", "... to close or open the topic", "... to edit
the topic", "... to delete the topic": the topic methods' documented requirements) is
:class:`NotEnoughRights`; each is logged as a WARNING (``telegram.bot_rights_missing``) and
counted in ``telecase_telegram_rights_missing_total{method}`` when it is raised, so a bot
added to a group without ``can_manage_topics`` shows at its first refused call.

A network failure is a plain :class:`TransientError`. The token is part of the URL and is
never logged. Every call is counted in ``telecase_telegram_api_calls_total{method, outcome}``
(:mod:`connectors.api_calls`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from connectors.api_calls import TELEGRAM_API_CALLS, label, outcome_of
from connectors.errors import PermanentError, TransientError

log = structlog.get_logger("telecase.telegram.api")

RIGHTS_MISSING = Counter("telecase_telegram_rights_missing_total", "Bot API calls refused "
                         "because the bot lacks an administrator right, by method", ["method"])

# -------------------------------------------------------------------------------- errors


class TooManyRequests(TransientError):
    """429: flood control; ``retry_after`` is Telegram's wait in seconds (``None``: not given)."""

    def __init__(self, method: str, description: str, retry_after: float | None) -> None:
        super().__init__(f"{method}: 429 {description}", retry_after)
        self.error_code = 429
        self.description = description


class TelegramServerError(TransientError):
    """5xx, or an answer that is not the Bot API's JSON (a proxy's error page)."""

    def __init__(self, method: str, error_code: int, description: str) -> None:
        super().__init__(f"{method}: {error_code} {description}")
        self.error_code = error_code
        self.description = description


class TelegramApiError(PermanentError):
    """Telegram refused the call; the same call will be refused again."""

    def __init__(self, error_code: int, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description


class BadRequest(TelegramApiError):
    """400, for a reason no subclass names."""


class TopicClosed(BadRequest):
    """The forum topic is closed: only admins may post until it is reopened."""


class TopicDeleted(BadRequest):
    """The forum topic is gone (deleted, or its thread unknown to Telegram)."""


class NotEnoughRights(BadRequest):
    """The bot lacks an administrator right the method needs in that group."""


class TopicNotModified(BadRequest):
    """Reopening (closing, editing) a topic that is already so."""


class MessageNotModified(BadRequest):
    """Editing a message to what it already is."""


class ChatNotFound(BadRequest):
    """No chat by that id the bot can see."""


class Forbidden(TelegramApiError):
    """403: the bot may not act there (kicked, not a member, may not start the chat)."""


class BotBlocked(Forbidden):
    """The user blocked the bot."""


class Conflict(TelegramApiError):
    """409: another ``getUpdates`` runs for this bot, or a webhook is set."""


_BY_DESCRIPTION: tuple[tuple[str, type[TelegramApiError]], ...] = (
    ("topic_closed", TopicClosed),
    ("topic_deleted", TopicDeleted),
    ("topic_id_invalid", TopicDeleted),
    ("message thread not found", TopicDeleted),
    ("topic not found", TopicDeleted),
    ("not enough rights", NotEnoughRights),
    ("topic_not_modified", TopicNotModified),
    ("message is not modified", MessageNotModified),
    ("chat not found", ChatNotFound),
    ("bot was blocked by the user", BotBlocked),
)
"""Refusals told apart by their description (lower case), as Telegram spells them."""

_BY_CODE: dict[int, type[TelegramApiError]] = {400: BadRequest, 403: Forbidden, 409: Conflict}


def api_error(method: str, error_code: int, description: str,
              parameters: dict[str, Any] | None = None) -> TransientError | TelegramApiError:
    """The typed exception for an unsuccessful answer to ``method``."""
    if error_code == 429:
        retry_after = (parameters or {}).get("retry_after")
        return TooManyRequests(method, description,
                               float(retry_after) if retry_after is not None else None)
    if error_code >= 500:
        return TelegramServerError(method, error_code, description)
    text = description.lower()
    for needle, kind in _BY_DESCRIPTION:
        if needle in text:
            if kind is NotEnoughRights:
                RIGHTS_MISSING.labels(label(method)).inc()
                log.warning("telegram.bot_rights_missing", method=method,
                            description=description)
            return kind(error_code, description)
    return _BY_CODE.get(error_code, TelegramApiError)(error_code, description)


# -------------------------------------------------------------------------------- client


class BotApi:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org", *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self._client = httpx.AsyncClient(base_url=f"{base_url.rstrip('/')}/bot{token}",
                                         transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, *, http_timeout: float | None = None,
                   files: dict[str, tuple[str, bytes, str]] | None = None,
                   **params: Any) -> Any:
        """``method``'s result; raises :class:`TransientError` (a network failure, or one of
        the transient errors above) or a :class:`TelegramApiError`. ``files`` (field:
        (name, bytes, MIME type)) are uploaded as ``multipart/form-data``, the parameters then
        form fields (objects as JSON), as the Bot API's "Sending files" describes."""
        body = {k: v for k, v in params.items() if v is not None}
        name = label(method)
        sent: dict[str, Any] = {"json": body} if not files else {
            "files": files, "data": {k: v if isinstance(v, str) else json.dumps(v)
                                     for k, v in body.items()}}
        try:
            response = await self._client.post(
                f"/{method}", **sent,
                timeout=httpx.USE_CLIENT_DEFAULT if http_timeout is None else http_timeout)
        except httpx.TransportError as exc:
            TELEGRAM_API_CALLS.labels(name, "transport").inc()
            raise TransientError(f"{method}: {type(exc).__name__}") from exc
        try:
            data = response.json()
        except ValueError:
            data = {"ok": False, "error_code": response.status_code,
                    "description": "response is not JSON"}
        if data.get("ok"):
            TELEGRAM_API_CALLS.labels(name, "ok").inc()
            return data.get("result")
        code = int(data.get("error_code") or response.status_code)
        TELEGRAM_API_CALLS.labels(name, outcome_of(max(code, 400))).inc()
        parameters = data.get("parameters")
        raise api_error(method, code, str(data.get("description", "")),
                        parameters if isinstance(parameters, dict) else None)


__all__ = ["BadRequest", "BotApi", "BotBlocked", "ChatNotFound", "Conflict", "Forbidden",
           "MessageNotModified", "NotEnoughRights", "TelegramApiError", "TelegramServerError",
           "TooManyRequests", "TopicClosed", "TopicDeleted", "TopicNotModified", "api_error"]
