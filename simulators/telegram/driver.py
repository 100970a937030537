"""A Python client (httpx, async) for the simulator's ``/sim`` endpoints.

Tests, the demo and benchmarks use it to play the people on the Telegram side and to observe
what the bot did::

    async with SimulatorDriver(sim.base_url) as tg:
        ann = await tg.create_user("Ann", username="ann", phone="+15550100")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Pricing question")
        said = await tg.write(forum["id"], ann["id"], "How much?", topic.thread_id)
        said.update_id, said.message["message_thread_id"]

Each action that produces an update returns :class:`Emitted`: the message (when there is
one), the ``update_id`` it was queued as (``None`` when ``allowed_updates`` excluded it) and
the update itself. A refused call raises :class:`DriverError` with Telegram's description.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from simulators.telegram.errors import DriverError


@dataclass(frozen=True)
class Emitted:
    """What a driver action put in front of the bot."""

    update_id: int | None
    message: dict[str, Any] | None
    update: dict[str, Any] | None

    @property
    def queued_id(self) -> int:
        """``update_id``, for an update known to be queued (raises when it was filtered)."""
        if self.update_id is None:
            raise LookupError("allowed_updates kept this update from being queued")
        return self.update_id

    @property
    def message_id(self) -> int:
        if self.message is None:
            raise LookupError("this action produced no message")
        return int(self.message["message_id"])

    @property
    def thread_id(self) -> int:
        """The message's ``message_thread_id`` (for ``open_topic``: the new topic's id)."""
        thread_id = None if self.message is None else self.message.get("message_thread_id")
        if thread_id is None:
            raise LookupError("the message is in no thread")
        return int(thread_id)


class SimulatorDriver:
    """Async client of one simulator's ``/sim`` API."""

    def __init__(self, base_url: str, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SimulatorDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, verb: str, path: str, body: dict[str, Any] | None = None,
                    query: dict[str, Any] | None = None) -> Any:
        payload = {k: v for k, v in (body or {}).items() if v is not None}
        params = {k: v for k, v in (query or {}).items() if v is not None}
        response = await self._client.request(verb, f"/sim/{path}", params=params,
                                              json=payload if body is not None else None)
        data = response.json()
        if not data.get("ok"):
            raise DriverError(response.status_code, data)
        return data["result"]

    async def _emit(self, path: str, body: dict[str, Any]) -> Emitted:
        result = await self._call("POST", path, body)
        return Emitted(result.get("update_id"), result.get("message"), result.get("update"))

    # -- people and chats ------------------------------------------------------------------

    async def create_user(self, first_name: str, username: str | None = None,
                          phone: str | None = None, *, language_code: str | None = "en",
                          last_name: str | None = None) -> dict[str, Any]:
        """A new Telegram user; ``phone`` is what they would share as a contact."""
        return dict(await self._call("POST", "users", {
            "first_name": first_name, "username": username, "phone": phone,
            "language_code": language_code, "last_name": last_name}))

    async def create_forum(self, title: str, username: str | None = None) -> dict[str, Any]:
        """A forum supergroup (topics on) with the bot in it."""
        return dict(await self._call("POST", "forums", {"title": title, "username": username}))

    async def create_private_chat(self, user_id: int) -> dict[str, Any]:
        """The user's private chat with the bot."""
        return dict(await self._call("POST", "private_chats", {"user_id": user_id}))

    async def create_discussion_group(self, title: str) -> dict[str, Any]:
        """A non-forum supergroup linked to a channel (comment threads, not topics)."""
        return dict(await self._call("POST", "discussion_groups", {"title": title}))

    async def post_to_channel(self, chat_id: int, text: str) -> Emitted:
        """A channel post, arriving in its discussion group as an automatic forward."""
        return await self._emit("channel_posts", {"chat_id": chat_id, "text": text})

    # -- messages --------------------------------------------------------------------------

    async def write(self, chat_id: int, user_id: int, text: str,
                    message_thread_id: int | None = None,
                    reply_to_message_id: int | None = None) -> Emitted:
        """The user sends a text message (into a topic or comment thread when given)."""
        return await self._emit("messages", {
            "chat_id": chat_id, "user_id": user_id, "text": text,
            "message_thread_id": message_thread_id, "reply_to_message_id": reply_to_message_id})

    async def send_file(self, chat_id: int, user_id: int, kind: str, *,
                        content: bytes | None = None, size: int | None = None,
                        file_name: str | None = None, mime_type: str | None = None,
                        caption: str | None = None,
                        message_thread_id: int | None = None) -> Emitted:
        """The user sends a file (``simulators.telegram.files``): ``content``, or only a
        ``size`` for a file too big to download."""
        return await self._emit("files", {
            "chat_id": chat_id, "user_id": user_id, "kind": kind,
            "content": base64.b64encode(content).decode() if content is not None else None,
            "size": size, "file_name": file_name, "mime_type": mime_type, "caption": caption,
            "message_thread_id": message_thread_id})

    async def edit(self, chat_id: int, message_id: int, text: str) -> Emitted:
        """The author edits a text message (the bot gets ``edited_message``)."""
        return await self._emit("edits", {"chat_id": chat_id, "message_id": message_id,
                                          "text": text})

    async def share_contact(self, chat_id: int, user_id: int,
                            message_thread_id: int | None = None, *,
                            contact_user_id: int | None = None) -> Emitted:
        """The user shares their own phone number (a ``contact`` message), or with
        ``contact_user_id`` someone else's contact from their phone book."""
        return await self._emit("contacts", {"chat_id": chat_id, "user_id": user_id,
                                             "message_thread_id": message_thread_id,
                                             "contact_user_id": contact_user_id})

    async def press_button(self, chat_id: int, user_id: int, text: str) -> Emitted:
        """The user presses the button ``text`` of the reply keyboard the chat shows: its
        text arrives as a message, or for a ``request_contact`` button the user's own
        contact."""
        return await self._emit("buttons", {"chat_id": chat_id, "user_id": user_id,
                                            "text": text})

    async def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The bot's reply keyboard the chat shows (``None``: none)."""
        found = await self._call("GET", "keyboards", query={"chat_id": chat_id})
        return dict(found) if found is not None else None

    # -- topics ----------------------------------------------------------------------------

    async def open_topic(self, chat_id: int, user_id: int, name: str,
                         icon_color: int | None = None) -> Emitted:
        """A user creates a topic; ``.message`` is ``forum_topic_created``, ``.thread_id``
        the new topic's ``message_thread_id``."""
        return await self._emit("topics", {"chat_id": chat_id, "user_id": user_id,
                                           "name": name, "icon_color": icon_color})

    async def rename_topic(self, chat_id: int, message_thread_id: int, user_id: int,
                           name: str) -> Emitted:
        return await self._emit("topics/rename", {
            "chat_id": chat_id, "message_thread_id": message_thread_id, "user_id": user_id,
            "name": name})

    async def close_topic(self, chat_id: int, message_thread_id: int,
                          user_id: int) -> Emitted:
        return await self._emit("topics/close", {
            "chat_id": chat_id, "message_thread_id": message_thread_id, "user_id": user_id})

    async def reopen_topic(self, chat_id: int, message_thread_id: int,
                           user_id: int) -> Emitted:
        return await self._emit("topics/reopen", {
            "chat_id": chat_id, "message_thread_id": message_thread_id, "user_id": user_id})

    async def delete_topic(self, chat_id: int, message_thread_id: int,
                           user_id: int) -> dict[str, Any]:
        """A user deletes a topic; Telegram sends the bot no update for this."""
        return dict(await self._call("POST", "topics/delete", {
            "chat_id": chat_id, "message_thread_id": message_thread_id, "user_id": user_id}))

    async def topics(self, chat_id: int) -> list[dict[str, Any]]:
        """Every topic of a forum with its state (closed, deleted): the ground truth."""
        return list(await self._call("GET", "topics", query={"chat_id": chat_id}))

    # -- other updates ---------------------------------------------------------------------

    async def block_bot(self, user_id: int) -> Emitted:
        """The user blocks the bot: ``my_chat_member`` (kicked); sends to them now get 403."""
        return await self._emit("blocks", {"user_id": user_id})

    async def unblock_bot(self, user_id: int) -> Emitted:
        return await self._emit("unblocks", {"user_id": user_id})

    async def kick_bot(self, chat_id: int, user_id: int) -> Emitted:
        """The user removes the bot from a group: ``my_chat_member`` (kicked); the bot gets
        no more updates from it, and sends there get 403."""
        return await self._emit("kicks", {"chat_id": chat_id, "user_id": user_id})

    async def emit(self, update_type: str, payload: dict[str, Any]) -> Emitted:
        """An update of any type (``callback_query``, ``message_reaction``...) as given;
        subject to ``allowed_updates`` like a real one."""
        return await self._emit("updates", {"type": update_type, "payload": payload})

    async def emit_raw(self, update: dict[str, Any]) -> Emitted:
        """Queue ``update`` exactly as given (an ``update_id`` is added when missing)."""
        return await self._emit("raw_updates", {"update": update})

    async def redeliver(self, update_id: int) -> Emitted:
        """Deliver a second copy of an already handed-over update (a Telegram retry)."""
        return await self._emit("redeliveries", {"update_id": update_id})

    # -- observation and faults ------------------------------------------------------------

    async def updates(self) -> list[dict[str, Any]]:
        """Every update ever queued for the bot, oldest first."""
        return list(await self._call("GET", "updates"))

    async def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """What the bot sent: chat_id, message_id, message_thread_id, text, message..."""
        return list(await self._call("GET", "sent", query={"chat_id": chat_id}))

    async def calls(self) -> list[dict[str, Any]]:
        """Every Bot API call the bot made: method, params, answer (the JSON envelope)."""
        return list(await self._call("GET", "calls"))

    async def deleted_messages(self, chat_id: int) -> list[int]:
        """Ids of the messages the bot deleted in ``chat_id`` (``deleteMessage``), in order."""
        return [int(m) for m in await self._call("GET", "deleted", query={"chat_id": chat_id})]

    async def set_bot_rights(self, chat_id: int, *, can_delete_messages: bool | None = None,
                             can_manage_topics: bool | None = None,
                             **rights: bool) -> dict[str, Any]:
        """Give or take the bot's administrator rights in a group (every right by default):
        ``can_delete_messages`` (others' messages, ``deleteForumTopic``),
        ``can_manage_topics`` (creating, editing, closing and reopening topics it did not
        create; posting in a closed topic), or any other ``can_*`` right. Returns them all."""
        return dict(await self._call("POST", "bot_rights", {
            "chat_id": chat_id, "can_delete_messages": can_delete_messages,
            "can_manage_topics": can_manage_topics, **rights}))

    async def set_private_topics(self, enabled: bool = True) -> dict[str, Any]:
        """The bot's topic mode in private chats (``has_topics_enabled``, Bot API 9.3)."""
        return dict(await self._call("POST", "bot_settings",
                                     {"has_topics_enabled": enabled}))

    async def webhook_log(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt: update_id, attempt, status, ok, error, at."""
        return list(await self._call("GET", "webhook_log"))

    async def fail_next(self, count: int, status: int = 500, *,
                        methods: list[str] | None = None, description: str | None = None,
                        retry_after: int | None = None) -> dict[str, Any]:
        """Make the next ``count`` Bot API calls (of ``methods``, if given) fail."""
        return dict(await self._call("POST", "faults", {
            "count": count, "status": status, "methods": methods,
            "description": description, "retry_after": retry_after}))

    async def set_latency(self, seconds: float) -> dict[str, Any]:
        """Delay every Bot API call by ``seconds``."""
        return dict(await self._call("POST", "latency", {"seconds": seconds}))

    async def clear_faults(self) -> dict[str, Any]:
        return dict(await self._call("DELETE", "faults"))
