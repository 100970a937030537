"""Fetching a file a customer sent, by its ``file_id`` (Bot API ``getFile``).

``getFile`` answers a File object whose ``file_path`` downloads the file from
``{api base}/file/bot<token>/<file_path>``; "for the moment, bots can download files of up to
20MB in size", and the link is valid for at least an hour (Bot API, "getFile",
https://core.telegram.org/bots/api#getfile). :class:`TelegramFiles` asks for the path and
downloads the bytes, or says the file is too big to download (:data:`DOWNLOAD_MAX_BYTES`, or
the caller's lower limit) without downloading it.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.errors import TransientError
from connectors.telegram.bot_api import BotApi

DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024
"""The Bot API's download limit for bots (``getFile``)."""


@dataclass(frozen=True)
class Fetched:
    """A file's bytes, or ``None`` with ``size`` when it was over the limit (not downloaded)."""

    content: bytes | None
    size: int | None
    file_path: str | None = None


class TelegramFiles:
    """Downloads through ``bot`` (``getFile``) and a client of its own (the file path is not
    under ``/bot<token>/``)."""

    def __init__(self, bot: BotApi, token: str, base_url: str = "https://api.telegram.org", *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 60.0) -> None:
        self.bot = bot
        self._client = httpx.AsyncClient(base_url=f"{base_url.rstrip('/')}/file/bot{token}",
                                         transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, file_id: str, max_bytes: int = DOWNLOAD_MAX_BYTES) -> Fetched:
        """The file's bytes; ``content`` ``None`` when it is bigger than ``max_bytes`` (capped
        at :data:`DOWNLOAD_MAX_BYTES`). Raises :class:`TransientError` on a network failure
        and :class:`~connectors.telegram.bot_api.TelegramApiError` when Telegram refuses
        (Telegram answers ``getFile`` of a too-big file with "Bad Request: file is too
        big")."""
        limit = min(max_bytes, DOWNLOAD_MAX_BYTES)
        info = await self.bot.call("getFile", file_id=file_id)
        size = info.get("file_size") if isinstance(info, dict) else None
        path = info.get("file_path") if isinstance(info, dict) else None
        if not path or (isinstance(size, int) and size > limit):
            return Fetched(None, size if isinstance(size, int) else None, path)
        try:
            response = await self._client.get(f"/{path}")
        except httpx.TransportError as exc:
            raise TransientError(f"file download: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise TransientError(f"file download: HTTP {response.status_code}")
        if response.status_code != 200:
            return Fetched(None, size if isinstance(size, int) else None, path)
        content = response.content
        if len(content) > limit:
            return Fetched(None, len(content), path)
        return Fetched(content, len(content), path)
