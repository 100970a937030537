"""Files in the Bot API simulator: a customer's photo or document, ``getFile``, the download
path, and the 20 MB download limit (issue 16 item 6)."""

from __future__ import annotations

from typing import Any

import httpx

from simulators.telegram import BotApiSimulator, SimulatorDriver
from tests.simulators.telegram.conftest import BotApi

PDF = b"%PDF-1.4 a quote\n" * 40


async def _topic(tg: SimulatorDriver, forum: dict[str, Any]) -> tuple[int, int]:
    ann = await tg.create_user("Ann", "ann")
    opened = await tg.open_topic(forum["id"], ann["id"], "Quote")
    return ann["id"], opened.thread_id


async def test_a_document_is_fetched_with_get_file_and_its_path(
        sim: BotApiSimulator, tg: SimulatorDriver, api: BotApi,
        forum: dict[str, Any]) -> None:
    ann, thread = await _topic(tg, forum)
    sent = await tg.send_file(forum["id"], ann, "document", content=PDF, file_name="quote.pdf",
                              mime_type="application/pdf", caption="the quote",
                              message_thread_id=thread)
    assert sent.message is not None
    doc = sent.message["document"]
    assert doc["file_name"] == "quote.pdf" and doc["mime_type"] == "application/pdf"
    assert doc["file_size"] == len(PDF) and sent.message["caption"] == "the quote"
    file = await api.result("getFile", file_id=doc["file_id"])
    assert file["file_unique_id"] == doc["file_unique_id"]
    assert file["file_path"].startswith("documents/") and file["file_path"].endswith(".pdf")
    async with httpx.AsyncClient() as client:
        got = await client.get(f"{sim.base_url}/file/bot{sim.token}/{file['file_path']}")
        wrong = await client.get(f"{sim.base_url}/file/bot1:wrong/{file['file_path']}")
    assert got.status_code == 200 and got.content == PDF
    assert wrong.status_code == 404


async def test_a_photo_comes_in_sizes_the_largest_last(
        tg: SimulatorDriver, api: BotApi, forum: dict[str, Any]) -> None:
    ann, thread = await _topic(tg, forum)
    sent = await tg.send_file(forum["id"], ann, "photo", content=b"\xff\xd8jpeg" * 100,
                              message_thread_id=thread)
    assert sent.message is not None
    sizes = sent.message["photo"]
    assert len(sizes) == 2 and sizes[-1]["width"] > sizes[0]["width"]
    assert len({s["file_unique_id"] for s in sizes}) == 2
    file = await api.result("getFile", file_id=sizes[-1]["file_id"])
    assert file["file_path"].startswith("photos/") and file["file_path"].endswith(".jpg")
    assert file["file_size"] == 600


async def test_get_file_refuses_files_over_20_mb_and_unknown_ids(
        tg: SimulatorDriver, api: BotApi, forum: dict[str, Any]) -> None:
    ann, thread = await _topic(tg, forum)
    sent = await tg.send_file(forum["id"], ann, "video", size=30 * 1024 * 1024,
                              mime_type="video/mp4", message_thread_id=thread)
    assert sent.message is not None
    status, body = await api.call("getFile", file_id=sent.message["video"]["file_id"])
    assert status == 400 and body["description"] == "Bad Request: file is too big"
    status, body = await api.call("getFile", file_id="nope")
    assert status == 400 and body["description"] == "Bad Request: invalid file_id"


async def test_the_bot_sends_a_document_and_a_photo_as_multipart_uploads(
        sim: BotApiSimulator, tg: SimulatorDriver, forum: dict[str, Any]) -> None:
    _, thread = await _topic(tg, forum)
    async with httpx.AsyncClient(base_url=sim.api_url) as client:
        doc = (await client.post("/sendDocument", data={
            "chat_id": str(forum["id"]), "message_thread_id": str(thread),
            "caption": "the contract"},
            files={"document": ("contract.pdf", PDF, "application/pdf")})).json()
        photo = (await client.post("/sendPhoto", data={
            "chat_id": str(forum["id"]), "message_thread_id": str(thread)},
            files={"photo": ("p.jpg", b"\xff\xd8 jpeg", "image/jpeg")})).json()
        again = (await client.post("/sendDocument", json={
            "chat_id": forum["id"], "message_thread_id": thread,
            "document": doc["result"]["document"]["file_id"]})).json()
        unknown = await client.post("/sendDocument", json={"chat_id": forum["id"],
                                                           "document": "nope"})
    assert doc["ok"] and photo["ok"] and again["ok"], (doc, photo, again)
    sent = doc["result"]
    assert sent["message_thread_id"] == thread and sent["caption"] == "the contract"
    assert sent["document"]["file_name"] == "contract.pdf"
    assert sent["document"]["mime_type"] == "application/pdf"
    assert photo["result"]["photo"][-1]["file_size"] == len(b"\xff\xd8 jpeg")
    assert again["result"]["document"]["file_id"] == sent["document"]["file_id"]
    assert unknown.status_code == 400 and unknown.json()["description"] == (
        "Bad Request: wrong file identifier/HTTP URL specified")
    stored = sim.sim.world_files.by_id[sent["document"]["file_id"]]
    assert stored.content == PDF
