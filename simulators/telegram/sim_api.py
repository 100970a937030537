"""The driver's HTTP face, under ``/sim``: people act, tests observe, faults are armed.

Every answer uses the Bot API's envelope (``{"ok": true, "result": ...}`` or an error
envelope). Parameters are read like Bot API parameters (JSON body, form or query string).
An action that produces an update answers ``{"update_id", "message", "update"}``;
``update_id`` is ``null`` when ``allowed_updates`` keeps the bot from receiving that type.

=======  ===========================  =========================================================
method   path                         what
=======  ===========================  =========================================================
POST     /sim/users                   first_name, username?, phone?, language_code? -> User
POST     /sim/forums                  title, username? -> Chat (forum supergroup)
POST     /sim/private_chats           user_id -> Chat (private, the user with the bot)
POST     /sim/discussion_groups       title -> Chat (non-forum supergroup with a channel)
POST     /sim/channel_posts           chat_id (discussion group), text -> emitted
POST     /sim/topics                  chat_id, user_id, name, icon_color? -> emitted
GET      /sim/topics                  chat_id -> [topic state]
POST     /sim/topics/{action}         rename|close|reopen: chat_id, message_thread_id,
                                      user_id, name? -> emitted; delete -> topic state
POST     /sim/messages                chat_id, user_id, text, message_thread_id?,
                                      reply_to_message_id? -> emitted
POST     /sim/files                   chat_id, user_id, kind, content (base64) or size, ...
                                      -> emitted (a file message: ``simulators.telegram.files``)
POST     /sim/edits                   chat_id, message_id, text -> emitted (edited_message)
POST     /sim/contacts                chat_id, user_id, message_thread_id?,
                                      contact_user_id? (someone else's contact) -> emitted
POST     /sim/buttons                 chat_id, user_id, text -> emitted (the user presses
                                      a button of the chat's reply keyboard: its text as a
                                      message, or their own contact for request_contact)
GET      /sim/keyboards               chat_id -> the reply keyboard the chat shows, or null
POST     /sim/blocks                  user_id -> emitted (my_chat_member, status kicked)
POST     /sim/unblocks                user_id -> emitted (my_chat_member, status member)
POST     /sim/kicks                   chat_id, user_id -> emitted (my_chat_member: the user
                                      removed the bot from the group, status kicked)
POST     /sim/updates                 type, payload -> emitted (honours allowed_updates)
POST     /sim/raw_updates             update -> emitted (queued as is)
POST     /sim/redeliveries            update_id -> emitted (a second copy of that update)
GET      /sim/updates                 -> every update ever queued, oldest first
GET      /sim/sent                    chat_id? -> what the bot sent
GET      /sim/calls                   -> every Bot API call: method, params, answer
POST     /sim/bot_rights          chat_id, can_manage_topics?, can_delete_messages?, ...
                                      -> the bot's administrator rights in that group
POST     /sim/bot_settings            has_topics_enabled? -> the bot's User (getMe): topic
                                      mode in private chats (Bot API 9.3)
GET      /sim/webhook_log             -> webhook delivery attempts
GET      /sim/faults                  -> armed faults and latency
POST     /sim/faults                  count, status?, methods?, description?, retry_after?
POST     /sim/latency                 seconds
DELETE   /sim/faults                  clear faults and latency
GET      /sim/health                  -> true
=======  ===========================  =========================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulators.telegram.errors import BotApiError, bad_request, not_found
from simulators.telegram.markup import find_button
from simulators.telegram.params import Params, read_params
from simulators.telegram.state import Simulation
from simulators.telegram.world import BOT_ADMIN_RIGHTS

SimHandler = Callable[[Simulation, Params, web.Request], Awaitable[Any]]
ROUTES: dict[tuple[str, str], SimHandler] = {}


def route(verb: str, path: str) -> Callable[[SimHandler], SimHandler]:
    """Register a ``/sim`` endpoint; registering one twice is an error."""
    def register(handler: SimHandler) -> SimHandler:
        if (verb, path) in ROUTES:
            raise ValueError(f"{verb} {path} registered twice")
        ROUTES[(verb, path)] = handler
        return handler
    return register


def add_routes(app: web.Application, sim: Simulation) -> None:
    """Mount every ``/sim`` endpoint on ``app``."""
    for (verb, path), handler in ROUTES.items():
        app.router.add_route(verb, path, _wrap(sim, handler))


def _wrap(sim: Simulation, handler: SimHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            result = await handler(sim, await read_params(request), request)
        except BotApiError as exc:
            return web.json_response(exc.envelope(), status=exc.error_code)
        return web.json_response({"ok": True, "result": result})
    return handle


def _required_int(params: Params, name: str) -> int:
    value = params.get_int(name)
    if value is None:
        raise bad_request(f"{name} is empty")
    return value


def _required_str(params: Params, name: str) -> str:
    value = params.get_str(name)
    if not value:
        raise bad_request(f"{name} is empty")
    return value


def _emitted(sim: Simulation, update_id: int | None,
             message: dict[str, Any] | None) -> dict[str, Any]:
    update = sim.queue.history.get(update_id) if update_id is not None else None
    return {"update_id": update_id, "message": message, "update": update}


# -- people and chats ----------------------------------------------------------------------

@route("POST", "/sim/users")
async def create_user(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.world.create_user(_required_str(p, "first_name"), p.get_str("username"),
                                 p.get_str("phone"), p.get_str("language_code", "en"),
                                 p.get_str("last_name"))


@route("POST", "/sim/forums")
async def create_forum(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.world.create_forum(_required_str(p, "title"), p.get_str("username"))


@route("POST", "/sim/private_chats")
async def create_private_chat(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.world.create_private_chat(_required_int(p, "user_id"))


@route("POST", "/sim/discussion_groups")
async def create_discussion_group(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.world.create_discussion_group(_required_str(p, "title"))


@route("POST", "/sim/channel_posts")
async def channel_post(sim: Simulation, p: Params, _: web.Request) -> Any:
    message = sim.world.channel_post(_required_int(p, "chat_id"), _required_str(p, "text"))
    return _emitted(sim, sim.emit_message(message), message)


# -- messages ------------------------------------------------------------------------------

@route("POST", "/sim/messages")
async def write(sim: Simulation, p: Params, _: web.Request) -> Any:
    sender = sim.world.user(_required_int(p, "user_id"))
    text = p.get_str("text")
    if text is None or not text.strip():
        raise bad_request("message text is empty")
    chat_id = p.chat_id()
    if chat_id == sender["id"]:
        sim.world.create_private_chat(sender["id"])  # writing to the bot opens the chat
    entities = p.get_json("entities")
    message = sim.world.post(chat_id, sender, text=text,
                             entities=entities if isinstance(entities, list) else None,
                             thread_id=p.get_int("message_thread_id"),
                             reply_to=p.get_int("reply_to_message_id"))
    return _emitted(sim, sim.emit_message(message), message)


@route("POST", "/sim/edits")
async def edit(sim: Simulation, p: Params, _: web.Request) -> Any:
    message = sim.world.edit(p.chat_id(), _required_int(p, "message_id"),
                             p.get_str("text") or "")
    return _emitted(sim, sim.emit_message(message, edited=True), message)


@route("POST", "/sim/contacts")
async def share_contact(sim: Simulation, p: Params, _: web.Request) -> Any:
    user_id = _required_int(p, "user_id")
    contact = sim.world.contact_of(p.get_int("contact_user_id") or user_id)
    message = sim.world.post(p.chat_id(), sim.world.user(user_id),
                             thread_id=p.get_int("message_thread_id"),
                             content={"contact": contact})
    return _emitted(sim, sim.emit_message(message), message)


@route("POST", "/sim/buttons")
async def press_button(sim: Simulation, p: Params, _: web.Request) -> Any:
    user = sim.world.user(_required_int(p, "user_id"))
    chat = sim.world.chat(p.chat_id())
    text = _required_str(p, "text")
    keyboard = chat.reply_keyboard
    button = find_button(keyboard, text) if keyboard is not None else None
    if button is None:
        raise bad_request("the chat shows no reply keyboard button with that text")
    if button.get("request_contact"):  # the client sends the user's own contact
        content: dict[str, Any] = {"contact": sim.world.contact_of(user["id"])}
        message = sim.world.post(chat.id, user, content=content)
    else:
        message = sim.world.post(chat.id, user, text=text)
    return _emitted(sim, sim.emit_message(message), message)


@route("GET", "/sim/keyboards")
async def reply_keyboard(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.world.chat(p.chat_id()).reply_keyboard


# -- topics --------------------------------------------------------------------------------

@route("POST", "/sim/topics")
async def open_topic(sim: Simulation, p: Params, _: web.Request) -> Any:
    sender = sim.world.user(_required_int(p, "user_id"))
    topic = sim.world.open_topic(p.chat_id(), sender, p.get_str("name") or "",
                                 icon_color=p.get_int("icon_color"))
    return _emitted(sim, sim.emit_message(topic.creation), topic.creation)


@route("GET", "/sim/topics")
async def list_topics(sim: Simulation, p: Params, _: web.Request) -> Any:
    return [topic.state() for topic in sim.world.forum(p.chat_id()).topics.values()]


@route("POST", "/sim/topics/{action}")
async def topic_action(sim: Simulation, p: Params, request: web.Request) -> Any:
    action = request.match_info["action"]
    chat_id, thread_id = p.chat_id(), _required_int(p, "message_thread_id")
    sender = sim.world.user(_required_int(p, "user_id"))
    if action == "delete":
        return sim.world.delete_topic(chat_id, thread_id).state()
    if action == "rename":
        message = sim.world.edit_topic(chat_id, thread_id, sender,
                                       name=_required_str(p, "name"))
    elif action in ("close", "reopen"):
        message = sim.world.set_topic_closed(chat_id, thread_id, sender, action == "close")
    else:
        raise not_found()
    return _emitted(sim, sim.emit_message(message), message)


# -- other updates -------------------------------------------------------------------------

@route("POST", "/sim/blocks")
async def block_bot(sim: Simulation, p: Params, _: web.Request) -> Any:
    return _member_change(sim, _required_int(p, "user_id"), blocked=True)


@route("POST", "/sim/unblocks")
async def unblock_bot(sim: Simulation, p: Params, _: web.Request) -> Any:
    return _member_change(sim, _required_int(p, "user_id"), blocked=False)


def _member_change(sim: Simulation, user_id: int, *, blocked: bool) -> dict[str, Any]:
    """A user blocks (or unblocks) the bot: ``my_chat_member`` in their private chat."""
    user = sim.world.user(user_id)
    chat = sim.world.create_private_chat(user_id)
    (sim.blocked_by.add if blocked else sim.blocked_by.discard)(user_id)
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    new_member: dict[str, Any] = {"status": new, "user": sim.sender}
    if blocked:
        new_member["until_date"] = 0
    old_member: dict[str, Any] = {"status": old, "user": sim.sender}
    if not blocked:  # ChatMemberBanned: until_date is required (0: forever)
        old_member["until_date"] = 0
    body = {"chat": chat, "from": user, "date": sim.world.now(),
            "old_chat_member": old_member, "new_chat_member": new_member}
    return _emitted(sim, sim.queue.add("my_chat_member", body), None)


@route("POST", "/sim/kicks")
async def kick_bot(sim: Simulation, p: Params, _: web.Request) -> Any:
    """A member removes the bot from a group: ``my_chat_member`` (administrator -> kicked),
    the last update the bot gets from that group."""
    user = sim.world.user(_required_int(p, "user_id"))
    chat = sim.world.chat(p.chat_id())
    if chat.kind not in ("forum", "discussion"):
        raise bad_request("the bot can be removed only from a group here")
    if chat.id in sim.kicked_from:
        raise bad_request("the bot is not a member of the chat")
    body = {"chat": chat.info, "from": user, "date": sim.world.now(),
            "old_chat_member": {"status": "administrator", "user": sim.sender,
                                **chat.bot_rights},
            "new_chat_member": {"status": "kicked", "user": sim.sender, "until_date": 0}}
    sim.kicked_from.add(chat.id)
    return _emitted(sim, sim.queue.add("my_chat_member", body), None)




@route("POST", "/sim/updates")
async def emit(sim: Simulation, p: Params, _: web.Request) -> Any:
    payload = p.get_json("payload")
    if not isinstance(payload, dict):
        raise bad_request("payload must be a JSON object")
    return _emitted(sim, sim.queue.add(_required_str(p, "type"), payload), None)


@route("POST", "/sim/raw_updates")
async def emit_raw(sim: Simulation, p: Params, _: web.Request) -> Any:
    update = p.get_json("update")
    if not isinstance(update, dict):
        raise bad_request("update must be a JSON object")
    return _emitted(sim, sim.queue.add_raw(update), None)


@route("POST", "/sim/redeliveries")
async def redeliver(sim: Simulation, p: Params, _: web.Request) -> Any:
    update_id = _required_int(p, "update_id")
    try:
        sim.queue.replay(update_id)
    except KeyError as exc:
        raise bad_request("update not found") from exc
    except ValueError as exc:
        raise bad_request("the update is still pending") from exc
    return _emitted(sim, update_id, None)


# -- observation and faults ----------------------------------------------------------------

@route("GET", "/sim/updates")
async def history(sim: Simulation, p: Params, _: web.Request) -> Any:
    return list(sim.queue.history.values())


@route("GET", "/sim/sent")
async def sent(sim: Simulation, p: Params, _: web.Request) -> Any:
    chat_id = p.get_int("chat_id")
    return [m for m in sim.sent if chat_id is None or m["chat_id"] == chat_id]


@route("GET", "/sim/calls")
async def calls(sim: Simulation, p: Params, _: web.Request) -> Any:
    return list(sim.calls)


@route("GET", "/sim/deleted")
async def deleted(sim: Simulation, p: Params, _: web.Request) -> Any:
    return list(sim.world.chat(p.chat_id()).deleted)


@route("POST", "/sim/bot_rights")
async def bot_rights(sim: Simulation, p: Params, _: web.Request) -> Any:
    """Set any of the bot's administrator rights in a group (the ``can_*`` names of
    ``ChatMemberAdministrator``); rights not named keep their value."""
    chat = sim.world.chat(p.chat_id())
    for name in BOT_ADMIN_RIGHTS:
        if name.startswith("can_") and p.get_str(name) is not None:
            chat.bot_rights[name] = bool(p.get_bool(name))
    return {"chat_id": chat.id, **chat.bot_rights}


@route("POST", "/sim/bot_settings")
async def bot_settings(sim: Simulation, p: Params, _: web.Request) -> Any:
    """Turn the bot's topic mode in private chats on or off (``has_topics_enabled``, as
    BotFather's threaded mode does); ``getMe`` shows it."""
    if p.get_str("has_topics_enabled") is not None:
        sim.bot["has_topics_enabled"] = bool(p.get_bool("has_topics_enabled"))
    return sim.bot


@route("GET", "/sim/webhook_log")
async def webhook_log(sim: Simulation, p: Params, _: web.Request) -> Any:
    return list(sim.webhook_log)


@route("GET", "/sim/faults")
async def faults(sim: Simulation, p: Params, _: web.Request) -> Any:
    return sim.faults.state()


@route("POST", "/sim/faults")
async def arm_fault(sim: Simulation, p: Params, _: web.Request) -> Any:
    try:
        sim.faults.fail_next(_required_int(p, "count"), p.get_int("status", 500) or 500,
                             methods=p.string_list("methods"),
                             description=p.get_str("description"),
                             retry_after=p.get_int("retry_after"))
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
    return sim.faults.state()


@route("POST", "/sim/latency")
async def set_latency(sim: Simulation, p: Params, _: web.Request) -> Any:
    seconds = p.get_str("seconds") or "0"
    try:
        sim.faults.latency = max(0.0, float(seconds))
    except ValueError as exc:
        raise bad_request("invalid seconds specified") from exc
    return sim.faults.state()


@route("DELETE", "/sim/faults")
async def clear_faults(sim: Simulation, p: Params, _: web.Request) -> Any:
    sim.faults.clear()
    return sim.faults.state()


@route("GET", "/sim/health")
async def health(sim: Simulation, p: Params, _: web.Request) -> Any:
    return True
