"""Errors of the Bot API simulator.

::

    SimulatorError          root of everything this package raises
    ├── BotApiError         an answer the simulated Bot API gives as ``{"ok": false, ...}``
    └── DriverError         a ``/sim`` or Bot API call refused, as seen by ``SimulatorDriver``

:class:`BotApiError` carries exactly what Telegram puts in the error envelope
(``error_code``, ``description`` and, when relevant, ``parameters``). The helper
constructors below spell the descriptions the way the real Bot API does.
"""

from __future__ import annotations

from typing import Any


class SimulatorError(Exception):
    """Root of every error raised by ``simulators.telegram``."""


class BotApiError(SimulatorError):
    """An error answer of the Bot API: HTTP status == ``error_code``."""

    def __init__(self, error_code: int, description: str,
                 parameters: dict[str, Any] | None = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> dict[str, Any]:
        """The JSON body Telegram answers with."""
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class DriverError(SimulatorError):
    """The simulator answered a driver call with an error envelope."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        description = str(body.get("description", ""))
        super().__init__(f"{status}: {description}")
        self.status = status
        self.error_code = int(body.get("error_code") or status)
        self.description = description
        self.parameters: dict[str, Any] = dict(body.get("parameters") or {})


def bad_request(detail: str) -> BotApiError:
    """400 ``Bad Request: <detail>``."""
    return BotApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotApiError:
    """403 ``Forbidden: <detail>``."""
    return BotApiError(403, f"Forbidden: {detail}")


def conflict(detail: str) -> BotApiError:
    """409 ``Conflict: <detail>``."""
    return BotApiError(409, f"Conflict: {detail}")


def too_many_requests(retry_after: int) -> BotApiError:
    """429 with ``parameters.retry_after`` in whole seconds (at least 1)."""
    seconds = max(1, int(retry_after))
    return BotApiError(429, f"Too Many Requests: retry after {seconds}",
                       {"retry_after": seconds})


def unauthorized() -> BotApiError:
    """401 ``Unauthorized``: the token in the URL is not the bot's."""
    return BotApiError(401, "Unauthorized")


def not_found() -> BotApiError:
    """404 ``Not Found``: no such method (or path)."""
    return BotApiError(404, "Not Found")
