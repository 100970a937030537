"""The simulated Telegram: users, chats, forum topics and the messages in them.

Everything here is plain in-memory state and follows the Bot API's shapes:

- Chat ids of supergroups and channels look like real ones (``-100xxxxxxxxxx``); a private
  chat's id is the user's id. Message ids count up per chat.
- A forum's first message id is 2: id 1 is the General topic's id in Telegram and must never
  be mistaken for a topic (``message_thread_id=1`` is "message thread not found", as in the
  real Bot API).
- A topic's creation service message (``forum_topic_created``) has ``message_id`` equal to the
  topic's ``message_thread_id``. Every later message in the topic carries
  ``message_thread_id``, ``is_topic_message: true`` and a ``reply_to_message``: the message
  it replies to, or else the creation message (Telegram's implicit reply).
- The General topic's messages carry no ``message_thread_id``, replies in General included
  (Bot API 9.3's topic model; before it a reply carried its chain's root there). A reply in a
  non-forum supergroup carries the id of the reply chain's root as ``message_thread_id`` but
  never ``is_topic_message``.
- A discussion group (a non-forum supergroup linked to a channel) gets channel posts as
  automatic forwards; comments on them carry ``message_thread_id`` (the forward's id) and no
  ``is_topic_message``: comment threads are not topics.
- A ``reply_to_message`` never contains a further ``reply_to_message``.
- Private chats in topic mode (Bot API 9.3): when the bot's ``has_topics_enabled`` is set
  (``getMe``), a private chat with the bot has topics like a forum's (the user opens, renames,
  closes them; ``forum_topic_created`` with ``message_id == message_thread_id``); their
  messages carry ``message_thread_id``, ``is_topic_message`` and the implicit reply, and the
  bot sends into one with ``message_thread_id``. Without it, a private ``message_thread_id``
  is "message thread not found".

Nothing here knows about updates, HTTP or rate limits; the caller turns messages into updates.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from simulators.telegram.errors import bad_request
from simulators.telegram.text import detect_entities

ChatKind = Literal["private", "forum", "discussion", "channel"]
ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
TELEGRAM_SERVICE_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
BOT_ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
    "can_delete_messages": True, "can_manage_video_chats": True,
    "can_restrict_members": True, "can_promote_members": False, "can_change_info": True,
    "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
    "can_delete_stories": False, "can_send_welcome_messages": False, "can_pin_messages": True,
    "can_manage_topics": True}
"""The bot's rights as the administrator the driver makes it in every group (Bot API
``ChatMemberAdministrator``: the ``can_*`` booleans a supergroup administrator carries;
``can_send_welcome_messages`` is required since Bot API 10.x, as the oracle's models say)."""
_SUPERGROUP_BASE = 1_001_000_000_000
_FIRST_USER_ID = 100_000_001


@dataclass
class Topic:
    """A forum topic; ``creation`` is its ``forum_topic_created`` service message."""

    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None
    creation: dict[str, Any]
    closed: bool = False
    deleted: bool = False

    def forum_topic(self) -> dict[str, Any]:
        """The Bot API ``ForumTopic`` object."""
        out: dict[str, Any] = {"message_thread_id": self.thread_id, "name": self.name,
                               "icon_color": self.icon_color}
        if self.icon_custom_emoji_id:
            out["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return out

    def state(self) -> dict[str, Any]:
        """The topic as the driver reports it (not a Bot API object)."""
        return {**self.forum_topic(), "chat_id": self.chat_id, "closed": self.closed,
                "deleted": self.deleted}


@dataclass
class Chat:
    """A chat and its history; ``info`` is the Bot API ``Chat`` object put in messages."""

    info: dict[str, Any]
    kind: ChatKind
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    linked_chat_id: int | None = None
    reply_keyboard: dict[str, Any] | None = None
    """The bot's reply keyboard the chat shows (``ReplyKeyboardMarkup``), until replaced or
    removed."""
    bot_rights: dict[str, bool] = field(default_factory=lambda: dict(BOT_ADMIN_RIGHTS))
    """The bot's administrator rights here (``ChatMemberAdministrator``'s ``can_*`` fields;
    every right by default, the driver can take any away): ``can_delete_messages`` for
    deleting others' messages and ``deleteForumTopic``, ``can_manage_topics`` for the topic
    methods and for posting in a closed topic."""
    deleted: list[int] = field(default_factory=list)
    """Ids of the messages deleted with ``deleteMessage``, in order."""

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def bot_can_delete(self) -> bool:
        return self.bot_rights.get("can_delete_messages", False)

    @property
    def bot_can_manage_topics(self) -> bool:
        return self.kind == "forum" and self.bot_rights.get("can_manage_topics", False)

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def topic(self, thread_id: int, *, acting_on_it: bool = False) -> Topic:
        """A live topic of this forum, or 400 ``message thread not found``. ``acting_on_it``
        (editing, closing, reopening or deleting the topic itself): a deleted topic is 400
        ``TOPIC_ID_INVALID`` instead, the server's word for a topic id that no longer names
        a topic (the Bot API passes it through)."""
        found = self.topics.get(thread_id)
        if found is not None and found.deleted and acting_on_it:
            raise bad_request("TOPIC_ID_INVALID")
        if found is None or found.deleted:
            raise bad_request("message thread not found")
        return found


def nested(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a ``reply_to_message``: without a further ``reply_to_message``."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def thread_root(message: dict[str, Any]) -> int:
    """The id of the reply chain's root that ``message`` belongs to."""
    return int(message.get("message_thread_id") or message["message_id"])


class World:
    """Users, chats, topics and messages of one simulated Telegram, seen by one bot."""

    def __init__(self, bot: dict[str, Any], *,
                 wall_clock: Callable[[], float] = time.time, id_offset: int = 0) -> None:
        """``id_offset`` shifts every user and supergroup id, so simulators started one after
        another (a demo restarted on the same data) never reuse each other's ids."""
        self.bot = bot
        self._wall = wall_clock
        self.users: dict[int, dict[str, Any]] = {}
        self.phones: dict[int, str] = {}
        self.chats: dict[int, Chat] = {}
        self._user_ids = itertools.count(_FIRST_USER_ID + id_offset)
        self._supergroup_ids = itertools.count(_SUPERGROUP_BASE + 1 + id_offset)
        self._colors = itertools.cycle(ICON_COLORS)

    def now(self) -> int:
        """Unix time in whole seconds, the unit of every ``date`` field."""
        return int(self._wall())

    # -- users and chats -------------------------------------------------------------------

    def create_user(self, first_name: str, username: str | None = None,
                    phone: str | None = None, language_code: str | None = "en",
                    last_name: str | None = None) -> dict[str, Any]:
        """A new human user (a Bot API ``User``); the phone is kept for contact sharing."""
        if not first_name:
            raise bad_request("first_name is empty")
        user_id = next(self._user_ids)
        while user_id == self.bot["id"]:
            user_id = next(self._user_ids)
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username.lstrip("@")
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        if phone:
            self.phones[user_id] = phone
        return user

    def user(self, user_id: int) -> dict[str, Any]:
        found = self.users.get(user_id)
        if found is None:
            raise bad_request("user not found")
        return found

    def create_forum(self, title: str, username: str | None = None) -> dict[str, Any]:
        """A forum supergroup (topics enabled)."""
        info = self._supergroup_info(title, username) | {"is_forum": True}
        return self._add_chat(Chat(info=info, kind="forum", next_message_id=2)).info

    def create_discussion_group(self, title: str) -> dict[str, Any]:
        """A non-forum supergroup with a linked channel whose posts it discusses."""
        channel = self._add_chat(Chat(info={"id": -next(self._supergroup_ids),
                                            "type": "channel", "title": f"{title} channel"},
                                      kind="channel"))
        group = self._add_chat(Chat(info=self._supergroup_info(title, None), kind="discussion",
                                    linked_chat_id=channel.id))
        channel.linked_chat_id = group.id
        return group.info

    def create_private_chat(self, user_id: int) -> dict[str, Any]:
        """The private chat of a user with the bot (idempotent)."""
        if user_id in self.chats:
            return self.chats[user_id].info
        user = self.user(user_id)
        info: dict[str, Any] = {"id": user_id, "type": "private",
                                "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                info[key] = user[key]
        return self._add_chat(Chat(info=info, kind="private")).info

    def chat(self, chat_id: int | str) -> Chat:
        """A chat by id or ``@username``, or 400 ``chat not found``."""
        if isinstance(chat_id, str):
            name = chat_id.lstrip("@").lower()
            for candidate in self.chats.values():
                if str(candidate.info.get("username", "")).lower() == name:
                    return candidate
            raise bad_request("chat not found")
        found = self.chats.get(chat_id)
        if found is None:
            raise bad_request("chat not found")
        return found

    def _supergroup_info(self, title: str, username: str | None) -> dict[str, Any]:
        if not title:
            raise bad_request("title is empty")
        info: dict[str, Any] = {"id": -next(self._supergroup_ids), "type": "supergroup",
                                "title": title}
        if username:
            info["username"] = username.lstrip("@")
        return info

    def _add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        return chat

    # -- messages --------------------------------------------------------------------------

    def placement(self, chat_id: int | str, thread_id: int | None, reply_to: int | None,
                  allow_without_reply: bool = False, *,
                  may_post_closed: bool = False) -> dict[str, Any]:
        """Where a new message would go (its thread and reply fields), without sending it;
        ``may_post_closed``: the sender is an administrator with ``can_manage_topics``."""
        chat = self.chat(chat_id)
        if chat.kind == "channel":
            raise bad_request("need administrator rights in the channel chat")
        return self._place(chat, thread_id, reply_to, allow_without_reply, may_post_closed)

    def post(self, chat_id: int | str, sender: dict[str, Any], *, text: str | None = None,
             entities: list[dict[str, Any]] | None = None, thread_id: int | None = None,
             reply_to: int | None = None, allow_without_reply: bool = False,
             content: dict[str, Any] | None = None,
             may_post_closed: bool = False) -> dict[str, Any]:
        """A new message from ``sender``, placed in its thread; returns the stored Message.
        ``may_post_closed``: the sender may write in a closed topic (an administrator with
        ``can_manage_topics``)."""
        chat = self.chat(chat_id)
        if chat.kind == "channel":
            raise bad_request("need administrator rights in the channel chat")
        if chat.kind == "private" and sender["id"] not in (chat.id, self.bot["id"]):
            raise bad_request("chat not found")
        placement = self._place(chat, thread_id, reply_to, allow_without_reply,
                                may_post_closed)
        message = self._message(chat, sender) | placement
        if text is not None:
            message["text"] = text
            marks = detect_entities(text) if entities is None else entities
            if marks:
                message["entities"] = marks
        message.update(content or {})
        return self._store(chat, message)

    def edit(self, chat_id: int | str, message_id: int, text: str) -> dict[str, Any]:
        """A user's edit of their text message: the stored message with ``edit_date``."""
        chat = self.chat(chat_id)
        old = chat.messages.get(message_id)
        if old is None:
            raise bad_request("message to edit not found")
        if "text" not in old or old.get("from", {}).get("id") == self.bot["id"]:
            raise bad_request("message can't be edited")
        if not text.strip():
            raise bad_request("message text is empty")
        if old["text"] == text:
            raise bad_request("message is not modified: specified new message content and "
                              "reply markup are exactly the same as a current content and "
                              "reply markup of the message")
        edited = {k: v for k, v in old.items() if k != "entities"} | {
            "text": text, "edit_date": max(self.now(), int(old["date"]))}
        marks = detect_entities(text)
        if marks:
            edited["entities"] = marks
        return self._store(chat, edited)

    def channel_post(self, group_id: int, text: str) -> dict[str, Any]:
        """A post in the group's linked channel, as its automatic forward into the group.

        The forward is the root of a comment thread: comments carry its ``message_id`` as
        ``message_thread_id``.
        """
        group = self.chat(group_id)
        if group.kind != "discussion" or group.linked_chat_id is None:
            raise bad_request("the chat is not a discussion group")
        channel = self.chat(group.linked_chat_id)
        post = self._store(channel, self._message(channel, None) | {
            "sender_chat": channel.info, "text": text})
        forward = self._message(group, TELEGRAM_SERVICE_USER) | {
            "sender_chat": channel.info, "is_automatic_forward": True, "text": text,
            "forward_origin": {"type": "channel", "chat": channel.info,
                               "message_id": post["message_id"], "date": post["date"]}}
        return self._store(group, forward)

    def contact_of(self, user_id: int) -> dict[str, Any]:
        """A ``contact`` payload for the user's phone (as "share my contact" sends it for
        the user's own; as sharing a contact from the phone book sends someone else's)."""
        user = self.user(user_id)
        phone = self.phones.get(user_id)
        if phone is None:
            raise bad_request("the user has no phone number")
        contact: dict[str, Any] = {"phone_number": phone, "first_name": user["first_name"],
                                   "user_id": user_id}
        if "last_name" in user:
            contact["last_name"] = user["last_name"]
        return contact

    # -- forum topics ----------------------------------------------------------------------

    def forum(self, chat_id: int | str) -> Chat:
        """A forum chat (or a private chat in topic mode), else 400 ``the chat is not a
        forum``."""
        chat = self.chat(chat_id)
        if chat.kind != "forum" and not self._private_topics(chat):
            raise bad_request("the chat is not a forum")
        return chat

    def _private_topics(self, chat: Chat) -> bool:
        """A private chat with topics: the bot has topic mode on (``has_topics_enabled``)."""
        return chat.kind == "private" and bool(self.bot.get("has_topics_enabled"))

    def open_topic(self, chat_id: int | str, sender: dict[str, Any], name: str,
                   icon_color: int | None = None,
                   icon_custom_emoji_id: str | None = None) -> Topic:
        """A new topic and its ``forum_topic_created`` service message."""
        chat = self.forum(chat_id)
        if chat.kind == "private" and sender["id"] not in (chat.id, self.bot["id"]):
            raise bad_request("chat not found")
        _check_topic_name(name)
        if icon_color is None:
            icon_color = next(self._colors)
        elif icon_color not in ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        message = self._message(chat, sender)
        thread_id = message["message_id"]
        created: dict[str, Any] = {"name": name, "icon_color": icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        message |= {"message_thread_id": thread_id, "is_topic_message": True,
                    "forum_topic_created": created}
        topic = Topic(chat.id, thread_id, name, icon_color, icon_custom_emoji_id or None,
                      self._store(chat, message))
        chat.topics[thread_id] = topic
        return topic

    def edit_topic(self, chat_id: int | str, thread_id: int, sender: dict[str, Any],
                   name: str | None = None,
                   icon_custom_emoji_id: str | None = None) -> dict[str, Any]:
        """Rename (and/or change the icon of) a topic: ``forum_topic_edited``."""
        topic = self.forum(chat_id).topic(thread_id, acting_on_it=True)
        edited: dict[str, Any] = {}
        if name is not None and name != topic.name:
            _check_topic_name(name)
            topic.name = edited["name"] = name
        if icon_custom_emoji_id is not None and icon_custom_emoji_id != (
                topic.icon_custom_emoji_id or ""):
            edited["icon_custom_emoji_id"] = icon_custom_emoji_id
            topic.icon_custom_emoji_id = icon_custom_emoji_id or None
        if not edited:
            raise bad_request("TOPIC_NOT_MODIFIED")
        return self._topic_service(topic, sender, "forum_topic_edited", edited)

    def set_topic_closed(self, chat_id: int | str, thread_id: int, sender: dict[str, Any],
                         closed: bool) -> dict[str, Any]:
        """Close or reopen a topic: ``forum_topic_closed`` / ``forum_topic_reopened``."""
        topic = self.forum(chat_id).topic(thread_id, acting_on_it=True)
        if topic.closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        kind = "forum_topic_closed" if closed else "forum_topic_reopened"
        return self._topic_service(topic, sender, kind, {})

    def delete_topic(self, chat_id: int | str, thread_id: int) -> Topic:
        """Delete a topic with all its messages (Telegram sends no update for this)."""
        chat = self.forum(chat_id)
        topic = chat.topic(thread_id, acting_on_it=True)
        topic.deleted = True
        for message_id in [m for m, msg in chat.messages.items()
                           if msg.get("message_thread_id") == thread_id]:
            del chat.messages[message_id]
        return topic

    def delete_message(self, chat_id: int | str, message_id: int) -> None:
        """``deleteMessage`` by the bot: its own messages anywhere, others' in a private chat,
        and others' in a group only with the right to delete."""
        chat = self.chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        own = (message.get("from") or {}).get("id") == self.bot["id"]
        if chat.kind != "private" and not own and not chat.bot_can_delete:
            raise bad_request("message can't be deleted")
        # deleteMessage (Bot API): "Service messages about a supergroup, channel, or forum
        # topic creation can't be deleted"; "A message can only be deleted if it was sent less
        # than 48 hours ago".
        if "forum_topic_created" in message or self.now() - int(message["date"]) >= 48 * 3600:
            raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        chat.deleted.append(message_id)

    def _topic_service(self, topic: Topic, sender: dict[str, Any], kind: str,
                       payload: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat(topic.chat_id)
        message = self._message(chat, sender) | {
            "message_thread_id": topic.thread_id, "is_topic_message": True,
            "reply_to_message": nested(topic.creation), kind: payload}
        return self._store(chat, message)

    # -- placement -------------------------------------------------------------------------

    def _place(self, chat: Chat, thread_id: int | None, reply_to: int | None,
               allow_without_reply: bool, may_post_closed: bool = False) -> dict[str, Any]:
        """The thread and reply fields of a new message in ``chat``."""
        replied = chat.messages.get(reply_to) if reply_to is not None else None
        if reply_to is not None and replied is None and not allow_without_reply:
            raise bad_request("message to be replied not found")
        if chat.kind == "private" and not self._private_topics(chat):
            if thread_id is not None:
                raise bad_request("message thread not found")
            return {"reply_to_message": nested(replied)} if replied else {}
        if chat.kind in ("forum", "private"):
            if thread_id is None and replied is not None and replied.get("is_topic_message"):
                thread_id = int(replied["message_thread_id"])
            if thread_id is not None:
                topic = chat.topic(thread_id)
                if replied is not None and replied.get("message_thread_id") != thread_id:
                    raise bad_request("message to be replied not found")
                if topic.closed and not may_post_closed:
                    raise bad_request("TOPIC_CLOSED")
                return {"message_thread_id": thread_id, "is_topic_message": True,
                        "reply_to_message": nested(replied or topic.creation)}
            if chat.kind == "private":  # the private chat itself, outside its topics
                return {"reply_to_message": nested(replied)} if replied else {}
        elif thread_id is not None:
            root = chat.messages.get(thread_id)
            if root is None:
                raise bad_request("message thread not found")
            if replied is not None and thread_root(replied) != thread_id:
                raise bad_request("message to be replied not found")
            return {"message_thread_id": thread_id, "reply_to_message": nested(replied or root)}
        if replied is not None and chat.kind == "forum":
            # A reply in General: since Bot API 9.3's topic model (changelog, December 2025)
            # only messages of a topic carry message_thread_id; older servers sent the reply
            # chain's root here (telecase routes both shapes alike).
            return {"reply_to_message": nested(replied)}
        if replied is not None:
            return {"message_thread_id": thread_root(replied),
                    "reply_to_message": nested(replied)}
        return {}

    def _message(self, chat: Chat, sender: dict[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": chat.allocate_message_id()}
        if sender is not None:
            message["from"] = sender
        message |= {"date": self.now(), "chat": chat.info}
        return message

    @staticmethod
    def _store(chat: Chat, message: dict[str, Any]) -> dict[str, Any]:
        chat.messages[int(message["message_id"])] = message
        return message


def _check_topic_name(name: str) -> None:
    if not name or not name.strip():
        raise bad_request("TOPIC_TITLE_EMPTY")
    if len(name) > 128:
        raise bad_request("TOPIC_TITLE_TOO_LONG")
