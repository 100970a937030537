"""Injected faults, armed through the driver.

- **outage**: the next ``count`` calls (or every call until cleared, when ``count`` is
  ``None``) answer ``status`` — 503 ``SERVER_UNAVAILABLE`` by default, 500
  ``UNKNOWN_EXCEPTION`` when asked — before authentication and before the API limit counts
  them. ``scope`` ``"api"`` hits REST calls only; ``"all"`` hits logins too.
- **latency**: seconds every REST and login call waits before it is handled.
- **row locks**: the next ``count`` record writes made through the API (a create, update,
  delete or upsert, including each record of a collection and each write subrequest of a
  composite) fail with 400 ``UNABLE_TO_LOCK_ROW``, as when another transaction holds the row.
  The driver's agent actions are never refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulators.salesforce.errors import (
    ApiError,
    server_unavailable,
    unable_to_lock_row,
)


@dataclass
class Faults:
    """The armed faults of one org."""

    latency: float = 0.0
    outage_active: bool = False
    outage_remaining: int | None = None  # None while active: until cleared
    outage_status: int = 503
    outage_scope: str = "api"
    lock_failures: int = 0

    def start_outage(self, count: int | None = None, status: int = 503,
                     scope: str = "api") -> None:
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 (or None: until cleared)")
        if not 500 <= status <= 599:
            raise ValueError("an outage answers a 5xx status")
        if scope not in {"api", "all"}:
            raise ValueError("scope is 'api' or 'all'")
        self.outage_active = True
        self.outage_remaining = count
        self.outage_status = status
        self.outage_scope = scope

    def outage_for(self, kind: str) -> ApiError | None:
        """The error an outage imposes on a call of ``kind`` (api|auth), consuming it."""
        if not self.outage_active or (kind == "auth" and self.outage_scope != "all"):
            return None
        if self.outage_remaining is not None:
            self.outage_remaining -= 1
            if self.outage_remaining <= 0:
                self.outage_active = False
                self.outage_remaining = None
        if self.outage_status == 503:
            return server_unavailable()
        if self.outage_status == 500:
            return ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please "
                            "include this ErrorId if you contact support: 1234567890-12345 "
                            "(-1234567890)")
        return ApiError(self.outage_status, "SERVER_UNAVAILABLE", "Injected outage")

    def lock_rows(self, count: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self.lock_failures = count

    def gate(self, record_id: str | None) -> None:
        """Called before each API write; raises ``UNABLE_TO_LOCK_ROW`` while armed."""
        if self.lock_failures > 0:
            self.lock_failures -= 1
            raise unable_to_lock_row(record_id)

    def clear(self) -> None:
        self.latency = 0.0
        self.outage_active = False
        self.outage_remaining = None
        self.lock_failures = 0

    def state(self) -> dict[str, Any]:
        return {"latency": self.latency, "outage": self.outage_active,
                "outage_remaining": self.outage_remaining, "outage_status": self.outage_status,
                "outage_scope": self.outage_scope, "lock_failures": self.lock_failures}
