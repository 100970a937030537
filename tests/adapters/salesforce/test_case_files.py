"""Customers' files on the Case (``connectors.salesforce.files``): copied as Files once
through the durable ledger, linked when too big, waiting for their Case (issue 16 item 6)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.salesforce.files import (
    CaseFiles,
    CasePending,
    FilePolicy,
    MemoryFileLedger,
    SqlFileLedger,
)
from connectors.telegram.bot_api import BadRequest
from connectors.telegram.files import DOWNLOAD_MAX_BYTES, Fetched
from connectors.telegram.ledger import make_ledger_engine
from streams.schema.events import (
    Actor,
    Attachment,
    Customer,
    CustomerMessageReceived,
    SourceRef,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
FORUM = -1001234567890
PDF = b"%PDF-1.4 quote"
JPEG = b"\xff\xd8\xff jpeg"


class FakeApi:
    def __init__(self, cases: dict[str, str]) -> None:
        self.cases = cases
        self.created: list[dict[str, Any]] = []

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]:
        return [[{"Id": case, "Telecase_Ticket_Id__c": ticket}
                 for ticket, case in self.cases.items() if f"'{ticket}'" in soql]
                for soql in soqls]

    def create_collection(self, sobject: str, records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]:
        assert sobject == "ContentVersion"
        self.created.extend(records)
        return [{"success": True, "id": f"068{len(self.created):015d}"} for _ in records]


class FakeFiles:
    def __init__(self, content: dict[str, bytes]) -> None:
        self.content = content
        self.fetched: list[str] = []

    async def fetch(self, file_id: str, max_bytes: int = DOWNLOAD_MAX_BYTES) -> Fetched:
        self.fetched.append(file_id)
        data = self.content[file_id]
        return Fetched(data if len(data) <= max_bytes else None, len(data), "documents/x")


def received(ticket: str, message_id: int, attachment: Attachment | None, *,
             chat_id: int = FORUM, at: datetime = NOW) -> CustomerMessageReceived:
    return CustomerMessageReceived(
        event_id=f"e-{ticket}-{message_id}", ticket_id=ticket, seq=message_id,
        occurred_at=at, recorded_at=at,
        source=SourceRef(kind="telegram", chat_id=chat_id, message_id=message_id),
        actor=Actor(kind="customer"), message_id=message_id,
        sender=Customer(telegram_user_id=11, username="ann", first_name="Ann"), text="",
        content_kind=attachment.kind if attachment else "text", message_version=0,
        reply_to_message_id=None, attachment=attachment)


PHOTO = Attachment(kind="photo", file_id="ph", file_unique_id="u-ph", mime_type="image/jpeg",
                   file_size=len(JPEG))
DOC = Attachment(kind="document", file_id="doc", file_unique_id="u-doc",
                 file_name="quote.pdf", mime_type="application/pdf", file_size=len(PDF))


async def test_a_photo_and_a_pdf_become_files_on_the_case_once_across_a_restart(
        tmp_path: Path) -> None:
    engine = make_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = SqlFileLedger(engine)
    ledger.create()
    api, source = FakeApi({"t1": "500000000000001AAA"}), FakeFiles({"ph": JPEG, "doc": PDF})
    events = [received("t1", 5, PHOTO), received("t1", 6, None), received("t1", 7, DOC)]
    done = await CaseFiles(api, source, ledger).attach(events, now=NOW)
    assert done == {"t1/u-ph": "copied", "t1/u-doc": "copied"}
    photo, pdf = api.created
    assert photo["FirstPublishLocationId"] == pdf["FirstPublishLocationId"] == \
        "500000000000001AAA"
    assert photo["PathOnClient"] == "photo-5.jpg" and base64.b64decode(
        photo["VersionData"]) == JPEG
    assert pdf["Title"] == "quote.pdf" and base64.b64decode(pdf["VersionData"]) == PDF
    restarted = SqlFileLedger(make_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}"))
    restarted.create()
    again = await CaseFiles(api, source, restarted).attach(events, now=NOW)
    assert again == {} and len(api.created) == 2 and source.fetched == ["ph", "doc"]


async def test_a_file_over_the_limit_is_linked_not_lost() -> None:
    api, source = FakeApi({"t1": "500A", "t2": "500B"}), FakeFiles({"doc": PDF})
    big = Attachment(kind="video", file_id="vid", file_unique_id="u-vid",
                     mime_type="video/mp4", file_size=DOWNLOAD_MAX_BYTES + 1)
    files = CaseFiles(api, source, MemoryFileLedger(), policy=FilePolicy(max_bytes=5))
    unsized = DOC.model_copy(update={"file_size": None})
    done = await files.attach([received("t1", 9, big), received("t2", 3, unsized, chat_id=11)],
                              now=NOW)
    assert done == {"t1/u-vid": "linked", "t2/u-doc": "linked"}
    link, note = api.created
    assert link["ContentUrl"] == "https://t.me/c/1234567890/9" and "VersionData" not in link
    assert source.fetched == ["doc"]  # the video's own size said too big: never fetched
    assert note["PathOnClient"] == "quote.pdf.txt"  # a private chat has no link: a note
    assert b"too big" in base64.b64decode(note["VersionData"])


async def test_a_file_waits_for_its_case_then_is_given_up() -> None:
    api, source = FakeApi({}), FakeFiles({"doc": PDF})
    files = CaseFiles(api, source, MemoryFileLedger())
    with pytest.raises(CasePending):
        await files.attach([received("t9", 1, DOC)], now=NOW)
    later = NOW + timedelta(hours=1)
    assert await files.attach([received("t9", 1, DOC)], now=later) == {}
    api.cases["t9"] = "500C"
    assert await files.attach([received("t9", 1, DOC)], now=later) == {"t9/u-doc": "copied"}


async def test_only_the_kinds_in_the_settings_travel() -> None:
    api, source = FakeApi({"t1": "500A"}), FakeFiles({"ph": JPEG, "doc": PDF})
    files = CaseFiles(api, source, MemoryFileLedger(),
                      policy=FilePolicy(kinds=frozenset({"document"})))
    assert await files.attach([received("t1", 1, PHOTO), received("t1", 2, DOC)],
                              now=NOW) == {"t1/u-doc": "copied"}


class RefusingFiles:
    async def fetch(self, file_id: str, max_bytes: int = DOWNLOAD_MAX_BYTES) -> Fetched:
        raise BadRequest(400, "Bad Request: file is too big")


async def test_a_file_telegram_refuses_to_hand_over_is_linked() -> None:
    api = FakeApi({"t1": "500A"})
    unsized = DOC.model_copy(update={"file_size": None})
    done = await CaseFiles(api, RefusingFiles(), MemoryFileLedger()).attach(
        [received("t1", 4, unsized)], now=NOW)
    assert done == {"t1/u-doc": "linked"}
    assert api.created[0]["ContentUrl"] == "https://t.me/c/1234567890/4"
