"""What the Telegram connector writes to ``telegram.updates``: the update, untouched, plus
when and how it arrived.

The key of each record is :func:`routing_key` of the update, so all updates of one chat share a
partition and keep their order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from streams.schema.telegram import chat_id_of

RawSource = Literal["webhook", "long_polling", "simulator"]


class RawTelegramUpdate(BaseModel):
    """Version 1 of the raw envelope. ``update`` is the JSON object exactly as Telegram sent it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telegram.update"] = "telegram.update"
    version: Literal[1] = 1
    bot_id: int
    source: RawSource
    received_at: datetime
    update: dict[str, Any]

    def routing_key(self) -> str:
        return routing_key(self.update)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def routing_key(update: dict[str, Any]) -> str:
    """Partition key of a raw update: ``chat:<id>``, or ``update:<id>`` when it has no chat."""
    chat_id = chat_id_of(update)
    if chat_id is not None:
        return f"chat:{chat_id}"
    return f"update:{update.get('update_id', 'none')}"


class EncodedUpdate:
    """A raw envelope already in its log encoding, built around the request body's own bytes.

    The webhook receives an Update as JSON; re-serialising it would cost more than the rest of
    the request. When the body is plain UTF-8 JSON, the envelope is written around those exact
    bytes (which is also the most faithful record of what Telegram sent); it decodes as a
    :class:`RawTelegramUpdate` like any other.
    """

    __slots__ = ("_data", "_key")

    def __init__(self, key: str, data: bytes) -> None:
        self._key, self._data = key, data

    @classmethod
    def from_body(cls, *, bot_id: int, source: RawSource, received_at: datetime,
                  body: bytes, update: dict[str, Any]) -> EncodedUpdate | RawTelegramUpdate:
        if body[:3] == b"\xef\xbb\xbf" or not _is_utf8(body):
            return RawTelegramUpdate(bot_id=bot_id, source=source, received_at=received_at,
                                     update=update)
        return cls(routing_key(update), _head(bot_id, source) + _DATETIME.dump_json(received_at)
                   + b',"update":' + body + b"}")

    def routing_key(self) -> str:
        return self._key

    def to_bytes(self) -> bytes:
        return self._data


_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
_SOME_TIME = datetime(2000, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=64)
def _head(bot_id: int, source: RawSource) -> bytes:
    """The envelope's JSON up to its ``received_at`` value, the same for every update of a bot
    and source: made once by the model's own serializer (``received_at`` is its last field
    before ``update``), so each request only adds its time (the same datetime serializer)."""
    head = RawTelegramUpdate.model_construct(bot_id=bot_id, source=source,
                                             received_at=_SOME_TIME, update={})
    whole = head.model_dump_json(exclude={"update"}).encode()
    tail = _DATETIME.dump_json(_SOME_TIME) + b"}"
    if not whole.endswith(tail):
        raise AssertionError("RawTelegramUpdate no longer ends with received_at")
    return whole[:-len(tail)]


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class TopicRecreated(BaseModel):
    """Written to ``telegram.updates`` by the reply mirror when a ticket's forum topic was
    deleted and it created a new one (Telegram's answer to ``createForumTopic``): the worker
    re-links the ticket to ``new_thread_id``, so the customer's messages there continue it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.topic_recreated"] = "telecase.topic_recreated"
    version: Literal[1] = 1
    ticket_id: str
    chat_id: int
    old_thread_id: int
    new_thread_id: int
    name: str
    recreated_at: datetime

    def routing_key(self) -> str:
        return f"chat:{self.chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class TopicChecked(BaseModel):
    """Written to ``telegram.updates`` by reconciliation when a ticket's forum topic was not as
    the log has it: ``found`` ``closed`` (the ticket is open, the topic was closed; ``action``
    ``reopened`` when reconciliation reopened it) or ``missing`` (the topic was deleted). The
    worker records it as a ``topic.reconciled`` event, so the audit trail shows the drift and
    the repair."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.topic_checked"] = "telecase.topic_checked"
    version: Literal[1] = 1
    check_id: str
    ticket_id: str
    chat_id: int
    thread_id: int
    found: Literal["closed", "missing"]
    action: Literal["reopened", "none"]
    detail: str
    checked_at: datetime

    def routing_key(self) -> str:
        return f"chat:{self.chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
