"""An agent's File into the ticket's thread: which send, with what (issue 16 item 6).

A File up to the limit is downloaded from Salesforce (:class:`FileDownloads`, the ContentVersion's
``VersionData``) and uploaded as ``multipart/form-data``: ``sendPhoto`` for an image Telegram
shows as a photo (JPEG, PNG, WEBP up to 10 MB), else ``sendDocument``. Bots "can currently send
files of any type of up to 50 MB in size" (Bot API, ``sendDocument``; "Sending files": 10 MB
max for photos, 50 MB for other files, https://core.telegram.org/bots/api#sending-files), so
the limit is the smaller of that and ``TELECASE_FILES_MAX_BYTES``. A bigger File, a link File
(no bytes), or no way to download becomes a message naming the file
(:func:`~connectors.telegram.reply_mirror.plan.too_big_text`).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.telegram.reply_mirror.plan import FilePart, too_big_text

UPLOAD_MAX_BYTES = 50 * 1024 * 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = frozenset({"JPG", "JPEG", "PNG", "WEBP"})
"""Salesforce ``FileType`` s sent with ``sendPhoto``."""


class FileDownloads(Protocol):
    """Where a File's bytes come from (``connectors.salesforce.version_data``)."""

    async def version_data(self, version_id: str) -> bytes: ...


@dataclass(frozen=True)
class FileSend:
    """One send: ``method`` with ``content`` (its parameters, the upload under ``files``), or
    ``sendMessage`` with ``text``."""

    method: str
    text: str
    content: dict[str, Any] | None = None


def upload_limit(max_bytes: int | None) -> int:
    return UPLOAD_MAX_BYTES if max_bytes is None else min(max_bytes, UPLOAD_MAX_BYTES)


async def file_send(item: FilePart, files: FileDownloads | None,
                    max_bytes: int | None) -> FileSend:
    """The send for ``item``; downloads the File when it can travel."""
    event, limit = item.event, upload_limit(max_bytes)
    instead = FileSend("sendMessage", too_big_text(event))
    if files is None or event.file_type == "LINK" or (event.file_size or 0) > limit:
        return instead
    data = await files.version_data(event.version_id)
    if len(data) > limit or not data:
        return instead
    photo = event.file_type in PHOTO_TYPES and len(data) <= PHOTO_MAX_BYTES
    name = event.file_name
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    field = "photo" if photo else "document"
    return FileSend("sendPhoto" if photo else "sendDocument", item.text,
                    {"caption": item.text, "files": {field: (name, data, mime)}})


__all__ = ["PHOTO_MAX_BYTES", "UPLOAD_MAX_BYTES", "FileDownloads", "FileSend", "file_send",
           "upload_limit"]
