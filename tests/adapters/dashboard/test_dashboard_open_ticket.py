"""The dashboard's "open ticket" form (``POST /dashboard/api/tickets``): team leads and admins
only, same origin only, the form's fields handed to the opener (``telecase.ops.ticket``), a
form that cannot be a ticket answered ``400`` with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine

from telecase.ops.ticket import TicketRequestError
from telecase.web.audit_api import KeysFile
from telecase.web.dashboard import create_dashboard_app
from tests.adapters.audit.fixtures import POLICY
from tests.adapters.audit.test_audit_api import KEYS, keys_toml

Opened = list[tuple[dict[str, str], str]]


@pytest.fixture
async def opened_and_client(tmp_path: Path) -> AsyncIterator[tuple[Opened, TestClient]]:  # type: ignore[type-arg]
    opened: Opened = []

    async def open_ticket(form: Mapping[str, str], by: str) -> str:
        if not form.get("customer") and form.get("mode") != "manual":
            raise TicketRequestError("outreach needs a customer")
        opened.append((dict(form), by))
        return "req-1: appended"

    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(keys_toml(KEYS))
    engine = create_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    app = create_dashboard_app(engine, KeysFile(keys_file, POLICY).current, sla_policy=None,
                               assignment_policy=POLICY, open_ticket=open_ticket)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        yield opened, client
    engine.dispose()


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


async def test_a_team_lead_opens_a_manual_ticket(
        opened_and_client: tuple[Opened, TestClient]) -> None:  # type: ignore[type-arg]
    opened, client = opened_and_client
    form = {"mode": "manual", "customer_name": "Carl", "phone": "+1555", "note": "invoice"}
    response = await client.post("/dashboard/api/tickets", data=form, headers=bearer("lea"))
    assert response.status == 200, await response.text()
    assert (await response.json()) == {"result": "req-1: appended"}
    assert opened == [(form, "dashboard:lea")]


async def test_agents_and_other_sites_are_refused_and_bad_forms_say_why(
        opened_and_client: tuple[Opened, TestClient]) -> None:  # type: ignore[type-arg]
    opened, client = opened_and_client
    agent = await client.post("/dashboard/api/tickets", data={"mode": "manual"},
                              headers=bearer("ann"))
    assert agent.status == 403
    cross = await client.post("/dashboard/api/tickets", data={"mode": "manual"},
                              headers={**bearer("ops"), "Origin": "https://evil.example"})
    assert cross.status == 403
    bad = await client.post("/dashboard/api/tickets", data={"mode": "outreach"},
                            headers=bearer("ops"))
    assert bad.status == 400 and "customer" in (await bad.json())["error"]
    anonymous = await client.post("/dashboard/api/tickets", data={"mode": "manual"})
    assert anonymous.status == 401
    assert opened == []
