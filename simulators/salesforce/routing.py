"""REST resources under ``/services/data/vXX.X/``, registered as data, and their dispatch.

A resource is a path pattern of literal and ``{placeholder}`` segments, an HTTP method and a
handler ``(org, request, params) -> ApiResponse``. Handlers are synchronous: every request
runs to completion without yielding, so each is atomic with respect to the others.
Dispatch picks the most specific pattern matching the path (most literal segments), answers
405 ``METHOD_NOT_ALLOWED`` when that pattern lacks the method and 404 ``NOT_FOUND`` when
nothing matches. The composite resource dispatches its subrequests through the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulators.salesforce.errors import json_parser_error, method_not_allowed, not_found

if TYPE_CHECKING:
    from simulators.salesforce.org import Org


@dataclass
class ApiRequest:
    """One REST call, already authenticated: path segments after ``/vXX.X/``."""

    method: str
    segments: list[str]
    version: str
    user_id: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    in_composite: bool = False
    force_all_or_none: bool = False

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object."""
        if not isinstance(self.body, dict):
            raise json_parser_error("Cannot deserialize instance of object from "
                                    f"{_token(self.body)} value or request may be missing a "
                                    "required field")
        return self.body


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["Org", ApiRequest, dict[str, str]], ApiResponse]


@dataclass(frozen=True)
class Resource:
    method: str
    pattern: tuple[str, ...]
    handler: Handler

    @property
    def specificity(self) -> int:
        return sum(1 for part in self.pattern if not part.startswith("{"))

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment and part != "{value}":
                    return None
                params[part[1:-1]] = segment
            elif part.lower() != segment.lower():
                return None
        return params


RESOURCES: list[Resource] = []


def resource(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on ``pattern`` (twice is an error)."""
    parts = tuple(p for p in pattern.split("/") if p)

    def register(handler: Handler) -> Handler:
        if any(r.method == method and r.pattern == parts for r in RESOURCES):
            raise ValueError(f"{method} {pattern} registered twice")
        RESOURCES.append(Resource(method, parts, handler))
        return handler
    return register


def dispatch(org: Org, request: ApiRequest) -> ApiResponse:
    """Run the handler of ``request`` (raises ``ApiError`` for error answers)."""
    segments = list(request.segments)
    while segments and segments[-1] == "":
        segments.pop()
    matches = [(r, p) for r in RESOURCES if (p := r.match(segments)) is not None]
    if not matches:
        raise not_found()
    best = max(r.specificity for r, _ in matches)
    matches = [(r, p) for r, p in matches if r.specificity == best]
    for candidate, params in matches:
        if candidate.method == request.method:
            return candidate.handler(org, request, params)
    raise method_not_allowed(request.method, sorted({r.method for r, _ in matches}))


def _token(value: Any) -> str:
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"
