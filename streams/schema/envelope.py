"""What the Telegram connector writes to ``telegram.updates``: the update, untouched, plus
when and how it arrived.

The key of each record is :func:`routing_key` of the update, so all updates of one chat share a
partition and keep their order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

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
