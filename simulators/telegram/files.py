"""Files in the simulated Bot API: customers send them, the bot downloads them.

- ``POST /sim/files`` (chat_id, user_id, kind = photo|document|video|voice|audio|sticker,
  ``content`` base64 or ``size`` alone for a file too big to matter, file_name?, mime_type?,
  caption?, message_thread_id?) -> emitted: a message carrying the file the way Telegram
  shapes it (``photo``: an array of PhotoSize, a thumbnail first and the full size last;
  the other kinds one object with ``file_name``/``mime_type`` where Telegram gives them).
- ``getFile`` (file_id) answers the ``File`` with its ``file_path``; a file over 20 MB is
  refused ``Bad Request: file is too big`` ("bots can download files of up to 20MB in size",
  https://core.telegram.org/bots/api#getfile); an unknown id ``Bad Request: invalid
  file_id``.
- ``sendDocument`` / ``sendPhoto`` (chat_id, ``document``/``photo``: a ``multipart/form-data``
  upload or the ``file_id`` of a file Telegram has, caption?, message_thread_id?,
  reply_to_message_id?) post the bot's file into the chat like ``sendMessage`` (same placement,
  rights and pace); an upload over 50 MB (10 MB for a photo) is refused ``Request Entity Too
  Large`` ("Sending files": "10 MB max size for photos, 50 MB for other files",
  https://core.telegram.org/bots/api#sending-files); an unknown file_id is ``Bad Request: wrong
  file identifier/HTTP URL specified``.
- ``GET /file/bot<token>/<file_path>`` serves the bytes (404 for an unknown path or a wrong
  token), as ``https://api.telegram.org/file/bot<token>/<file_path>`` does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from simulators.telegram import bot_api, sim_api
from simulators.telegram.bot_api import _chat, _reply_target
from simulators.telegram.errors import BotApiError, bad_request, forbidden
from simulators.telegram.file_store import StoredFile
from simulators.telegram.params import Params
from simulators.telegram.state import Simulation

DOWNLOAD_MAX_BYTES = 20 * 1024 * 1024
KINDS = ("photo", "document", "video", "voice", "audio", "sticker")
_STORED_AS = {"photo": "image/jpeg", "sticker": "image/webp", "voice": "audio/ogg"}
"""How Telegram stores the kinds it re-encodes (photos as JPEG, stickers as WEBP, voice notes
as OGG/Opus)."""
_NAMED = {"document", "video", "audio"}
"""Kinds whose object carries ``file_name`` (Bot API: Document, Video, Audio)."""


@sim_api.route("POST", "/sim/files")
async def send_file(sim: Simulation, p: Params, _: web.Request) -> Any:
    user_id = p.get_int("user_id")
    if user_id is None:
        raise bad_request("user_id is required")
    sender = sim.world.user(user_id)
    kind = p.get_str("kind") or ""
    if kind not in KINDS:
        raise bad_request(f"kind must be one of {', '.join(KINDS)}")
    content = _content(p.get_str("content"))
    size = p.get_int("size")
    if content is None and size is None:
        raise bad_request("give content (base64) or size")
    mime, name = p.get_str("mime_type"), p.get_str("file_name")
    stored = sim.world_files.add(kind, content, size=size, mime_type=mime or _STORED_AS.get(kind),
                                 file_name=name)
    ids = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
           "file_size": stored.size}
    field: Any
    if kind == "photo":
        thumb = sim.world_files.add("photo", (content or b"")[:64] or b"thumb")
        field = [{"file_id": thumb.file_id, "file_unique_id": thumb.file_unique_id,
                  "file_size": thumb.size, "width": 90, "height": 90},
                 {**ids, "width": 1280, "height": 960}]
    elif kind == "sticker":
        field = {**ids, "type": "regular", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False}
    else:
        field = {**ids, **({"file_name": name} if name and kind in _NAMED else {}),
                 **({"mime_type": mime} if mime else {})}
        if kind in {"voice", "video", "audio"}:
            field["duration"] = p.get_int("duration", 3)
    extra: dict[str, Any] = {kind: field}
    caption = p.get_str("caption")
    if caption:
        extra["caption"] = caption
    chat_id = p.chat_id()
    if chat_id == sender["id"]:
        sim.world.create_private_chat(sender["id"])
    message = sim.world.post(chat_id, sender, thread_id=p.get_int("message_thread_id"),
                             content=extra)
    update_id = sim.emit_message(message)
    update = sim.queue.history.get(update_id) if update_id is not None else None
    return {"update_id": update_id, "message": message, "update": update}


@bot_api.method("getFile")
async def get_file(sim: Simulation, params: Params) -> Any:
    file_id = params.get_str("file_id")
    stored = sim.world_files.by_id.get(file_id or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > DOWNLOAD_MAX_BYTES:
        raise bad_request("file is too big")
    sim.world_files.path_of(stored)
    return stored.describe()


UPLOAD_MAX_BYTES = {"photo": 10 * 1024 * 1024, "document": 50 * 1024 * 1024}


@bot_api.method("sendDocument")
async def send_document(sim: Simulation, params: Params) -> Any:
    return await _send_file(sim, params, "document")


@bot_api.method("sendPhoto")
async def send_photo(sim: Simulation, params: Params) -> Any:
    return await _send_file(sim, params, "photo")


async def _send_file(sim: Simulation, params: Params, kind: str) -> Any:
    chat = _chat(sim, params)
    stored, name, mime = _uploaded(sim, params, kind)
    reply_to, allow_without_reply = _reply_target(chat.id, params)
    thread_id = params.get_int("message_thread_id")
    admin = chat.bot_can_manage_topics
    sim.world.placement(chat.id, thread_id, reply_to, allow_without_reply,
                        may_post_closed=admin)
    if chat.kind == "private" and chat.id in sim.blocked_by:
        raise forbidden("bot was blocked by the user")
    sim.limiter.acquire(chat.id)
    ids = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
           "file_size": stored.size}
    field: Any = ([{**ids, "width": 1280, "height": 960}] if kind == "photo" else
                  {**ids, **({"file_name": name} if name else {}),
                   **({"mime_type": mime} if mime else {})})
    extra: dict[str, Any] = {kind: field}
    caption = params.get_str("caption")
    if caption:
        extra["caption"] = caption
    message = sim.world.post(chat.id, sim.sender, thread_id=thread_id, reply_to=reply_to,
                             allow_without_reply=allow_without_reply, content=extra,
                             may_post_closed=admin)
    sim.sent.append({"chat_id": chat.id, "message_id": message["message_id"],
                     "message_thread_id": message.get("message_thread_id"),
                     "is_topic_message": bool(message.get("is_topic_message")),
                     "reply_to_message_id": (message.get("reply_to_message") or {}).get(
                         "message_id"),
                     "text": caption or "", "date": message["date"], "message": message,
                     "reply_markup": None, "file": {"kind": kind, "file_id": stored.file_id}})
    return message


def _uploaded(sim: Simulation, params: Params,
              kind: str) -> tuple[StoredFile, str | None, str | None]:
    """The file a send names: a multipart upload (stored now) or a known ``file_id``."""
    upload = params.uploads.get(kind)
    if upload is not None:
        content = upload.file.read()
        if len(content) > UPLOAD_MAX_BYTES[kind]:
            raise BotApiError(413, "Request Entity Too Large")
        mime = upload.content_type if kind == "document" else None
        name = upload.filename if kind == "document" else None
        return (sim.world_files.add(kind, content, mime_type=mime or _STORED_AS.get(kind),
                                    file_name=name), name, mime)
    stored = sim.world_files.by_id.get(params.get_str(kind) or "")
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored, None, None


def download_route(sim: Simulation) -> Any:
    """The handler of ``GET /file/bot{token}/{path}``."""
    async def download(request: web.Request) -> web.StreamResponse:
        stored = sim.world_files.by_path.get(request.match_info["path"])
        if request.match_info["token"] != sim.token or stored is None \
                or stored.content is None:
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        return web.Response(body=stored.content, content_type="application/octet-stream")
    return download


def _content(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("content is not base64") from None
