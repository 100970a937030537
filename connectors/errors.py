"""Errors of the connectors.

::

    ConnectorError
    ├── TransientError      retry with backoff (timeouts, 5xx, 429 with retry_after)
    └── PermanentError      dead-letter with the reason (4xx that retrying cannot fix)

How long to wait before retrying is :mod:`streams.runtime.retry`'s. The Telegram Bot API's
refusals are typed subclasses of these two (:mod:`connectors.telegram.bot_api`:
``TooManyRequests``, ``TopicClosed``, ``ChatNotFound``...).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error raised by ``connectors``."""


class TransientError(ConnectorError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    pass
