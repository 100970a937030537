"""Synthetic Telegram traffic for benchmarks: updates shaped as the Bot API sends them.

A forum's message ids start at 2, as the simulator's do: id 1 is the General topic's
(``message_thread_id=1`` never names a created topic in a real forum).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

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


_TEXT = "Hi @acme_sales, about https://acme.example/pricing for 25 seats: #quote please, urgent"
_ENTITIES = [{"type": kind, "offset": _TEXT.index(part), "length": len(part)}  # ASCII: UTF-16
             for kind, part in (("mention", "@acme_sales"), ("url", "https://acme.example/pricing"),
                                ("hashtag", "#quote"), ("bold", "urgent"))]


class DeskTraffic:
    """Customers writing to a busy desk, each update as full as the Bot API sends it: ``from``
    (with ``language_code``, ``is_premium``), ``chat`` (a forum supergroup with a username),
    ``message_thread_id``, ``is_topic_message``, ``reply_to_message`` (the topic's creation, as
    Telegram attaches it), text with ``entities`` (a mention, a URL, a hashtag, bold).

    ``chats`` forum supergroups with ``topics`` topics each; :meth:`next_update` is the given
    chat's next update, in its order: the first messages of a chat open its topics, the rest
    write in them by turns. Update ids grow across all chats, as one bot's do.
    """


    def __init__(self, chats: int, topics: int = 4, chat_base: int = -1003000000000,
                 start_update: int = 1) -> None:
        self.topics = topics
        self._update_ids = itertools.count(start_update)
        self._chats = [{"id": chat_base - n, "type": "supergroup", "title": f"Acme desk {n}",
                        "username": f"acme_desk_{n}", "is_forum": True} for n in range(chats)]
        self._next_message = [2] * chats  # 1 is the General topic's id
        self._created: list[list[dict[str, Any]]] = [[] for _ in range(chats)]
        self._written = [0] * chats
        self.date = 1_790_000_000

    def _customer(self, chat: int, topic: int) -> dict[str, Any]:
        n = chat * self.topics + topic
        return {"id": 700_000_000 + n, "is_bot": False, "first_name": f"Prospect {n}",
                "last_name": "Doe", "username": f"prospect_{n}", "language_code": "en",
                "is_premium": n % 3 == 0}

    def next_update(self, chat: int) -> dict[str, Any]:
        mid = self._next_message[chat]
        self._next_message[chat] += 1
        created = self._created[chat]
        base = {"message_id": mid, "is_topic_message": True, "date": self.date,
                "chat": self._chats[chat]}
        if len(created) < self.topics:
            topic = len(created)
            msg = {**base, "message_thread_id": mid, "from": self._customer(chat, topic),
                   "forum_topic_created": {"name": f"Inquiry {chat}-{topic}",
                                           "icon_color": 7322096}}
            created.append(msg)
        else:
            topic = self._written[chat] % self.topics
            self._written[chat] += 1
            opening = created[topic]
            text = f"{_TEXT} (message {self._written[chat]})"
            msg = {**base, "message_thread_id": opening["message_id"],
                   "from": self._customer(chat, topic), "reply_to_message": opening,
                   "text": text, "entities": _ENTITIES}
        return {"update_id": next(self._update_ids), "message": msg}
