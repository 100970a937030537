"""The read-only audit HTTP API (aiohttp).

Routes (all ``GET``, all answers JSON):

- ``/v1/healthz``: ``{"ok": true}``, no authentication;
- ``/v1/tickets/{ticket_id}/audit``: the ticket's audit rows (404 when unknown *or* not
  visible to the caller, deliberately indistinguishable);
- ``/v1/agents/{agent_id}/audit?since=&until=&limit=``: an agent's activity in ``[since,
  until)``; ``since`` is required, both take ISO 8601 or a time ago (``2d``, ``12h``); at most
  ``limit`` rows (default 1000, at most 10000), ``"truncated": true`` when there were more.

Authentication: ``Authorization: Bearer <key>``. Keys live in a TOML file (see
:func:`load_keys`) as SHA-256 hashes only; the presented key is hashed and compared with every
stored hash in constant time, and neither it nor its hash is ever logged. Answers:

- 401 (``WWW-Authenticate: Bearer``) when the header is missing or the key unknown;
- 403 when an agent asks for another agent's activity;
- 400 for a bad ``since``/``until``/``limit``; 404 for unknown tickets and routes;
- 503 when the projections cannot be read.

Errors are ``{"error": "..."}``. Every request is counted by outcome
(``telecase_audit_api_requests_total{outcome}``) and logged (route, status, outcome, the key's
*name* and role; never bodies, keys or headers). Personal data in answers follows the key's
role and ``pii`` setting (see ``projections.audit_queries``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from projections.audit_queries import (
    AccessDenied,
    Role,
    TicketNotFound,
    Viewer,
    agent_activity,
    parse_instant,
    ticket_history,
)
from streams.assignment.policy import AssignmentPolicy
from telecase.errors import TelecaseError

log = structlog.get_logger("telecase.web.audit_api")

REQUESTS = Counter("telecase_audit_api_requests_total", "Audit API requests, by outcome",
                   ["outcome"])
"""Outcomes: ok, unauthenticated, forbidden, not_found, bad_request, unavailable, error."""

DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000


class AuditApiError(TelecaseError):
    """Root of the errors of the audit API's set-up."""


class KeysFileError(AuditApiError):
    """The keys file cannot be used; the message says which file and why."""


class ApiKey(BaseModel):
    """One ``[keys.<name>]`` table of the keys file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    role: Role
    agent_id: str | None = Field(default=None, min_length=1)
    pii: bool | None = None
    """Personal data in answers (``None``: the role's default, which is yes)."""

    @model_validator(mode="after")
    def _agent_for_people(self) -> ApiKey:
        if self.role != "admin" and self.agent_id is None:
            raise ValueError(f"role {self.role!r} needs agent_id")
        return self

    def viewer(self, policy: AssignmentPolicy | None) -> Viewer:
        if self.role == "team_lead":
            assert self.agent_id is not None
            return Viewer.team_lead(self.agent_id, policy, pii=self.pii)
        return Viewer(self.role, self.agent_id, pii=self.pii)


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, ApiKey]
    """By name."""

    def find(self, presented: str) -> tuple[str, ApiKey] | None:
        """The key whose hash matches ``presented``: every stored hash is compared, each in
        constant time, so the answer's timing says nothing about which one (or how close)."""
        digest = hashlib.sha256(presented.encode()).hexdigest().encode()
        found: tuple[str, ApiKey] | None = None
        for name, key in self.keys.items():
            if hmac.compare_digest(digest, key.key_sha256.lower().encode()) and found is None:
                found = (name, key)
        return found


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (``None``: none given); the
    dashboard reads its keys the same way."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def key_sha256(key: str) -> str:
    """What goes into the keys file for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


def load_keys(path: Path, policy: AssignmentPolicy | None) -> KeyRing:
    """Read a keys file::

        [keys.ops]
        key_sha256 = "9f86d0..."        # telecase audit key-hash < key
        role = "admin"                  # agent | team_lead | admin
        pii = false                     # optional; default true

        [keys.ann]
        key_sha256 = "..."
        role = "agent"
        agent_id = "ann"                # the policy's agent id (agents and team leads)

    A team lead must be an agent of the assignment policy. One line per problem."""
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise KeysFileError(f"keys file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KeysFileError(f"keys file {path}: not valid TOML: {exc}") from None
    tables = document.get("keys")
    problems: list[str] = []
    if set(document) - {"keys"}:
        problems.append(f"unknown tables: {', '.join(sorted(set(document) - {'keys'}))}")
    if not isinstance(tables, dict) or not tables:
        problems.append("no [keys.<name>] tables")
        tables = {}
    keys: dict[str, ApiKey] = {}
    for name, table in tables.items():
        try:
            key = ApiKey.model_validate(table)
        except ValidationError as exc:
            problems += [_problem(f"keys.{name}", error) for error in exc.errors()]
            continue
        if key.role == "team_lead" and (policy is None or key.agent_id not in policy.agents):
            problems.append(f"keys.{name}.agent_id: team lead {key.agent_id!r} is not an agent "
                            "of the assignment policy (TELECASE_POLICY_FILE)")
        same = [other for other, known in keys.items()
                if known.key_sha256.lower() == key.key_sha256.lower()]
        if same:
            problems.append(f"keys.{name}.key_sha256: the same key as keys.{same[0]}")
        keys[name] = key
    if problems:
        raise KeysFileError(f"keys file {path}:\n" + "\n".join(f"  {p}" for p in problems))
    return KeyRing(keys)


class KeysFile:
    """The keys file, read again when it changes, so keys are added and revoked without a
    restart. A change that does not load keeps the keys in force and logs why."""

    def __init__(self, path: Path, policy: AssignmentPolicy | None) -> None:
        self.path, self.policy = path, policy
        self._stamp = self._stat()
        self._ring = load_keys(path, policy)

    def _stat(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def current(self) -> KeyRing:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._ring = load_keys(self.path, self.policy)
                log.info("audit_api.keys_reloaded", keys=len(self._ring.keys))
            except KeysFileError as exc:
                log.error("audit_api.keys_reload_failed", error=str(exc))
        return self._ring


class _Refusal(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status, self.outcome, self.message = status, outcome, message


VIEWER = web.RequestKey("viewer", Viewer)
_PUBLIC = frozenset({"/v1/healthz"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telecase audit"'}
_HTTP_OUTCOMES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
                  404: "not_found", 405: "bad_request", 503: "unavailable"}


def create_audit_app(engine: Engine, keys: Callable[[], KeyRing],
                     policy: AssignmentPolicy | None, *,
                     clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                     ) -> web.Application:
    """The API over the projections in ``engine``; ``keys()`` gives the keys in force."""

    def authenticate(request: web.Request) -> tuple[str, ApiKey]:
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            raise _Refusal(401, "unauthenticated", "missing bearer token")
        found = keys().find(token)
        if found is None:
            raise _Refusal(401, "unauthenticated", "unknown API key")
        return found

    @web.middleware
    async def guard(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                    ) -> web.StreamResponse:
        started = time.perf_counter()
        who: dict[str, str] = {}
        try:
            if request.path not in _PUBLIC:
                name, key = authenticate(request)
                who = {"key": name, "role": key.role}
                request[VIEWER] = key.viewer(policy)
            response = await handler(request)
            outcome = "ok"
        except _Refusal as refusal:
            outcome = refusal.outcome
            response = web.json_response(
                {"error": refusal.message}, status=refusal.status,
                headers=_CHALLENGE if refusal.status == 401 else None)
        except web.HTTPException as exc:
            outcome = _HTTP_OUTCOMES.get(exc.status, "bad_request")
            response = web.json_response({"error": exc.reason.lower()}, status=exc.status)
        except Exception as exc:
            outcome = "error"
            log.error("audit_api.failed", error=type(exc).__name__)
            response = web.json_response({"error": "internal error"}, status=500)
        REQUESTS.labels(outcome).inc()
        resource = request.match_info.route.resource
        log.info("audit_api.request", method=request.method,
                 route=resource.canonical if resource is not None else None,
                 **dict(request.match_info), status=response.status, outcome=outcome,
                 ms=round((time.perf_counter() - started) * 1000, 1), **who)
        return response

    async def read(query: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            with engine.connect() as conn:
                return query(conn)

        try:
            return await asyncio.to_thread(run)
        except SQLAlchemyError as exc:
            log.error("audit_api.projections_unavailable", error=type(exc).__name__)
            raise _Refusal(503, "unavailable", "projections unavailable") from None

    async def ticket(request: web.Request) -> web.Response:
        ticket_id = request.match_info["ticket_id"]
        viewer = request[VIEWER]
        try:
            entries = await read(lambda conn: ticket_history(conn, ticket_id, viewer))
        except TicketNotFound:
            raise _Refusal(404, "not_found", "no such ticket") from None
        return _private({"ticket_id": ticket_id, "entries": [e.as_json() for e in entries]})

    async def agent(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        viewer = request[VIEWER]
        if viewer.role == "agent" and viewer.agent_id != agent_id:
            raise _Refusal(403, "forbidden", "agents may see only their own activity")
        now = clock()
        since = _instant(request.query.get("since"), "since", now, required=True)
        assert since is not None
        until = _instant(request.query.get("until"), "until", now, required=False)
        limit = _limit(request.query.get("limit"))
        try:
            entries = await read(lambda conn: agent_activity(conn, agent_id, since, until,
                                                             viewer, limit=limit + 1))
        except AccessDenied as exc:
            raise _Refusal(403, "forbidden", str(exc)) from None
        return _private({"agent_id": agent_id, "since": since.isoformat(),
                         "until": None if until is None else until.isoformat(),
                         "entries": [e.as_json() for e in entries[:limit]],
                         "truncated": len(entries) > limit})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[guard])
    app.router.add_get("/v1/healthz", healthz)
    app.router.add_get("/v1/tickets/{ticket_id}/audit", ticket)
    app.router.add_get("/v1/agents/{agent_id}/audit", agent)
    return app


def _private(payload: dict[str, Any]) -> web.Response:
    """Audit answers may hold personal data: no caching anywhere on the way."""
    return web.json_response(payload, headers={"Cache-Control": "no-store"})


def _problem(where: str, error: Any) -> str:
    path = ".".join([where, *map(str, error["loc"])])
    return f"{path}: {str(error['msg']).removeprefix('Value error, ')}"


def _instant(text: str | None, name: str, now: datetime, *, required: bool,
             ) -> datetime | None:
    if text is None or not text.strip():
        if required:
            raise _Refusal(400, "bad_request", f"{name} is required (ISO 8601 or 2d, 12h)")
        return None
    try:
        return parse_instant(text, now)
    except ValueError as exc:
        raise _Refusal(400, "bad_request", f"{name}: {exc}") from None


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _Refusal(400, "bad_request", f"limit must be 1 to {MAX_LIMIT}")
    return int(text)

