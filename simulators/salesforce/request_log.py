"""Every call the org answered, and which it refused and why, for tests to read.

Each REST, Tooling, OAuth token and SOAP login call is logged with its method, path, HTTP
status and, when refused (status 400 or more, or a SOAP fault), the error code and message
the caller got. The driver's ``/sim`` calls are not logged. ``GET /sim/requests`` (and
``SalesforceDriver.requests()``) reads the log; an acceptance test can assert that a whole
run made no refused call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedCall:
    at: str
    method: str
    path: str
    status: int
    user_id: str | None = None
    error_code: str | None = None
    message: str | None = None

    @property
    def refused(self) -> bool:
        return self.status >= 400

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "refused": self.refused}


class RequestLog:
    """The org's call log, oldest first (in memory, like the rest of the simulator)."""

    def __init__(self) -> None:
        self.calls: list[LoggedCall] = []

    def add(self, call: LoggedCall) -> None:
        self.calls.append(call)

    def refused(self) -> list[LoggedCall]:
        return [c for c in self.calls if c.refused]

    def clear(self) -> None:
        self.calls.clear()


def error_of(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` of a REST error array or an OAuth error object."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return first.get("errorCode"), first.get("message")
    if isinstance(body, dict) and "error" in body:
        return body.get("error"), body.get("error_description")
    return None, None
