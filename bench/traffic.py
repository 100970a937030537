"""Synthetic Telegram traffic for benchmarks: updates shaped as the Bot API sends them.

A forum's message ids start at 2, as the simulator's do: id 1 is the General topic's
(``message_thread_id=1`` never names a created topic in a real forum).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

FORUM_BASE = -1002000000000


class ForumTraffic:
    """Forum supergroups with topics; each topic created by a customer, then messages in it.

    ``topic_messages(topics, per_topic)`` interleaves the topics like a busy desk would.
    ``fresh_tickets()`` yields one brand-new topic at a time: the pair (its
    ``forum_topic_created`` update, its first message), to be delivered in that order.
    """

    def __init__(self, chat_id: int = FORUM_BASE, start_update: int = 1) -> None:
        self.chat = {"id": chat_id, "type": "supergroup", "title": "Sales desk", "is_forum": True}
        self._update_ids = itertools.count(start_update)
        self._message_ids = itertools.count(2)  # 1 is the General topic's id
        self._creations: dict[int, dict[str, Any]] = {}
        self.date = 1_790_000_000

    def _customer(self, n: int) -> dict[str, Any]:
        return {"id": 500_000 + n, "is_bot": False, "first_name": f"Prospect {n}",
                "username": f"prospect{n}", "language_code": "en"}

    def create_topic(self, n: int) -> dict[str, Any]:
        mid = next(self._message_ids)
        msg = {"message_id": mid, "message_thread_id": mid, "is_topic_message": True,
               "date": self.date, "chat": self.chat, "from": self._customer(n),
               "forum_topic_created": {"name": f"Inquiry {n}", "icon_color": 7322096}}
        self._creations[n] = msg
        return {"update_id": next(self._update_ids), "message": msg}

    def write(self, n: int, text: str) -> dict[str, Any]:
        creation = self._creations[n]
        msg = {"message_id": next(self._message_ids),
               "message_thread_id": creation["message_id"], "is_topic_message": True,
               "date": self.date, "chat": self.chat, "from": self._customer(n),
               "reply_to_message": creation, "text": text}
        return {"update_id": next(self._update_ids), "message": msg}

    def topic_messages(self, topics: int, per_topic: int) -> list[dict[str, Any]]:
        out = [self.create_topic(n) for n in range(topics)]
        for i in range(per_topic):
            out.extend(self.write(n, f"question {i} about pricing and seats")
                       for n in range(topics))
        return out

    def fresh_tickets(self, start: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for n in itertools.count(start):
            yield self.create_topic(n), self.write(n, "hello, is anyone there?")


async def post_ticket(session: aiohttp.ClientSession, url: str,
                      ticket: tuple[dict[str, Any], dict[str, Any]]) -> aiohttp.ClientResponse:
    """POST a fresh ticket's two updates to a webhook, creation first; the message's
    response (the creation's is released)."""
    created, said = ticket
    (await session.post(url, json=created)).release()
    return await session.post(url, json=said)
