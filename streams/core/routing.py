"""Which conversation thread a Telegram update belongs to, or why it belongs to none.

The Bot API's forum rules, as telecase applies them:

- A forum supergroup (``chat.is_forum``) has topics. A topic message carries
  ``message_thread_id`` and ``is_topic_message``; the topic's creation service message
  (``forum_topic_created``) has ``message_id == message_thread_id``. One topic is one ticket.
- The **General** topic's messages carry no ``message_thread_id``; a *reply* in General did
  carry the reply chain's root as ``message_thread_id`` (without ``is_topic_message``) before
  Bot API 9.3's topic model, and carries none since. Both shapes route alike: only
  ``is_topic_message`` (or a creation service message) makes a message a topic's, and only a
  topic message has the implicit reply. telecase treats General like
  a shared front desk: each customer who writes there gets their own ticket (thread key
  ``<chat>:g<user>``), one open at a time, exactly like a private chat with the bot, so a
  prospect who skips creating a topic is not lost.
- Every topic message carries an implicit ``reply_to_message`` pointing at the creation message;
  that is not a customer reply (see :func:`explicit_reply_to`).
- The bot receives its own forum service messages (a topic it created, closed or reopened).
  They update the topic's state with the bot as actor and are never treated as customer
  input, so nothing reacts to its own actions in a loop. Other messages from bots are skipped.
- Comment threads of a channel's discussion group (a non-forum supergroup) also carry
  ``message_thread_id`` but are not topics: updates from groups that are not forums open no
  tickets (they stay in ``telegram.updates``, counted as skipped).
- A private chat with the bot is one ticket at a time per user (thread key ``<chat>:p``).
- A bot whose private chats have topics (Bot API 9.3: ``has_topics_enabled`` on the bot's
  ``getMe`` user) receives private messages with ``message_thread_id`` and
  ``is_topic_message``, like a forum's: each private topic is one ticket (thread key
  ``<chat>:pt<message_thread_id>``, ticket ``tg:<chat>:pt<message_thread_id>``), and replies
  are sent with that ``message_thread_id``.
- A message sent *on behalf of a chat* carries ``sender_chat`` and a placeholder ``from``
  (a bot account). When ``sender_chat`` is the group itself, an anonymous administrator wrote
  it (``from`` is Telegram's GroupAnonymousBot, :data:`ANONYMOUS_ADMIN_ID`): that is the team
  speaking, routed like a rostered agent's message (:attr:`Routed.anonymous_admin`). When it
  is another chat (a channel), the channel is its author (:attr:`Routed.sender_chat`): it is
  recorded on a topic's existing ticket but opens none, and in the General topic it is
  skipped (General's tickets are per customer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from streams.schema.events import Channel
from streams.schema.telegram import Chat, Message, Update

ANONYMOUS_ADMIN_ID = 1087968824
"""Telegram's GroupAnonymousBot: the ``from`` of an anonymous group administrator's message."""

ServiceKind = Literal["created", "edited", "closed", "reopened"]


@dataclass(frozen=True)
class Routed:
    """An update that belongs to a conversation thread."""

    thread_key: str
    channel: Channel
    chat_id: int
    thread_id: int | None
    message: Message
    is_edit: bool
    service: ServiceKind | None
    from_bot: bool
    from_agent: bool = False
    agents: frozenset[int] = frozenset()
    """The roster of agents' Telegram user ids: their words are agent replies, never a
    customer's, and they are never anyone's customer."""
    continues: int | None = None
    """Set in a topic the bot created to continue a ticket whose topic was deleted: the
    original topic's thread id (``thread_key`` is that topic's)."""
    sender_chat: Chat | None = None
    """The chat the message was sent on behalf of (``sender_chat``): the group itself for an
    anonymous administrator, else a channel, the message's author."""

    @property
    def anonymous_admin(self) -> bool:
        """The group speaking as itself: an anonymous administrator, the team."""
        return self.sender_chat is not None and self.sender_chat.id == self.chat_id

    @property
    def as_channel(self) -> Chat | None:
        """The channel the message was sent on behalf of (never the group itself)."""
        return None if self.anonymous_admin else self.sender_chat


@dataclass(frozen=True)
class Skipped:
    """An update that opens or changes no ticket, and why (a metric label)."""

    reason: str


def service_kind(message: Message) -> ServiceKind | None:
    if message.forum_topic_created is not None:
        return "created"
    if message.forum_topic_edited is not None:
        return "edited"
    if message.forum_topic_closed is not None:
        return "closed"
    if message.forum_topic_reopened is not None:
        return "reopened"
    return None


def explicit_reply_to(message: Message) -> int | None:
    """The message a customer deliberately replied to; ``None`` for the implicit topic reply."""
    reply = message.reply_to_message
    if reply is None:
        return None
    if reply.forum_topic_created is not None:
        return None
    if (message.is_topic_message and message.message_thread_id is not None
            and reply.message_id == message.message_thread_id):
        return None  # a topic's implicit reply (General's replies are always explicit)
    return reply.message_id


def route(update: Update, bot_id: int,
          agents: frozenset[int] = frozenset()) -> Routed | Skipped:
    """Place an update in its thread, or say why it has none.

    ``agents`` is the roster of agents who answer inside Telegram. An agent's message in a topic
    is an agent reply on that topic's ticket; in the General topic it belongs to the ticket of
    the customer it replies to (and is skipped when it replies to nobody); agents' private
    chats with the bot open no tickets.
    """
    is_edit = update.message is None and update.edited_message is not None
    message = update.message or update.edited_message
    if message is None:
        return Skipped(f"update_type:{update.update_type()}")
    sender = message.from_
    service = service_kind(message)
    chat = message.chat
    on_behalf = message.sender_chat if chat.type in ("group", "supergroup") else None
    anonymous = on_behalf is not None and on_behalf.id == chat.id
    from_bot = sender is not None and sender.is_bot and on_behalf is None
    if from_bot and not (service is not None and sender is not None and sender.id == bot_id):
        return Skipped("sender_is_bot")
    if sender is None:
        return Skipped("no_sender")
    from_agent = sender.id in agents or anonymous
    if chat.type == "private":
        if from_agent:
            return Skipped("agent_private_chat")
        if message.is_topic_message and message.message_thread_id is not None:
            return _private_topic(message, is_edit, service, from_bot, agents)
        return Routed(f"{chat.id}:p", "private_chat", chat.id, None, message, is_edit, None,
                      False, False, agents)
    if chat.type not in ("group", "supergroup"):
        return Skipped(f"chat_type:{chat.type}")
    if not chat.is_forum:
        return Skipped("not_a_forum")
    if message.is_topic_message or service == "created":
        thread_id = message.message_thread_id or message.message_id
        original = _continued_thread(message, bot_id)
        return Routed(f"{chat.id}:t{original or thread_id}", "forum_topic", chat.id, thread_id,
                      message, is_edit, service, from_bot, from_agent and service is None,
                      agents, original, on_behalf)
    if service is not None or from_bot:
        return Skipped("general_topic_service")
    if on_behalf is not None and not anonymous:
        return Skipped("channel_in_general")
    customer_id = sender.id
    if from_agent:
        replied = message.reply_to_message
        author = replied.from_ if replied is not None else None
        if (author is None or author.is_bot or author.id in agents
                or (replied is not None and replied.sender_chat is not None)):
            return Skipped("agent_in_general_without_customer")
        customer_id = author.id
    return Routed(f"{chat.id}:g{customer_id}", "general_topic", chat.id, None, message, is_edit,
                  None, False, from_agent, agents, sender_chat=on_behalf)


def _private_topic(message: Message, is_edit: bool, service: ServiceKind | None,
                   from_bot: bool, agents: frozenset[int]) -> Routed:
    """A message in a topic of a private chat with the bot: that topic's own ticket."""
    thread_id = message.message_thread_id
    assert thread_id is not None
    chat = message.chat.id
    return Routed(f"{chat}:pt{thread_id}", "private_chat", chat, thread_id, message, is_edit,
                  service, from_bot, False, agents)


TOPIC_NAME_MAX = 128
_CONTINUED = re.compile(r" \(continued from #(\d+)\)$")


def continuation_name(subject: str, original_thread_id: int) -> str:
    """The name the bot gives a topic it creates to continue a ticket whose topic (first
    created as ``original_thread_id``) was deleted. Every message in the new topic carries its
    creation message, so routing sends all of them to the original thread's ticket, in
    whatever order they arrive."""
    marker = f" (continued from #{original_thread_id})"
    return subject[:TOPIC_NAME_MAX - len(marker)] + marker


def _continued_thread(message: Message, bot_id: int) -> int | None:
    creation = message if message.forum_topic_created is not None else message.reply_to_message
    if creation is None or creation.forum_topic_created is None:
        return None
    author = creation.from_
    if author is None or author.id != bot_id:
        return None
    found = _CONTINUED.search(creation.forum_topic_created.name)
    return int(found.group(1)) if found else None
