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
