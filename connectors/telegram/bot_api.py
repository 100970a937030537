"""A small Bot API client (httpx) for what the connectors call.

Errors follow the Bot API's envelope ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}``: 429 and 5xx become :class:`TransientError` (with
``retry_after`` when Telegram gives one), other failures :class:`TelegramApiError`.
The token is part of the URL and is never logged. Every call is counted in
``telecase_telegram_api_calls_total{method, outcome}`` (:mod:`connectors.api_calls`).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.api_calls import TELEGRAM_API_CALLS, label, outcome_of
from connectors.errors import PermanentError, TransientError


class TelegramApiError(PermanentError):
    def __init__(self, error_code: int, description: str) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description


class BotApi:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org", *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self._client = httpx.AsyncClient(base_url=f"{base_url.rstrip('/')}/bot{token}",
                                         transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, *, http_timeout: float | None = None,
                   **params: Any) -> Any:
        body = {k: v for k, v in params.items() if v is not None}
        name = label(method)
        try:
            response = await self._client.post(
                f"/{method}", json=body,
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
        description = str(data.get("description", ""))
        if code == 429 or code >= 500:
            retry_after = (data.get("parameters") or {}).get("retry_after")
            raise TransientError(f"{method}: {code} {description}",
                                 float(retry_after) if retry_after is not None else None)
        raise TelegramApiError(code, description)
