"""Files a customer sends: the event keeps what fetches the file (issue 16 item 6)."""

from __future__ import annotations

import json
from typing import Any

from streams.core.files import attachment_of
from streams.schema.events import Attachment, CustomerMessageReceived, decode_event
from streams.schema.telegram import Message
from tests.telegram_factory import Script, private, user
from tests.unit.core.test_issue16_core import _feed

ANN = user(11, "Ann", "ann")
PHOTO = [{"file_id": "small", "file_unique_id": "u-small", "width": 90, "height": 90,
          "file_size": 1_000},
         {"file_id": "big", "file_unique_id": "u-big", "width": 1280, "height": 960,
          "file_size": 120_000}]
PDF = {"file_id": "doc-1", "file_unique_id": "u-doc", "file_name": "quote.pdf",
       "mime_type": "application/pdf", "file_size": 52_000}


def _with(kind: str, value: Any, caption: str | None = None) -> dict[str, Any]:
    update = Script(private(11)).write(ANN, "", 1_000)
    msg = update["message"]
    del msg["text"]
    msg[kind] = value
    if caption is not None:
        msg["caption"] = caption
    return update


def test_a_photo_keeps_its_largest_size_and_a_jpeg_type() -> None:
    [_, received] = [e for e in _feed([_with("photo", PHOTO, "my screen")])
                     if e.type in {"ticket.opened", "customer.message_received"}]
    assert isinstance(received, CustomerMessageReceived)
    assert received.text == "my screen" and received.content_kind == "photo"
    assert received.attachment == Attachment(kind="photo", file_id="big", file_unique_id="u-big",
                                              mime_type="image/jpeg", file_size=120_000)


def test_a_document_keeps_its_name_type_and_size() -> None:
    received = [e for e in _feed([_with("document", PDF)])
                if isinstance(e, CustomerMessageReceived)]
    assert [r.attachment for r in received] == [
        Attachment(kind="document", file_id="doc-1", file_unique_id="u-doc",
                   file_name="quote.pdf", mime_type="application/pdf", file_size=52_000)]


def test_only_still_stickers_and_real_files_are_attachments() -> None:
    sticker = {"file_id": "s", "file_unique_id": "us", "type": "regular", "width": 512,
               "height": 512, "is_animated": False, "is_video": False}
    still = Message.model_validate(_with("sticker", sticker)["message"])
    assert attachment_of(still) == Attachment(kind="sticker", file_id="s", file_unique_id="us",
                                              mime_type="image/webp")
    moving = Message.model_validate(_with("sticker", {**sticker, "is_animated": True})["message"])
    assert attachment_of(moving) is None
    text = Message.model_validate(Script(private(11)).write(ANN, "hi", 1_000)["message"])
    assert attachment_of(text) is None


def test_a_version_1_message_decodes_without_an_attachment() -> None:
    [received] = [e for e in _feed([_with("document", PDF)])
                  if isinstance(e, CustomerMessageReceived)]
    old = json.loads(received.model_dump_json())
    old["version"] = 1
    del old["attachment"]
    decoded = decode_event(old)
    assert isinstance(decoded, CustomerMessageReceived)
    assert decoded.version == 2 and decoded.attachment is None
