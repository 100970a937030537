"""The Bot API methods the simulator answers, registered as data in :data:`METHODS`.

Each handler takes the :class:`Simulation` and the call's :class:`Params` and returns the
``result`` (or a :class:`Described` result, for the methods whose real answers carry a
``description`` next to ``result``), or raises :class:`BotApiError`. Method names are
case-insensitive, as in the real Bot API. Descriptions of errors follow the real API's
wording; where the real wording is not documented, it is marked in the handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from simulators.telegram.errors import bad_request, conflict, forbidden
from simulators.telegram.markdown import parse_markdown_v2
from simulators.telegram.markup import check_markup, reply_keyboard_after
from simulators.telegram.params import Params
from simulators.telegram.state import Simulation
from simulators.telegram.text import PARSE_MODES, parse_html
from simulators.telegram.webhook import WebhookConfig
from simulators.telegram.world import Chat

MAX_TEXT_LENGTH = 4096
MAX_POLL_TIMEOUT = 50
"""getUpdates holds a long poll at most this long (the Bot API server caps ``timeout`` at 50
seconds: telegram-bot-api's Client::process getUpdates handling; a larger value is cut)."""
_SECRET = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Described:
    """A result whose envelope also carries a ``description`` ("Webhook was set")."""

    result: Any
    description: str


Handler = Callable[[Simulation, Params], Awaitable[Any]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for Bot API method ``name``; registering twice is an error."""
    def register(handler: Handler) -> Handler:
        key = name.lower()
        if key in METHODS:
            raise ValueError(f"Bot API method {name} registered twice")
        METHODS[key] = handler
        return handler
    return register


@method("getMe")
async def get_me(sim: Simulation, params: Params) -> Any:
    return sim.bot


# -- receiving updates ---------------------------------------------------------------------

@method("getUpdates")
async def get_updates(sim: Simulation, params: Params) -> Any:
    if sim.webhook is not None:
        raise conflict("can't use getUpdates method while webhook is active; "
                       "use deleteWebhook to delete the webhook first")
    offset = params.get_int("offset")
    limit = min(100, max(1, params.get_int("limit", 100) or 100))
    timeout = min(MAX_POLL_TIMEOUT, max(0, params.get_int("timeout", 0) or 0))
    queue = sim.queue
    queue.subscribe(params.string_list("allowed_updates"))
    token = queue.begin_poll()
    queue.confirm(offset)
    queue.expire()
    if not queue.pending and timeout > 0:
        outcome = await queue.wait(timeout, token)
        if outcome == "superseded":
            raise conflict("terminated by other getUpdates request; "
                           "make sure that only one bot instance is running")
        if sim.webhook is not None:
            return []
    return queue.take(limit)


@method("setWebhook")
async def set_webhook(sim: Simulation, params: Params) -> Any:
    url = (params.get_str("url") or "").strip()
    drop = params.get_bool("drop_pending_updates")
    if not url:
        return await delete_webhook(sim, params)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise bad_request("invalid webhook URL specified")
    secret = params.get_str("secret_token") or None
    if secret is not None:
        if len(secret) > 256:
            raise bad_request("secret token is too long")
        if not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
    # The real API silently keeps max_connections within 1..100.
    max_connections = min(100, max(1, params.get_int("max_connections", 40) or 40))
    config = WebhookConfig(url, secret, max_connections)
    already = sim.webhook is not None and sim.webhook.config == config
    await sim.set_webhook(config, params.string_list("allowed_updates"), drop)
    return Described(True, "Webhook is already set" if already else "Webhook was set")


@method("deleteWebhook")
async def delete_webhook(sim: Simulation, params: Params) -> Any:
    existed = sim.webhook is not None
    await sim.delete_webhook(params.get_bool("drop_pending_updates"))
    return Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")


@method("getWebhookInfo")
async def get_webhook_info(sim: Simulation, params: Params) -> Any:
    return sim.webhook_info()


# -- sending -------------------------------------------------------------------------------

@method("sendMessage")
async def send_message(sim: Simulation, params: Params) -> Any:
    chat = _chat(sim, params)
    text = params.get_str("text")
    if text is None or not text.strip():
        raise bad_request("message text is empty")
    entities = params.get_json("entities")
    parse_mode = params.get_str("parse_mode")
    if parse_mode:
        if parse_mode.lower() not in PARSE_MODES:
            raise bad_request(f"unsupported parse_mode \"{parse_mode}\"")
        if parse_mode.lower() in ("html", "markdownv2"):
            parse = parse_html if parse_mode.lower() == "html" else parse_markdown_v2
            text, entities = parse(text)
            entities = _mentions_resolved(sim, entities)
            if not text.strip():
                raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    reply_to, allow_without_reply = _reply_target(chat.id, params)
    thread_id = params.get_int("message_thread_id")
    # An administrator with can_manage_topics may post in a closed topic; anyone else gets
    # TOPIC_CLOSED (ChatAdministratorRights.can_manage_topics; closeForumTopic).
    admin = chat.bot_can_manage_topics
    sim.world.placement(chat.id, thread_id, reply_to, allow_without_reply,
                        may_post_closed=admin)
    markup = params.get_json("reply_markup")
    check_markup(markup, chat.kind == "private")
    if chat.kind == "private" and chat.id in sim.blocked_by:
        raise forbidden("bot was blocked by the user")
    sim.limiter.acquire(chat.id)
    content = {"reply_markup": markup} if isinstance(markup, dict) and (
        "inline_keyboard" in markup) else None
    message = sim.world.post(chat.id, sim.sender, text=text, entities=entities or None,
                             thread_id=thread_id, reply_to=reply_to,
                             allow_without_reply=allow_without_reply, content=content,
                             may_post_closed=admin)
    chat.reply_keyboard = reply_keyboard_after(markup, chat.reply_keyboard)
    sim.sent.append({"chat_id": chat.id, "message_id": message["message_id"],
                     "message_thread_id": message.get("message_thread_id"),
                     "is_topic_message": bool(message.get("is_topic_message")),
                     "reply_to_message_id": (message.get("reply_to_message") or {}).get(
                         "message_id"),
                     "text": text, "date": message["date"], "message": message,
                     "reply_markup": markup})
    return message


def _mentions_resolved(sim: Simulation, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text_mention`` entities with the mentioned user's whole ``User`` (``MessageEntity``:
    "For text_mention only, the mentioned user"); a user the bot cannot know is left
    unmentioned, as Telegram does (the text stays, the link goes)."""
    out: list[dict[str, Any]] = []
    for entity in entities:
        if entity["type"] == "text_mention":
            user = sim.world.users.get(int(entity["user"]["id"]))
            if user is None:
                continue
            entity = {**entity, "user": user}
        out.append(entity)
    return out


def _chat(sim: Simulation, params: Params) -> Chat:
    """The chat ``chat_id`` names: 400 ``chat not found`` when there is none, 403 when its
    members removed the bot (the real API's wording for a supergroup)."""
    chat = sim.world.chat(params.chat_id())
    if chat.id in sim.kicked_from:
        raise forbidden("bot was kicked from the supergroup chat")
    return chat


def _reply_target(chat_id: int, params: Params) -> tuple[int | None, bool]:
    """``reply_parameters`` (or the older ``reply_to_message_id``) as (message id, allow)."""
    reply = params.get_json("reply_parameters")
    if reply is None:
        return (params.get_int("reply_to_message_id"),
                params.get_bool("allow_sending_without_reply"))
    if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
        raise bad_request("can't parse reply parameters JSON object")
    other_chat = reply.get("chat_id")
    if other_chat is not None and other_chat != chat_id:
        raise bad_request("message to be replied not found")  # cross-chat replies: not simulated
    return int(reply["message_id"]), bool(reply.get("allow_sending_without_reply", False))


@method("answerCallbackQuery")
async def answer_callback_query(sim: Simulation, params: Params) -> Any:
    if not params.get_str("callback_query_id"):
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    return True


@method("getChatMember")
async def get_chat_member(sim: Simulation, params: Params) -> Any:
    """The bot itself: an administrator with the chat's ``bot_rights`` in a group (a
    ``ChatMemberAdministrator``), a member in a private chat; anyone else the driver made:
    a member."""
    chat = _chat(sim, params)
    user_id = params.get_int("user_id")
    if user_id is None:
        raise bad_request("invalid user_id specified")
    if user_id == sim.bot["id"]:
        if chat.kind == "private":
            return {"status": "member", "user": sim.sender}
        return {"status": "administrator", "user": sim.sender, **chat.bot_rights}
    user = sim.world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    return {"status": "member", "user": user}


# -- forum topics --------------------------------------------------------------------------
#
# Rights, as the Bot API documents each method (core.telegram.org/bots/api#createforumtopic
# and the next four): createForumTopic needs can_manage_topics; editForumTopic,
# closeForumTopic and reopenForumTopic need can_manage_topics "unless it is the creator of
# the topic"; deleteForumTopic needs can_delete_messages (with no such exemption in the
# documentation). The refusals are the server library's (TDLib ForumTopicManager) texts, which
# the Bot API passes through lower-cased: "not enough rights to create a topic", "... to edit
# the topic", "... to close or open the topic", "... to delete the topic". A topic that was
# deleted is TOPIC_ID_INVALID for the methods acting on it (``Chat.topic``).

@method("createForumTopic")
async def create_forum_topic(sim: Simulation, params: Params) -> Any:
    chat = sim.world.forum(_chat(sim, params).id)
    if not chat.bot_can_manage_topics:
        raise bad_request("not enough rights to create a topic")
    topic = sim.world.open_topic(chat.id, sim.sender, params.get_str("name") or "",
                                 icon_color=params.get_int("icon_color"),
                                 icon_custom_emoji_id=params.get_str("icon_custom_emoji_id"))
    sim.emit_message(topic.creation)
    return topic.forum_topic()


@method("editForumTopic")
async def edit_forum_topic(sim: Simulation, params: Params) -> Any:
    chat, thread_id = _managed_topic(sim, params, "edit the topic")
    message = sim.world.edit_topic(chat.id, thread_id, sim.sender,
                                   name=params.get_str("name"),
                                   icon_custom_emoji_id=params.get_str("icon_custom_emoji_id"))
    sim.emit_message(message)
    return True


@method("closeForumTopic")
async def close_forum_topic(sim: Simulation, params: Params) -> Any:
    chat, thread_id = _managed_topic(sim, params, "close or open the topic")
    sim.emit_message(sim.world.set_topic_closed(chat.id, thread_id, sim.sender, True))
    return True


@method("reopenForumTopic")
async def reopen_forum_topic(sim: Simulation, params: Params) -> Any:
    chat, thread_id = _managed_topic(sim, params, "close or open the topic")
    sim.emit_message(sim.world.set_topic_closed(chat.id, thread_id, sim.sender, False))
    return True


@method("deleteForumTopic")
async def delete_forum_topic(sim: Simulation, params: Params) -> Any:
    chat = sim.world.forum(_chat(sim, params).id)
    thread_id = _thread_id(params)
    if not chat.bot_can_delete:
        raise bad_request("not enough rights to delete the topic")
    sim.world.delete_topic(chat.id, thread_id)
    return True


def _managed_topic(sim: Simulation, params: Params, action: str) -> tuple[Chat, int]:
    """The forum and thread of a topic the bot may manage: it has ``can_manage_topics`` or
    it created the topic; else 400 ``not enough rights to <action>``."""
    chat = sim.world.forum(_chat(sim, params).id)
    thread_id = _thread_id(params)
    if not chat.bot_can_manage_topics:
        topic = chat.topics.get(thread_id)
        creator = None if topic is None else (topic.creation.get("from") or {}).get("id")
        if topic is not None and not topic.deleted and creator != sim.bot["id"]:
            raise bad_request(f"not enough rights to {action}")
    return chat, thread_id


@method("deleteMessage")
async def delete_message(sim: Simulation, params: Params) -> Any:
    message_id = params.get_int("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    sim.world.delete_message(_chat(sim, params).id, message_id)
    return True


def _thread_id(params: Params) -> int:
    thread_id = params.get_int("message_thread_id")
    if thread_id is None:
        raise bad_request("message thread not found")
    return thread_id
