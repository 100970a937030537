"""The dashboard's "Before and after" (issue 17 item 5): ``/dashboard/api/compare`` over a real
server gives, for a generated log folded into the ``cases`` projection, the figures a hand
computation gives (as ``telecase metrics compare`` does), only over the tickets the key may
see; the page carries the panel and its script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from projections.cases import Offset, apply_batch
from projections.db import create_schema, make_engine
from projections.tables import cases
from telecase.web.audit_api import KeysFile
from telecase.web.dashboard import create_dashboard_app
from tests.adapters.audit.fixtures import POLICY
from tests.adapters.audit.test_audit_api import KEYS, keys_toml
from tests.adapters.dashboard.test_dashboard_api import bearer
from tests.adapters.projections.test_metrics_compare import CHATS, START, by_hand, generate

ROLLOUT = START + timedelta(days=10)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Any]]:  # type: ignore[type-arg]
    truths, events = generate()
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    with engine.begin() as conn:
        apply_batch(conn, [(Offset("ticket.events", 0, i), e) for i, e in enumerate(events)],
                    START)
        conn.execute(update(cases).where(cases.c.ticket_id.like("%:t0"))
                     .values(agent_id="ann", queue="sales"))
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(keys_toml(KEYS))
    app = create_dashboard_app(engine, KeysFile(keys_file, POLICY).current, sla_policy=None,
                               assignment_policy=POLICY, clock=lambda: ROLLOUT)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c, truths
    engine.dispose()


async def test_the_comparison_is_the_hand_computed_one(
        client: tuple[TestClient, Any]) -> None:  # type: ignore[type-arg]
    c, truths = client
    for pilot in (None, CHATS[1]):
        query = "before=2026-10-01&after=2026-10-11" + (f"&pilot={pilot}" if pilot else "")
        answer = await c.get(f"/dashboard/api/compare?{query}", headers=bearer("ops"))
        assert answer.status == 200, await answer.text()
        got = await answer.json()
        old = by_hand(truths, START, ROLLOUT, pilot)
        new = by_hand(truths, ROLLOUT, ROLLOUT + timedelta(days=10), pilot)
        assert {k: got["before"][k] for k in old.as_dict()} == old.as_dict()
        assert {k: got["after"][k] for k in new.as_dict()} == new.as_dict()
        assert (got["before"]["start"], got["after"]["end"], got["pilot"]) == (
            "2026-10-01T00:00:00+00:00", "2026-10-21T00:00:00+00:00", pilot)
        assert old.tickets > 10 and new.tickets > 10
    shorter = await c.get("/dashboard/api/compare?before=2026-10-01&after=2026-10-11"
                          "&until=2026-10-12", headers=bearer("ops"))
    got = await shorter.json()
    assert got["after"]["tickets"] == by_hand(truths, ROLLOUT, ROLLOUT + timedelta(days=1),
                                              None).tickets


async def test_an_agent_compares_only_their_own_tickets(
        client: tuple[TestClient, Any]) -> None:  # type: ignore[type-arg]
    c, _ = client
    answer = await c.get("/dashboard/api/compare?before=2026-09-01&after=2026-10-01"
                         "&until=2026-11-01", headers=bearer("ann"))
    got = await answer.json()
    assert (got["before"]["tickets"], got["after"]["tickets"]) == (0, 1)  # ticket t0 only
    lead = await (await c.get("/dashboard/api/compare?before=2026-09-01&after=2026-10-01"
                              "&until=2026-11-01", headers=bearer("lea"))).json()
    assert lead["after"]["tickets"] == 1  # the sales queue's lead sees it
    other = await (await c.get("/dashboard/api/compare?before=2026-09-01&after=2026-10-01"
                               "&until=2026-11-01", headers=bearer("tom"))).json()
    assert other["after"]["tickets"] == 0  # support's lead does not


@pytest.mark.parametrize(("query", "reason"), [
    ("after=2026-10-11", "before and after are required"),
    ("before=2026-10-11&after=2026-10-01", "before must be earlier than after"),
    ("before=2026-10-01&after=2026-10-11&until=2026-10-05", "until must be later"),
    ("before=yesterday&after=2026-10-11", "is not a date"),
    ("before=2026-10-01&after=2026-10-11&pilot=abc", "invalid literal"),
])
async def test_days_that_are_no_period_are_refused(
        client: tuple[TestClient, Any], query: str, reason: str) -> None:  # type: ignore[type-arg]
    c, _ = client
    answer = await c.get(f"/dashboard/api/compare?{query}", headers=bearer("ops"))
    assert answer.status == 400
    assert reason in (await answer.json())["error"]
    assert (await c.get("/dashboard/api/compare?before=2026-10-01&after=2026-10-11")
            ).status == 401


async def test_the_page_has_the_panel_and_its_script(
        client: tuple[TestClient, Any]) -> None:  # type: ignore[type-arg]
    c, _ = client
    page = await (await c.get("/dashboard", headers=bearer("ops"))).text()
    assert 'id="compare-form"' in page and "/dashboard/static/compare.js" in page
    script = await c.get("/dashboard/static/compare.js")
    assert script.status == 200 and "/dashboard/api/compare" in await script.text()
