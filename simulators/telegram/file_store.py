"""The files a simulated Telegram holds: what ``getFile`` describes and ``/file/bot<token>/``
serves.

Every file has a ``file_id`` (what a bot passes back to Telegram) and a ``file_unique_id``
(the same file for every bot, "can't be used to download or reuse the file"), a size, and,
once a bot asked ``getFile``, a ``file_path`` under a folder named by its kind
(``photos/file_3.jpg``, ``documents/file_4.pdf``: the shape of real Bot API paths; Bot API,
"File", https://core.telegram.org/bots/api#file). A file may exist without content (``size``
given, bytes not): a big file whose download a test never reaches.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass

FOLDERS = {"photo": "photos", "document": "documents", "video": "videos", "voice": "voice",
           "audio": "music", "sticker": "stickers", "animation": "animations",
           "video_note": "video_notes"}


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    content: bytes | None
    size: int
    extension: str
    file_path: str | None = None

    def describe(self) -> dict[str, object]:
        """The Bot API ``File`` object (``getFile``'s answer)."""
        out: dict[str, object] = {"file_id": self.file_id,
                                  "file_unique_id": self.file_unique_id,
                                  "file_size": self.size}
        if self.file_path is not None:
            out["file_path"] = self.file_path
        return out


class FileStore:
    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._count = 0

    def add(self, kind: str, content: bytes | None, *, size: int | None = None,
            mime_type: str | None = None, file_name: str | None = None) -> StoredFile:
        """A new file; ``size`` defaults to the content's length."""
        self._count += 1
        digest = hashlib.sha256(str(self._count).encode() + (content or b"")).hexdigest()
        ext = (file_name.rsplit(".", 1)[-1] if file_name and "." in file_name
               else (mimetypes.guess_extension(mime_type or "") or ".bin").lstrip("."))
        stored = StoredFile(file_id=f"{kind[:3].upper()}{self._count:04d}-{digest[:24]}",
                            file_unique_id=f"AQAD{digest[:12]}", kind=kind, content=content,
                            size=size if size is not None else len(content or b""), extension=ext)
        self.by_id[stored.file_id] = stored
        return stored

    def path_of(self, stored: StoredFile) -> str:
        """The file's download path (made at the first ``getFile``)."""
        if stored.file_path is None:
            folder = FOLDERS.get(stored.kind, "documents")
            stored.file_path = f"{folder}/file_{len(self.by_path)}.{stored.extension}"
            self.by_path[stored.file_path] = stored
        return stored.file_path
