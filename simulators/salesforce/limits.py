"""The org's daily API request allocation and the ``Sforce-Limit-Info`` header.

Every authenticated REST call counts 1 (a composite or collections request counts 1 however
many records or subrequests it carries); OAuth and SOAP logins and the driver's ``/sim``
calls do not count. Each counted answer carries ``Sforce-Limit-Info: api-usage=N/M`` where
``N`` includes that call. Once ``N`` has reached ``M``, calls answer 403
``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded." (and are not counted) until the
24-hour window that began with the first counted call has passed, or the driver resets it.
Salesforce's allocation is a rolling 24 hours; one fixed window is close enough for tests.
"""

from __future__ import annotations

from typing import Any

from simulators.salesforce.timefmt import SimClock

WINDOW_SECONDS = 24 * 3600


class ApiLimits:
    """Daily API usage of one org."""

    def __init__(self, clock: SimClock, daily_max: int) -> None:
        if daily_max < 1:
            raise ValueError("daily_api_limit must be at least 1")
        self.clock = clock
        self.max = daily_max
        self.used = 0
        self.calls = 0  # counted calls since start or reset (the driver's api_calls())
        self._window_start: float | None = None

    def consume(self) -> bool:
        """Count one call; ``False`` (not counted) when the allocation is used up."""
        now = self.clock.now()
        if self._window_start is None or now - self._window_start >= WINDOW_SECONDS:
            self._window_start = now
            self.used = 0
        if self.used >= self.max:
            return False
        self.used += 1
        self.calls += 1
        return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.max}"

    @property
    def remaining(self) -> int:
        return max(0, self.max - self.used)

    def set_used(self, used: int) -> None:
        """Pretend ``used`` calls were made in the current window."""
        if used < 0:
            raise ValueError("used must be >= 0")
        if self._window_start is None:
            self._window_start = self.clock.now()
        self.used = min(used, self.max)

    def reset(self) -> None:
        self.used = 0
        self.calls = 0
        self._window_start = None

    def state(self) -> dict[str, Any]:
        return {"used": self.used, "max": self.max, "remaining": self.remaining,
                "calls": self.calls}
