"""The audit HTTP API over a real server on a free port: keys, roles, personal data, errors,
the request counter and the logs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from sqlalchemy import create_engine

from telecase.web.audit_api import KeysFile, KeysFileError, create_audit_app, key_sha256, load_keys
from tests.adapters.audit.fixtures import CUSTOMER, POLICY, SECRET_BODY, SUBJECT, T0, fill

KEYS: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (key, table)
    "ops": ("admin-key-0123456789", {"role": "admin"}),
    "ops-nopii": ("admin-key-nopii", {"role": "admin", "pii": False}),
    "ann": ("ann-key-abcdef", {"role": "agent", "agent_id": "ann"}),
    "lea": ("lea-key-abcdef", {"role": "team_lead", "agent_id": "lea"}),
    "tom": ("tom-key-abcdef", {"role": "team_lead", "agent_id": "tom", "pii": False}),
}


def keys_toml(keys: dict[str, tuple[str, dict[str, Any]]]) -> str:
    lines = []
    for name, (key, table) in keys.items():
        lines.append(f"[keys.{name}]")
        lines.append(f'key_sha256 = "{key_sha256(key)}"')
        for field, value in table.items():
            lines.append(f"{field} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    engine = create_engine(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    fill(engine)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(keys_toml(KEYS))
    keys = KeysFile(keys_file, POLICY)
    app = create_audit_app(engine, keys.current, POLICY, clock=lambda: T0 + timedelta(hours=2))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        yield c
    engine.dispose()


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("telecase_audit_api_requests_total",
                                     {"outcome": outcome}) or 0.0


async def get(client: TestClient, path: str, who: str | None,  # type: ignore[type-arg]
              **params: str) -> tuple[int, Any, Any]:
    response = await client.get(path, headers=bearer(who) if who else {}, params=params)
    return response.status, await response.json(), response.headers


async def test_healthz_needs_no_key(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await get(client, "/v1/healthz", None))[:2] == (200, {"ok": True})


@pytest.mark.parametrize("header", [None, "Bearer ", "Bearer not-a-key", "Basic " + "x" * 20,
                                    f"Token {KEYS['ops'][0]}", KEYS["ops"][0],
                                    f"Bearer {key_sha256(KEYS['ops'][0])}"])
async def test_no_key_or_a_wrong_key_is_401(client: TestClient,  # type: ignore[type-arg]
                                            header: str | None) -> None:
    before = counted("unauthenticated")
    response = await client.get("/v1/tickets/tg:1:t1/audit",
                                headers={} if header is None else {"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert set(body) == {"error"} and body["error"]
    assert counted("unauthenticated") == before + 1


async def test_admin_sees_any_ticket_with_personal_data(
        client: TestClient) -> None:  # type: ignore[type-arg]
    before = counted("ok")
    status, body, headers = await get(client, "/v1/tickets/tg:2:t3/audit", "ops")
    assert status == 200 and body["ticket_id"] == "tg:2:t3"
    assert [e["seq"] for e in body["entries"]] == [1, 2, 3]
    assert body["entries"][1]["body"] == SECRET_BODY
    assert body["entries"][0]["actor_name"] == CUSTOMER
    assert body["entries"][2]["after"] == {"agent_id": "cat"}
    assert body["entries"][0]["occurred_at"] == (T0 + timedelta(minutes=30)).isoformat()
    assert headers["Cache-Control"] == "no-store"
    assert counted("ok") == before + 1


async def test_pii_follows_the_key(client: TestClient) -> None:  # type: ignore[type-arg]
    for who in ("ops-nopii", "tom"):
        status, body, _ = await get(client, "/v1/tickets/tg:2:t3/audit", who)
        assert status == 200
        assert [e["body"] for e in body["entries"]] == [None, None, None]
        assert [e["redacted"] for e in body["entries"]] == [True, True, False]
        assert SECRET_BODY not in json.dumps(body) and CUSTOMER not in json.dumps(body)
        assert SUBJECT not in json.dumps(body)  # neither in after nor in the action
        assert body["entries"][0]["action"] == "ticket opened"
    status, body, _ = await get(client, "/v1/tickets/tg:1:t1/audit", "ann")
    assert body["entries"][1]["body"] == SECRET_BODY
    assert body["entries"][0]["after"]["subject"] == SUBJECT


async def test_an_agent_sees_only_their_tickets(client: TestClient) -> None:  # type: ignore[type-arg]
    status, body, _ = await get(client, "/v1/tickets/tg:1:t1/audit", "ann")
    assert status == 200 and len(body["entries"]) == 6
    before = counted("not_found")
    forbidden = await get(client, "/v1/tickets/tg:1:t2/audit", "ann")
    unknown = await get(client, "/v1/tickets/tg:0:nope/audit", "ann")
    assert forbidden[:2] == unknown[:2] == (404, {"error": "no such ticket"})
    assert counted("not_found") == before + 2


async def test_a_team_lead_sees_their_queues(client: TestClient) -> None:  # type: ignore[type-arg]
    for ticket in ("tg:1:t1", "tg:1:t2", "tg:1:t5"):
        assert (await get(client, f"/v1/tickets/{ticket}/audit", "lea"))[0] == 200
    for ticket in ("tg:2:t3", "tg:3:p:1", "tg:9:t9"):
        assert (await get(client, f"/v1/tickets/{ticket}/audit", "lea"))[0] == 404


async def test_agent_activity(client: TestClient) -> None:  # type: ignore[type-arg]
    status, body, _ = await get(client, "/v1/agents/ann/audit", "ann",
                                since=T0.isoformat())
    assert status == 200
    assert [(e["ticket_id"], e["seq"]) for e in body["entries"]] == [
        ("tg:1:t1", 4), ("tg:1:t1", 5), ("tg:1:t1", 6)]
    assert body["truncated"] is False and body["until"] is None
    status, body, _ = await get(client, "/v1/agents/ann/audit", "ops", since="3h",
                                until=(T0 + timedelta(minutes=53)).isoformat(), limit="2")
    assert status == 200 and body["since"] == (T0 - timedelta(hours=1)).isoformat()
    assert [(e["ticket_id"], e["seq"]) for e in body["entries"]] == [("tg:1:t1", 4),
                                                                     ("tg:1:t1", 5)]
    assert body["truncated"] is True


async def test_an_agent_may_not_see_another_agents_activity(
        client: TestClient) -> None:  # type: ignore[type-arg]
    before = counted("forbidden")
    status, body, _ = await get(client, "/v1/agents/bob/audit", "ann", since="1d")
    assert status == 403 and set(body) == {"error"}
    assert counted("forbidden") == before + 1
    assert (await get(client, "/v1/agents/bob/audit", "lea", since="1d"))[0] == 200


@pytest.mark.parametrize("params", [{}, {"since": "yesterday"}, {"since": "1d", "until": "x"},
                                    {"since": "1d", "limit": "0"},
                                    {"since": "1d", "limit": "many"}])
async def test_bad_parameters_are_400(client: TestClient,  # type: ignore[type-arg]
                                      params: dict[str, str]) -> None:
    status, body, _ = await get(client, "/v1/agents/ann/audit", "ops", **params)
    assert status == 400 and set(body) == {"error"}


async def test_unknown_routes_are_json_404(client: TestClient) -> None:  # type: ignore[type-arg]
    status, body, _ = await get(client, "/v1/nothing", "ops")
    assert status == 404 and set(body) == {"error"}


async def test_logs_carry_neither_keys_nor_bodies(
        client: TestClient) -> None:  # type: ignore[type-arg]
    with structlog.testing.capture_logs() as logs:
        await get(client, "/v1/tickets/tg:1:t1/audit", "ops")
        await get(client, "/v1/tickets/tg:1:t1/audit", "ann")
        await client.get("/v1/tickets/tg:1:t1/audit",
                         headers={"Authorization": "Bearer wrong-key-xyz"})
    requests = [entry for entry in logs if entry["event"] == "audit_api.request"]
    assert [(r["status"], r.get("key")) for r in requests] == [(200, "ops"), (200, "ann"),
                                                               (401, None)]
    assert requests[0]["ticket_id"] == "tg:1:t1" and requests[0]["role"] == "admin"
    text = repr(logs)
    for secret in (SECRET_BODY, "hello alice", CUSTOMER, SUBJECT, "wrong-key-xyz", KEYS["ops"][0],
                   key_sha256(KEYS["ops"][0]), KEYS["ann"][0]):
        assert secret not in text


async def test_an_unreadable_projection_is_503(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")  # no tables
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(keys_toml({"ops": KEYS["ops"]}))
    app = create_audit_app(engine, KeysFile(keys_file, None).current, None)
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as c:
        status, body, _ = await get(c, "/v1/tickets/tg:1:t1/audit", "ops")
    assert status == 503 and body == {"error": "projections unavailable"}
    engine.dispose()


async def test_keys_are_reread_when_the_file_changes(
        client: TestClient, tmp_path: Path) -> None:  # type: ignore[type-arg]
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(keys_toml({"ops": KEYS["ops"]}))  # ann's key revoked
    assert (await get(client, "/v1/tickets/tg:1:t1/audit", "ann"))[0] == 401
    keys_file.write_text("not toml [")  # a broken edit keeps the keys in force
    assert (await get(client, "/v1/tickets/tg:1:t1/audit", "ops"))[0] == 200


def test_the_keys_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(keys_toml({
        "a": ("k0", {"role": "agent"}),
        "f": ("k1", {"role": "admin"}),
        "b": ("k2", {"role": "root"}),
        "c": ("k3", {"role": "team_lead", "agent_id": "zed"}),
        "d": ("k1", {"role": "admin"}),
    }) + '[keys.e]\nkey_sha256 = "abc"\nrole = "admin"\nkey = "plain"\n')
    with pytest.raises(KeysFileError) as error:
        load_keys(path, POLICY)
    message = str(error.value)
    for expected in ("keys.a: role 'agent' needs agent_id", "keys.b.role",
                     "keys.c.agent_id: team lead 'zed'",
                     "keys.d.key_sha256: the same key as keys.f", "keys.e.key_sha256",
                     "keys.e.key"):
        assert expected in message
    with pytest.raises(KeysFileError, match=r"(?i)no such file"):
        load_keys(tmp_path / "missing.toml", POLICY)
