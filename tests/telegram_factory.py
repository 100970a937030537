"""Builds Telegram Bot API updates the way Telegram shapes them, for tests of the core."""

from __future__ import annotations

import itertools
from typing import Any

BOT_ID = 7000000001
BOT = {"id": BOT_ID, "is_bot": True, "first_name": "Desk", "username": "desk_bot"}


def user(uid: int, name: str = "Ann", username: str | None = None) -> dict[str, Any]:
    u: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": name}
    if username:
        u["username"] = username
    return u


def forum(chat_id: int = -1001000000001, title: str = "Sales") -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": title, "is_forum": True}


def private(uid: int) -> dict[str, Any]:
    return {"id": uid, "type": "private", "first_name": "Ann"}


class Script:
    """A chat's history as Telegram would number it: one message id counter per chat."""

    def __init__(self, chat: dict[str, Any], start_update: int = 1000) -> None:
        self.chat = chat
        self._mid = itertools.count(1)
        self._uid = itertools.count(start_update)
        self.creations: dict[int, dict[str, Any]] = {}

    def _update(self, field: str, msg: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(self._uid), field: msg}

    def _msg(self, sender: dict[str, Any], date: int, **extra: Any) -> dict[str, Any]:
        return {"message_id": next(self._mid), "date": date, "chat": self.chat,
                "from": sender, **extra}

    def create_topic(self, sender: dict[str, Any], name: str, date: int) -> dict[str, Any]:
        msg = self._msg(sender, date, forum_topic_created={"name": name, "icon_color": 7322096})
        msg["message_thread_id"] = msg["message_id"]
        msg["is_topic_message"] = True
        self.creations[msg["message_id"]] = msg
        return self._update("message", msg)

    def _in_topic(self, thread: int | None) -> dict[str, Any]:
        if thread is None:
            return {}
        return {"message_thread_id": thread, "is_topic_message": True,
                "reply_to_message": self.creations[thread]}

    def write(self, sender: dict[str, Any], text: str, date: int,
              thread: int | None = None) -> dict[str, Any]:
        return self._update("message", self._msg(sender, date, text=text,
                                                 **self._in_topic(thread)))

    def edit(self, original: dict[str, Any], text: str, edit_date: int) -> dict[str, Any]:
        msg = dict(original["message"], text=text, edit_date=edit_date)
        return self._update("edited_message", msg)

    def service(self, sender: dict[str, Any], thread: int, date: int, kind: str,
                name: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name} if kind == "forum_topic_edited" else {}
        msg = self._msg(sender, date, **{kind: payload})
        msg.update(message_thread_id=thread, is_topic_message=True,
                   reply_to_message=self.creations[thread])
        return self._update("message", msg)
