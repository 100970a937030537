"""The Bot API's envelope, authentication, routing and parameter spellings."""

from __future__ import annotations

import httpx

from simulators.telegram import BotApiSimulator, SimulatorDriver
from tests.simulators.telegram.conftest import TOKEN, BotApi


async def test_get_me_returns_the_bot_whose_id_is_the_token_prefix(api: BotApi) -> None:
    me = await api.result("getMe")
    assert me["id"] == int(TOKEN.split(":")[0])
    assert me["is_bot"] is True
    assert me["username"]


async def test_a_wrong_token_is_401_unauthorized(sim: BotApiSimulator) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sim.base_url}/bot1:wrong/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_an_unknown_method_or_path_is_404_not_found(sim: BotApiSimulator) -> None:
    async with httpx.AsyncClient() as client:
        unknown_method = await client.post(f"{sim.api_url}/sendTelepathy")
        unknown_path = await client.get(f"{sim.base_url}/favicon.ico")
    for response in (unknown_method, unknown_path):
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_method_names_are_case_insensitive(api: BotApi) -> None:
    assert (await api.result("GETME"))["is_bot"] is True


async def test_parameters_may_be_form_encoded_or_in_the_query_string(
        sim: BotApiSimulator, api: BotApi) -> None:
    async with httpx.AsyncClient(base_url=sim.api_url) as client:
        form = await client.post("/setWebhook", data={
            "url": "http://127.0.0.1:9/hook", "max_connections": "5",
            "allowed_updates": '["message"]'})
        info = (await client.get("/getWebhookInfo")).json()["result"]
        query = await client.get("/deleteWebhook", params={"drop_pending_updates": "true"})
    assert form.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert info["max_connections"] == 5
    assert info["allowed_updates"] == ["message"]
    assert query.json()["description"] == "Webhook was deleted"


async def test_a_broken_json_body_is_a_bad_request(sim: BotApiSimulator) -> None:
    async with httpx.AsyncClient(base_url=sim.api_url) as client:
        response = await client.post("/getUpdates", content=b"{nope",
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request:")


async def test_dates_come_from_the_injected_wall_clock() -> None:
    async with BotApiSimulator(TOKEN, wall_clock=lambda: 1_700_000_000.7) as simulator, \
            SimulatorDriver(simulator.base_url) as tg:
        ann = await tg.create_user("Ann")
        said = await tg.write(ann["id"], ann["id"], "hi")
    assert (said.message or {})["date"] == 1_700_000_000


async def test_a_stopped_simulator_can_start_again_with_its_state(
        sim: BotApiSimulator, tg: SimulatorDriver, api: BotApi) -> None:
    ann = await tg.create_user("Ann")
    said = await tg.write(ann["id"], ann["id"], "hi")
    await sim.stop()
    await sim.start()
    assert [u["update_id"] for u in await api.result("getUpdates", timeout=1)] == [
        said.update_id]
