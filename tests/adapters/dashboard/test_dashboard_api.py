"""The dashboard's HTTP side over a real server on a free port: who may see what (the audit
API's keys and roles), the login and its session cookie, and the JSON the page polls."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, create_engine, insert, update

from projections.dashboard_queries import BoardTicket
from projections.sla_deadlines import Deadlines
from projections.tables import agent_workloads, cases, daily_metrics
from streams.assignment.desk import AgentSeat, DeskState
from telecase.web.audit_api import ApiKey, KeyRing, KeysFile, key_sha256
from telecase.web.dashboard import create_dashboard_app
from telecase.web.server import demo_keys
from telecase.web.sessions import COOKIE, Sessions
from tests import infra
from tests.adapters.audit.fixtures import CURRENT, POLICY, T0, fill
from tests.adapters.audit.test_audit_api import KEYS, keys_toml

NOW = T0 + timedelta(hours=2)
OPEN = set(CURRENT)  # every ticket of the fixture with a cases row is open


def more_rows(engine: Engine) -> None:
    """Breaches on two tickets, workloads and daily counters beside the audit fixture."""
    with engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.ticket_id == "tg:1:t2").values(
            sla_tier="standard", sla_state="breached",
            first_response_breached_at=T0 + timedelta(minutes=40)))
        conn.execute(update(cases).where(cases.c.ticket_id == "tg:2:t3").values(
            sla_tier="standard", sla_state="breached", escalation_level=2,
            resolution_breached_at=T0 + timedelta(minutes=35)))
        conn.execute(insert(agent_workloads), [
            {"agent_id": a, "open_tickets": n, "assigned_total": n + 1, "closed_total": 1,
             "updated_at": T0} for a, n in (("ann", 1), ("bob", 2), ("cat", 1), ("zed", 3))])
        day = T0.date()
        conn.execute(insert(daily_metrics), [
            _counters(day, "", "", tickets_opened=5),
            _counters(day, "sales", "", tickets_routed=3),
            _counters(day, "support", "", tickets_routed=1),
            _counters(day, "sales", "ann", first_responses=2, first_response_seconds_total=120,
                      first_response_seconds_max=90, escalations=1),
            _counters(day, "sales", "bob", sla_breaches=1, resolutions=1,
                      resolution_seconds_total=3600),
            _counters(day, "support", "cat", sla_breaches=1, escalations=2),
            _counters(day - timedelta(days=1), "sales", "ann", first_responses=1,
                      first_response_seconds_total=30, first_response_seconds_max=30),
        ])


COUNTERS = ("tickets_opened", "tickets_routed", "first_responses",
            "first_response_seconds_total", "first_response_seconds_max", "resolutions",
            "resolution_seconds_total", "sla_breaches", "escalations")


def _counters(day: date, queue: str, agent: str, **values: float) -> dict[str, Any]:
    return {"day": day, "queue": queue, "agent_id": agent, **dict.fromkeys(COUNTERS, 0),
            **values}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same rows on SQLite (embedded) and on a fresh PostgreSQL database (Kafka mode)."""
    if request.param == "sqlite":
        e = create_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
        fill(e)
        more_rows(e)
        yield e
        e.dispose()
        return
    with infra.fresh_database(request.getfixturevalue("pg_server")) as url:
        e = create_engine(url)
        fill(e)
        more_rows(e)
        yield e
        e.dispose()


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(keys_toml(KEYS))
    return path


@pytest.fixture
async def client(engine: Engine, keys_file: Path,
                 ) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async def desk() -> DeskState:
        return DeskState(agents={"ann": AgentSeat(availability="away")})

    keys = KeysFile(keys_file, POLICY)
    app = create_dashboard_app(engine, keys.current, sla_policy=None,
                               assignment_policy=POLICY, desk=desk, clock=lambda: NOW)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


async def board_ids(client: TestClient, headers: dict[str, str],  # type: ignore[type-arg]
                    ) -> list[str]:
    response = await client.get("/dashboard/api/board", headers=headers)
    assert response.status == 200, await response.text()
    return [t["ticket_id"] for t in (await response.json())["tickets"]]


# ----------------------------------------------------------------------------- access


@pytest.mark.parametrize("path", ["/dashboard/api/board", "/dashboard/api/trends",
                                  "/dashboard/api/workloads", "/dashboard/api/me"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-key"},
                                     {"Authorization": f"Basic {KEYS['ops'][0]}"},
                                     {"Cookie": f"{COOKIE}=forged.value"}])
async def test_the_api_without_a_valid_key_or_session_is_401(
        client: TestClient, path: str, headers: dict[str, str]) -> None:  # type: ignore[type-arg]
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "tickets" not in await response.json()


async def test_the_page_without_a_session_sends_the_browser_to_the_login_form(
        client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/dashboard", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/dashboard/login")
    form = await client.get("/dashboard/login")
    assert form.status == 200 and 'name="key"' in await form.text()
    assert "script-src 'self'" in form.headers["Content-Security-Policy"]
    health = await client.get("/dashboard/healthz")
    assert (health.status, await health.json()) == (200, {"ok": True})


async def test_the_page_s_scripts_and_style_are_served_from_here(
        client: TestClient) -> None:  # type: ignore[type-arg]
    for name, kind in (("dashboard.js", "text/javascript"), ("charts.js", "text/javascript"),
                       ("dashboard.css", "text/css")):
        response = await client.get(f"/dashboard/static/{name}")
        assert response.status == 200 and response.content_type == kind, name
        assert "http://" not in (await response.text()).replace("http://www.w3.org", "")
    assert (await client.get("/dashboard/static/../dashboard.py")).status == 404
    assert (await client.get("/dashboard/static/index.html")).status == 404


@pytest.mark.parametrize(("who", "expected"), [
    ("ops", OPEN),                                   # admin: every open ticket
    ("lea", {"tg:1:t1", "tg:1:t2", "tg:1:t5"}),      # leads sales (and manages billing)
    ("tom", {"tg:2:t3"}),                            # leads support
    ("ann", {"tg:1:t1"}),                            # an agent: only her own
])
async def test_each_role_sees_its_tickets_on_the_board(
        client: TestClient, who: str, expected: set[str]) -> None:  # type: ignore[type-arg]
    assert set(await board_ids(client, bearer(who))) == expected


async def test_breached_tickets_come_first_longest_breached_first(
        client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/dashboard/api/board", headers=bearer("ops"))
    body = await response.json()
    assert response.headers["Cache-Control"] == "no-store"
    assert body["now"] == NOW.isoformat() and body["total"] == len(OPEN)
    tickets = body["tickets"]
    assert [t["ticket_id"] for t in tickets[:2]] == ["tg:2:t3", "tg:1:t2"]
    assert tickets[0]["breached"] and tickets[0]["escalation_level"] == 2
    assert tickets[0]["breached_at"] == (T0 + timedelta(minutes=35)).isoformat()
    assert not any(t["breached"] for t in tickets[2:])


def test_the_board_orders_by_time_to_breach_after_the_breached() -> None:
    def ticket(name: str, due: datetime | None, breached: datetime | None = None) -> BoardTicket:
        return BoardTicket(name, None, name, "private_chat", "t", "running", None, None, T0,
                           None, breached, None, 0, Deadlines(due, None))

    tickets = [ticket("later", T0 + timedelta(minutes=9)), ticket("none", None),
               ticket("soon", T0 + timedelta(minutes=1)),
               ticket("breached", T0 + timedelta(minutes=5), T0 + timedelta(minutes=3))]
    assert [t.ticket_id for t in sorted(tickets, key=BoardTicket.sort_key)] == [
        "breached", "soon", "later", "none"]
    assert tickets[3].due_at is None  # its first-response target is missed: nothing is next


# ----------------------------------------------------------------------------- the session


async def login(client: TestClient, key: str,  # type: ignore[type-arg]
                **headers: str) -> Any:
    return await client.post("/dashboard/login", data={"key": key}, headers=headers,
                             allow_redirects=False)


async def test_logging_in_gives_an_http_only_strict_cookie_and_the_agent_s_board(
        client: TestClient) -> None:  # type: ignore[type-arg]
    response = await login(client, KEYS["ann"][0], Origin=str(client.make_url("")).rstrip("/"))
    assert (response.status, response.headers["Location"]) == (303, "/dashboard")
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/dashboard" and not cookie["secure"]
    assert KEYS["ann"][0] not in cookie.value
    page = await client.get("/dashboard")  # the client keeps the cookie, like a browser
    assert page.status == 200 and "<table id=\"board\"" in await page.text()
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert set(await board_ids(client, {})) == {"tg:1:t1"}
    me = await (await client.get("/dashboard/api/me")).json()
    assert me == {"key": "ann", "role": "agent", "agent_id": "ann", "queues": []}
    out = await client.post("/dashboard/logout", allow_redirects=False)
    assert (out.status, out.headers["Location"]) == (303, "/dashboard/login")
    assert (await client.get("/dashboard/api/board")).status == 401


async def test_a_wrong_key_is_refused_and_a_cross_site_post_is_forbidden(
        client: TestClient) -> None:  # type: ignore[type-arg]
    wrong = await login(client, "guess")
    assert wrong.status == 401 and "not valid" in await wrong.text()
    assert COOKIE not in wrong.cookies
    forged = await login(client, KEYS["ops"][0], Origin="https://evil.example")
    assert forged.status == 403 and COOKIE not in forged.cookies
    nulled = await login(client, KEYS["ops"][0], Origin="null")
    assert nulled.status == 403


async def test_behind_a_tls_proxy_the_cookie_is_secure(
        client: TestClient) -> None:  # type: ignore[type-arg]
    response = await login(client, KEYS["ops"][0], **{"X-Forwarded-Proto": "https"})
    assert response.cookies[COOKIE]["secure"]


async def test_revoking_the_key_ends_its_sessions(client: TestClient,  # type: ignore[type-arg]
                                                   keys_file: Path) -> None:
    await login(client, KEYS["ann"][0])
    assert (await client.get("/dashboard/api/board")).status == 200
    keys_file.write_text(keys_toml({k: v for k, v in KEYS.items() if k != "ann"}) + "\n# -\n")
    assert (await client.get("/dashboard/api/board")).status == 401


def test_a_session_token_expires_and_cannot_be_altered() -> None:
    sessions = Sessions(b"s" * 32, ttl=timedelta(hours=1))
    ann = ApiKey(key_sha256=key_sha256("k"), role="agent", agent_id="ann")
    ring = KeyRing({"ann": ann, "ops": ApiKey(key_sha256=key_sha256("o"), role="admin")})
    token = sessions.issue("ann", ann, T0)
    assert sessions.verify(token, ring, T0 + timedelta(minutes=59)) == ("ann", ann)
    assert sessions.verify(token, ring, T0 + timedelta(hours=1)) is None
    payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    other = base64.urlsafe_b64encode(json.dumps({**claims, "k": "ops"}).encode()).decode()
    assert sessions.verify(f"{other.rstrip('=')}.{mac}", ring, T0) is None  # now an admin?
    assert Sessions(b"t" * 32).verify(token, ring, T0) is None  # another server's secret
    assert sessions.verify("garbage", ring, T0) is None


# ----------------------------------------------------------------------------- trends, loads


async def trends(client: TestClient, who: str, days: int = 2,  # type: ignore[type-arg]
                 ) -> list[dict[str, Any]]:
    response = await client.get("/dashboard/api/trends", headers=bearer(who),
                                params={"days": str(days)})
    assert response.status == 200
    return list((await response.json())["days"])


async def test_trends_are_by_day_and_follow_the_role(
        client: TestClient) -> None:  # type: ignore[type-arg]
    yesterday, today = await trends(client, "ops")
    assert (yesterday["day"], today["day"]) == (
        (T0.date() - timedelta(days=1)).isoformat(), T0.date().isoformat())
    assert today["volume"] == 5  # every ticket opened
    assert (today["first_responses"], today["first_response_avg_seconds"],
            today["first_response_max_seconds"]) == (2, 60.0, 90.0)
    assert (today["breaches"], today["escalations"], today["resolutions"]) == (2, 3, 1)
    assert today["resolution_avg_seconds"] == 3600.0
    assert yesterday["first_response_avg_seconds"] == 30.0
    lea = (await trends(client, "lea"))[1]  # sales: routed volume, sales agents' counters
    assert (lea["volume"], lea["breaches"], lea["escalations"]) == (3, 1, 1)
    ann = (await trends(client, "ann"))[1]  # her own rows only
    assert (ann["volume"], ann["first_responses"], ann["breaches"], ann["escalations"]) == (
        0, 2, 0, 1)
    assert len(await trends(client, "ops", days=14)) == 14
    for bad in ("0", "91", "x"):
        response = await client.get("/dashboard/api/trends", headers=bearer("ops"),
                                    params={"days": bad})
        assert response.status == 400


async def test_workloads_join_capacity_and_live_availability_and_follow_the_role(
        client: TestClient) -> None:  # type: ignore[type-arg]
    async def agents(who: str) -> dict[str, dict[str, Any]]:
        response = await client.get("/dashboard/api/workloads", headers=bearer(who))
        assert response.status == 200
        return {a["agent_id"]: a for a in (await response.json())["agents"]}

    everyone = await agents("ops")
    assert list(everyone) == ["ann", "bob", "cat", "lea", "max", "tom", "zed"]
    assert everyone["ann"] == {"agent_id": "ann", "name": "Ann", "open_tickets": 1,
                               "capacity": 5, "availability": "away", "queues": ["sales"],
                               "assigned_total": 2, "closed_total": 1}
    assert everyone["bob"]["availability"] == "available"  # the policy's, the desk says none
    assert everyone["zed"]["capacity"] is None  # in the log, not in the policy
    assert set(await agents("lea")) == {"ann", "bob", "lea", "max"}
    assert set(await agents("tom")) == {"cat", "tom"}
    assert set(await agents("ann")) == {"ann"}


# ----------------------------------------------------------------------------- the demo


def test_the_demo_keys_are_written_for_this_user_only(tmp_path: Path) -> None:
    (tmp_path / "dashboard-keys.txt").write_text("old")
    (tmp_path / "dashboard-keys.txt").chmod(0o644)
    ring, path = demo_keys(tmp_path, ["ann", "bo"])
    assert path.stat().st_mode & 0o777 == 0o600
    lines = [line.split() for line in path.read_text().splitlines()
             if not line.startswith("#")]
    assert [(name, role) for name, role, _ in lines] == [
        ("admin", "admin"), ("ann", "agent"), ("bo", "agent")]
    for name, _, key in lines:
        found = ring.find(key)
        assert found is not None and found[0] == name
    assert ring.keys["ann"].viewer(None).agent_id == "ann"
