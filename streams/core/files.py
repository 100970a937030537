"""The file a customer's message carries, as the ticket keeps it (pure).

Telegram gives each kind of file its own field on a Message (Bot API, "Message":
``photo`` is an array of PhotoSize, the largest last; ``document``, ``video``, ``voice``,
``audio``, ``sticker`` are one object each, with ``file_id``, ``file_unique_id``, and where the
kind has them ``file_name``, ``mime_type`` and ``file_size``; https://core.telegram.org/bots/api#message).
:func:`attachment_of` reads them into an :class:`~streams.schema.events.Attachment`. A sticker
is kept only when it is a still image (``is_animated`` and ``is_video`` false: a WEBP,
https://core.telegram.org/bots/api#sticker); an animated one is not a file an agent can open.
"""

from __future__ import annotations

from typing import Any

from streams.schema.events import Attachment
from streams.schema.telegram import Message

FILE_KINDS: tuple[str, ...] = ("photo", "document", "video", "voice", "audio", "sticker")
"""The kinds of file a ticket keeps, in the order a message is looked at."""

_DEFAULT_MIME = {"photo": "image/jpeg", "sticker": "image/webp", "voice": "audio/ogg"}
"""What Telegram sends these as when it names no MIME type (photos are JPEG, still stickers
WEBP, voice notes OGG/Opus: Bot API "PhotoSize", "Sticker", "Voice")."""


def attachment_of(message: Message) -> Attachment | None:
    """The file ``message`` carries, or ``None`` (text, a contact, an animated sticker...)."""
    extra = message.model_extra or {}
    for kind in FILE_KINDS:
        value = extra.get(kind)
        if kind == "photo" and isinstance(value, list) and value:
            value = value[-1]  # the largest size
        if not isinstance(value, dict) or not _is_file(kind, value):
            continue
        return Attachment(kind=kind, file_id=str(value["file_id"]),
                          file_unique_id=str(value["file_unique_id"]),
                          file_name=_text(value.get("file_name")),
                          mime_type=_text(value.get("mime_type")) or _DEFAULT_MIME.get(kind),
                          file_size=_size(value.get("file_size")))
    return None


def _is_file(kind: str, value: dict[str, Any]) -> bool:
    if not value.get("file_id") or not value.get("file_unique_id"):
        return False
    return kind != "sticker" or not (value.get("is_animated") or value.get("is_video"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
