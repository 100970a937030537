"""The dashboard: a web page with the live SLA board, first-response and resolution trends,
escalations and agent workloads, read from the projections (SQLite embedded, PostgreSQL on
Kafka). ``telecase run`` serves it in-process and ``telecase dashboard`` beside the Kafka
processes (``telecase.web.server``, the composition roots).

Routes:

- ``GET /dashboard``: the page (with a session, else ``303`` to the login page);
- ``GET|POST /dashboard/login``: the form that exchanges an audit API key for a session cookie
  (``telecase.web.sessions``); a wrong key is ``401`` and the form again;
  ``POST /dashboard/logout`` ends the session;
- ``GET /dashboard/static/<file>``: the page's script, chart script and style sheet, served
  from ``telecase/web/static`` (nothing comes from a CDN: it works offline);
- ``GET /dashboard/api/{me,board,trends,workloads}``: JSON, with the session cookie or
  ``Authorization: Bearer <key>``; ``401`` without. ``trends?days=N`` (1-90, default 14);
- ``GET /dashboard/api/compare?before=DAY&after=DAY[&until=DAY][&pilot=CHAT]``: the
  baseline against the period from ``after`` (``telecase metrics compare``'s figures and
  JSON, ``projections.metrics_compare``), over the tickets the viewer may see; ``400`` for
  days that are no period;
- ``POST /dashboard/api/tickets``: the "open ticket" form (outreach or manual,
  ``telecase.ops.ticket``), for team leads and admins, same origin only; ``{"result": ...}``,
  ``400`` with the reason for a form that cannot be a ticket, ``403`` for other roles;
- ``GET /dashboard/healthz``: ``{"ok": true}``, no authentication.

Who sees what is the audit API's rule (``projections.dashboard_queries``): an agent only the
tickets assigned to them, a team lead those of the queues they lead, an admin everything.

Live updates: the page polls ``/api/board`` every :data:`BOARD_POLL_SECONDS` and, between
polls, counts each ticket's time to breach down every second from the deadlines the board
gives (``projections.sla_deadlines``), correcting for the difference between the browser's
clock and the server's (the answer's ``now``). Workloads are polled every 10 s, trends every
minute. Charts are SVG drawn by a small script of our own (``static/charts.js``),
each with the table of its numbers beside it.

Answers carry ``Cache-Control: no-store`` (personal data: subjects, agents), a
``Content-Security-Policy`` that allows only this origin's scripts and styles (no inline code),
``X-Frame-Options: DENY`` and ``nosniff``. Requests are counted by outcome
(``telecase_dashboard_requests_total{outcome}``); logins and refusals are logged at INFO with
the key's *name*, polls at DEBUG; never keys, cookies or bodies.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from prometheus_client import Counter
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from projections.audit_queries import Viewer, may_see_ticket
from projections.dashboard_queries import board, trends, workloads
from projections.metrics_compare import compare, comparison_json, periods
from projections.sla_deadlines import DeadlineBook
from streams.assignment.desk import DeskState
from streams.assignment.policy import AssignmentPolicy
from streams.sla.policy import SlaPolicy
from telecase.errors import TelecaseError
from telecase.ops.ticket import TicketOpener
from telecase.web.audit_api import ApiKey, KeyRing, bearer_token
from telecase.web.sessions import COOKIE, Sessions

log = structlog.get_logger("telecase.web.dashboard")

REQUESTS = Counter("telecase_dashboard_requests_total", "Dashboard requests, by outcome",
                   ["outcome"])
"""Outcomes: ok, redirect, login_refused, unauthenticated, forbidden, not_found, bad_request,
unavailable, error."""

BOARD_POLL_SECONDS = 5
DEFAULT_DAYS, MAX_DAYS = 14, 90
STATIC = Path(__file__).resolve().with_name("static")
_STATIC_FILES = {"dashboard.js": "text/javascript", "charts.js": "text/javascript",
                 "compare.js": "text/javascript",
                 "dashboard.css": "text/css", "icon.svg": "image/svg+xml"}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telecase dashboard"'}

DeskReader = Callable[[], Awaitable[DeskState | None]]
"""The desk's live state (agents' availability), ``None`` when it has none yet."""


class _Refusal(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status, self.outcome, self.message = status, outcome, message


VIEWER = web.RequestKey("viewer", Viewer)
KEY_NAME = web.RequestKey("key_name", str)


@dataclass(frozen=True)
class _Assets:
    page: str
    login: Template
    static: dict[str, bytes]

    @classmethod
    def load(cls) -> _Assets:
        return cls((STATIC / "index.html").read_text(),
                   Template((STATIC / "login.html").read_text()),
                   {name: (STATIC / name).read_bytes() for name in _STATIC_FILES})


def create_dashboard_app(engine: Engine, keys: Callable[[], KeyRing], *,
                         sla_policy: SlaPolicy | None,
                         assignment_policy: AssignmentPolicy | None,
                         desk: DeskReader | None = None, sessions: Sessions | None = None,
                         clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                         open_ticket: TicketOpener | None = None,
                         ) -> web.Application:
    """The dashboard over the projections in ``engine``; ``keys()`` gives the keys in force
    (the audit API's), ``desk()`` the desk's live state when there is a desk,
    ``open_ticket`` the "open ticket" form's action (``None``: no form)."""
    sessions = sessions or Sessions()
    book = DeadlineBook(sla_policy)
    assets = _Assets.load()

    def caller(request: web.Request) -> tuple[str, ApiKey] | None:
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is not None:
            return keys().find(token)
        cookie = request.cookies.get(COOKIE)
        return None if cookie is None else sessions.verify(cookie, keys(), clock())

    @web.middleware
    async def guard(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                    ) -> web.StreamResponse:
        started = time.perf_counter()
        api = request.path.startswith("/dashboard/api/")
        who: dict[str, str] = {}
        try:
            if api or request.path in ("/dashboard", "/dashboard/"):
                found = caller(request)
                if found is not None:
                    who = {"key": found[0], "role": found[1].role}
                    request[KEY_NAME] = found[0]
                    request[VIEWER] = found[1].viewer(assignment_policy)
                elif api:
                    raise _Refusal(401, "unauthenticated",
                                   "log in, or send Authorization: Bearer <key>")
                else:
                    raise _Redirect("/dashboard/login")
            response = await handler(request)
            outcome = "redirect" if 300 <= response.status < 400 else (
                "login_refused" if response.status == 401 else "ok")
        except _Redirect as redirect:
            outcome, response = "redirect", _see_other(redirect.location)
        except _Refusal as refusal:
            outcome = refusal.outcome
            response = web.json_response({"error": refusal.message}, status=refusal.status,
                                         headers=_CHALLENGE if refusal.status == 401 else None)
        except web.HTTPException as exc:
            outcome = {404: "not_found", 403: "forbidden"}.get(exc.status, "bad_request")
            response = (web.json_response({"error": exc.reason.lower()}, status=exc.status)
                        if api else web.Response(text=exc.reason, status=exc.status))
        except Exception as exc:
            outcome = "error"
            log.error("dashboard.failed", error=type(exc).__name__)
            response = web.json_response({"error": "internal error"}, status=500)
        _secure_headers(response)
        REQUESTS.labels(outcome).inc()
        quiet = outcome in ("ok", "redirect") and request.method == "GET"
        (log.debug if quiet else log.info)(
            "dashboard.request", method=request.method, path=_route(request),
            status=response.status, outcome=outcome,
            ms=round((time.perf_counter() - started) * 1000, 1), **who)
        return response

    async def read(query: Callable[[Connection], Any]) -> Any:
        def run() -> Any:
            with engine.connect() as conn, conn.begin():  # one snapshot for the whole answer
                return query(conn)

        try:
            return await asyncio.to_thread(run)
        except SQLAlchemyError as exc:
            log.error("dashboard.projections_unavailable", error=type(exc).__name__)
            raise _Refusal(503, "unavailable", "projections unavailable") from None

    async def page(request: web.Request) -> web.Response:
        return _html(assets.page.replace("$poll", str(BOARD_POLL_SECONDS)))

    async def login_form(request: web.Request) -> web.Response:
        return _html(_login_page(assets.login, ""))

    async def login(request: web.Request) -> web.Response:
        if not _same_origin(request):
            raise _Refusal(403, "forbidden", "cross-site request refused")
        form = await request.post()
        presented = form.get("key")
        found = keys().find(presented.strip()) if isinstance(presented, str) else None
        if found is None:
            log.info("dashboard.login_refused")
            return _html(_login_page(assets.login, "That key is not valid."), status=401)
        name, key = found
        log.info("dashboard.login", key=name, role=key.role)
        response = _see_other("/dashboard")
        response.set_cookie(COOKIE, sessions.issue(name, key, clock()), path="/dashboard",
                            max_age=int(sessions.ttl.total_seconds()), httponly=True,
                            samesite="Strict", secure=_https(request))
        return response

    async def logout(request: web.Request) -> web.Response:
        if not _same_origin(request):
            raise _Refusal(403, "forbidden", "cross-site request refused")
        response = _see_other("/dashboard/login")
        response.del_cookie(COOKIE, path="/dashboard")
        return response

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in assets.static:
            raise web.HTTPNotFound()
        return web.Response(body=assets.static[name], content_type=_STATIC_FILES[name],
                            headers={"Cache-Control": "no-cache"})

    async def me(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        return _private({"key": request[KEY_NAME], "role": viewer.role,
                         "agent_id": viewer.agent_id, "queues": sorted(viewer.queues)})

    async def board_answer(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        now = clock()
        answer = await read(lambda conn: board(conn, viewer, book))
        return _private({"now": now.isoformat(), "poll_seconds": BOARD_POLL_SECONDS,
                         "total": answer.total,
                         "tickets": [t.as_json() for t in answer.tickets]})

    async def trends_answer(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        days = _days(request.query.get("days"))
        last = clock().astimezone(UTC).date()
        first = last - timedelta(days=days - 1)
        lines = await read(lambda conn: trends(conn, viewer, first, last))
        return _private({"first_day": first.isoformat(), "last_day": last.isoformat(),
                         "days": [line.as_json() for line in lines]})

    async def workloads_answer(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        state: DeskState | None = None
        if desk is not None:
            try:
                state = await desk()
            except Exception as exc:  # availability falls back to the policy's
                log.warning("dashboard.desk_unreadable", error=type(exc).__name__)
        loads = await read(lambda conn: workloads(conn, viewer, assignment_policy, state))
        return _private({"agents": [load.as_json() for load in loads]})

    async def compare_answer(request: web.Request) -> web.Response:
        viewer = request[VIEWER]
        query = request.query
        try:
            until = _date(query["until"]) if query.get("until") else None
            before, after = periods(_date(query.get("before")), _date(query.get("after")),
                                    until)
            pilot = int(query["pilot"]) if query.get("pilot") else None
        except ValueError as exc:
            raise _Refusal(400, "bad_request", str(exc)) from None
        old, new = await read(lambda conn: compare(conn, before, after, pilot,
                                                   where=may_see_ticket(viewer)))
        return _private(comparison_json(before, after, old, new, pilot))

    async def ticket_answer(request: web.Request) -> web.Response:
        """The "open ticket" form: team leads and admins; same origin only (a cookie)."""
        viewer = request[VIEWER]
        if viewer.role not in ("team_lead", "admin"):
            raise _Refusal(403, "forbidden", "only team leads and admins open tickets")
        if not _same_origin(request):
            raise _Refusal(403, "forbidden", "cross-site request refused")
        if open_ticket is None:
            raise _Refusal(404, "not_found", "opening tickets is not available here")
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            said = await open_ticket(fields, f"dashboard:{request[KEY_NAME]}")
        except TelecaseError as exc:
            raise _Refusal(400, "bad_request", str(exc)) from None
        log.info("dashboard.ticket_opened", key=request[KEY_NAME],
                 mode=fields.get("mode", "outreach"))
        return _private({"result": said})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def root(_: web.Request) -> web.Response:
        return _see_other("/dashboard")

    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)
    app.router.add_get("/", root)
    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/", page)
    app.router.add_get("/dashboard/login", login_form)
    app.router.add_post("/dashboard/login", login)
    app.router.add_post("/dashboard/logout", logout)
    app.router.add_get("/dashboard/static/{name}", static)
    app.router.add_get("/dashboard/healthz", healthz)
    app.router.add_get("/dashboard/api/me", me)
    app.router.add_get("/dashboard/api/board", board_answer)
    app.router.add_get("/dashboard/api/trends", trends_answer)
    app.router.add_get("/dashboard/api/workloads", workloads_answer)
    app.router.add_get("/dashboard/api/compare", compare_answer)
    app.router.add_post("/dashboard/api/tickets", ticket_answer)
    return app


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP})


def _private(payload: dict[str, Any]) -> web.Response:
    return web.json_response(payload, headers={"Cache-Control": "no-store"})


def _secure_headers(response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Not "no-referrer": with it, browsers send "Origin: null" on a form's POST.
    response.headers.setdefault("Referrer-Policy", "same-origin")


def _login_page(template: Template, error: str) -> str:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return template.safe_substitute(error=message)


def _https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _same_origin(request: web.Request) -> bool:
    """A browser names the page a POST comes from (``Origin``); it must be this host. (A
    request without one is not a browser's cross-site form.)"""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _route(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def _date(text: str | None) -> date:
    """A UTC day (``YYYY-MM-DD``); ``ValueError`` naming what is wrong."""
    if not text:
        raise ValueError("before and after are required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _days(text: str | None) -> int:
    if text is None:
        return DEFAULT_DAYS
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise _Refusal(400, "bad_request", f"days must be 1 to {MAX_DAYS}")
    return int(text)
