"""The subset of the Telegram Bot API ``Update`` that telecase reads.

Models are lenient (unknown fields are kept, not rejected) because Telegram adds fields in every
Bot API release; the raw update is stored untouched in ``telegram.updates`` anyway, so these models
only decide what the core looks at. An update is an ``Update`` when it has an integer
``update_id``; anything else is not an update (the webhook answers 400). Numbers carry
Telegram's documented bounds (:mod:`streams.schema.telegram_bounds`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streams.schema.telegram_bounds import Int64, TelegramId, UnixTime


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class User(_Lenient):
    id: TelegramId
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class Chat(_Lenient):
    id: TelegramId
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False


class ForumTopicCreated(_Lenient):
    name: str
    icon_color: Int64 | None = None


class ForumTopicEdited(_Lenient):
    name: str | None = None


class Contact(_Lenient):
    phone_number: str
    user_id: TelegramId | None = None


class Message(_Lenient):
    message_id: Int64
    date: UnixTime
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    sender_chat: Chat | None = None
    message_thread_id: Int64 | None = None
    is_topic_message: bool = False
    reply_to_message: Message | None = None
    edit_date: UnixTime | None = None
    author_signature: str | None = None
    """A channel post's author, or an anonymous group administrator's custom title."""
    text: str | None = None
    caption: str | None = None
    forum_topic_created: ForumTopicCreated | None = None
    forum_topic_edited: ForumTopicEdited | None = None
    forum_topic_closed: dict[str, Any] | None = None
    forum_topic_reopened: dict[str, Any] | None = None
    contact: Contact | None = None

    def content_kind(self) -> str:
        """What the message carries: ``text`` or the first media field present."""
        if self.text is not None:
            return "text"
        if self.contact is not None:
            return "contact"
        extra = self.model_extra or {}
        for kind in ("photo", "document", "video", "voice", "audio", "sticker", "contact",
                     "location", "animation", "video_note", "poll", "venue"):
            if kind in extra:
                return kind
        return "other"


class Update(_Lenient):
    update_id: Int64
    message: Message | None = None
    edited_message: Message | None = None

    def update_type(self) -> str:
        """The name of the one optional field that is set (``message``, ``callback_query``...)."""
        if self.message is not None:
            return "message"
        if self.edited_message is not None:
            return "edited_message"
        extra = self.model_extra or {}
        return next(iter(extra), "empty")


def chat_id_of(raw: dict[str, Any]) -> int | None:
    """The chat an update belongs to, read from the raw dict without validating it.

    Used as the partition key of ``telegram.updates`` so every update of one chat (and so of
    every ticket in it) lands in one partition, in order.
    """
    for field in ("message", "edited_message", "channel_post", "edited_channel_post",
                  "business_message", "edited_business_message", "message_reaction",
                  "message_reaction_count", "my_chat_member", "chat_member",
                  "chat_join_request", "chat_boost", "removed_chat_boost"):
        part = raw.get(field)
        if isinstance(part, dict):
            chat = part.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
    callback = raw.get("callback_query")
    if isinstance(callback, dict):
        msg = callback.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("chat"), dict):
            cid = msg["chat"].get("id")
            if isinstance(cid, int):
                return cid
    return None
