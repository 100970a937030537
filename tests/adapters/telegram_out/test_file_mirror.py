"""An agent's File on the Case reaches the customer's thread through the reply mirror
(issue 16 item 6): uploaded with sendPhoto/sendDocument to the Telegram simulator, recorded in
the delivery ledger, sent once across a restart; too big for Telegram, a message names it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from streams.schema.events import Actor, Agent, AgentFileShared, SourceRef
from tests.adapters.telegram_out.conftest import T0, TOKEN, Harness, opened

PDF = b"%PDF-1.4 the price list"
PNG = b"\x89PNG\r\n\x1a\n a screenshot"


class Downloads:
    """Salesforce's ``VersionData`` by ContentVersion id."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.calls = files, 0

    async def version_data(self, version_id: str) -> bytes:
        self.calls += 1
        return self.files[version_id]


def shared(ticket_id: str, seq: int, chat_id: int, thread_id: int | None, version: str,
           title: str, ext: str, kind: str, size: int) -> AgentFileShared:
    at = T0 + timedelta(seconds=seq)
    return AgentFileShared(
        event_id=f"{ticket_id}#{seq}", ticket_id=ticket_id, seq=seq, occurred_at=at,
        recorded_at=at, source=SourceRef(kind="salesforce", change_id=f"file:{version}"),
        actor=Actor(kind="agent", id="005A"), chat_id=chat_id, thread_id=thread_id,
        agent=Agent(salesforce_user_id="005A", display_name="Alice"), case_id="500A",
        version_id=version, title=title, file_extension=ext, file_type=kind, file_size=size)


async def downloaded(h: Harness, file_id: str) -> bytes:
    path = (await h.api.call("getFile", file_id=file_id))["file_path"]
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{h.sim.base_url}/file/bot{TOKEN}/{path}")).content


async def test_an_agents_files_reach_the_thread_once_across_a_restart(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await h.tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    ticket = f"tg:{forum['id']}:t{thread}"
    files = Downloads({"068A": PDF, "068B": PNG})
    await h.append(opened(ticket, forum["id"], thread),
                   shared(ticket, 2, forum["id"], thread, "068A", "prices", "pdf", "PDF",
                          len(PDF)),
                   shared(ticket, 3, forum["id"], thread, "068B", "screen", "png", "PNG",
                          len(PNG)))
    mirror = h.start(files=files)
    await h.wait(lambda: mirror.stats.sent == 2 and mirror.pending == 0)
    await h.stop()
    again = h.start(files=files, group="telegram-mirror-rebuilt")  # re-reads everything
    await h.wait(lambda: again.stats.already_delivered == 2)
    await h.stop()
    sent = await h.sent(forum["id"])
    assert [(m["message_thread_id"], m["text"], m["file"]["kind"]) for m in sent] == [
        (thread, "Alice: prices.pdf", "document"), (thread, "Alice: screen.png", "photo")]
    assert sent[0]["message"]["document"]["file_name"] == "prices.pdf"
    assert [await downloaded(h, m["file"]["file_id"]) for m in sent] == [PDF, PNG]
    assert sorted(d.event_id for d in h.ledger.deliveries()) == [f"{ticket}#2", f"{ticket}#3"]
    assert files.calls == 2 and again.stats.sent == 0


async def test_a_file_over_the_limit_or_a_link_is_named_in_a_message(
        h: Harness, forum: dict[str, Any], ann: dict[str, Any]) -> None:
    thread = (await h.tg.open_topic(forum["id"], ann["id"], "Pricing")).thread_id
    ticket = f"tg:{forum['id']}:t{thread}"
    files = Downloads({"068A": PDF})
    await h.append(shared(ticket, 2, forum["id"], thread, "068A", "prices", "pdf", "PDF",
                          60 * 1024 * 1024),
                   shared(ticket, 3, forum["id"], thread, "068L", "https://x.example/a",
                          "", "LINK", 0))
    mirror = h.start(files=files, files_max_bytes=1024 * 1024 * 1024)
    await h.wait(lambda: mirror.stats.sent == 2 and mirror.pending == 0)
    texts = [m["text"] for m in await h.sent(forum["id"])]
    assert texts[0].startswith("Alice: prices.pdf (60.0 MB)\nThis file cannot be sent here")
    assert texts[1].startswith("Alice: https://x.example/a\n")
    assert files.calls == 0 and all("file" not in m or m["file"] is None
                                    for m in await h.sent(forum["id"]))
