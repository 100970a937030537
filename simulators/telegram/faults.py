"""Injected faults of the simulated Bot API: outages and latency, set through the driver.

- ``fail_next(count, status, ...)``: the next ``count`` Bot API calls (optionally only of some
  methods) fail with ``status``. A 500 or a 429 answers with Telegram's JSON envelope
  (429 with ``retry_after``); 502, 503 and 504 answer like the proxy in front of the real Bot
  API does during an outage: an HTML page, not JSON, which clients must survive.
- ``latency``: seconds every Bot API call waits before it is handled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_PROXY_STATUSES = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
_DESCRIPTIONS = {500: "Internal Server Error", 429: "Too Many Requests"}


@dataclass
class Fault:
    """One armed failure rule."""

    status: int
    remaining: int
    methods: frozenset[str] | None = None
    description: str | None = None
    retry_after: int | None = None

    def matches(self, method: str) -> bool:
        return self.remaining > 0 and (self.methods is None or method in self.methods)


@dataclass
class Faults:
    """The armed faults and the latency; consulted before each Bot API call."""

    latency: float = 0.0
    rules: list[Fault] = field(default_factory=list)

    def fail_next(self, count: int, status: int = 500, *, methods: list[str] | None = None,
                  description: str | None = None, retry_after: int | None = None) -> None:
        if count < 1 or not 400 <= status <= 599:
            raise ValueError("count must be >= 1 and status a 4xx or 5xx")
        names = frozenset(m.lower() for m in methods) if methods else None
        self.rules.append(Fault(status, count, names, description, retry_after))

    def clear(self) -> None:
        self.latency = 0.0
        self.rules.clear()

    def failure_for(self, method: str) -> web.Response | None:
        """The response a fault imposes on this call (consuming it), or ``None``."""
        for rule in self.rules:
            if rule.matches(method.lower()):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self.rules.remove(rule)
                return _response(rule)
        return None

    def state(self) -> dict[str, Any]:
        return {"latency": self.latency,
                "rules": [{"status": r.status, "remaining": r.remaining,
                           "methods": sorted(r.methods) if r.methods else None}
                          for r in self.rules]}


def _response(rule: Fault) -> web.Response:
    if rule.status in _PROXY_STATUSES and rule.description is None:
        reason = _PROXY_STATUSES[rule.status]
        page = (f"<html>\r\n<head><title>{rule.status} {reason}</title></head>\r\n<body>\r\n"
                f"<center><h1>{rule.status} {reason}</h1></center>\r\n"
                "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")
        return web.Response(status=rule.status, text=page, content_type="text/html")
    body: dict[str, Any] = {"ok": False, "error_code": rule.status,
                            "description": rule.description
                            or _DESCRIPTIONS.get(rule.status, "Injected fault")}
    if rule.status == 429:
        seconds = rule.retry_after or 1
        body["description"] = rule.description or f"Too Many Requests: retry after {seconds}"
        body["parameters"] = {"retry_after": seconds}
    return web.json_response(body, status=rule.status)
