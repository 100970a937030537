"""Reading Bot API parameters the way Telegram accepts them.

A method's parameters may come in the query string, a JSON body, a form-encoded body or a
multipart body, and they are merged (body wins). In a form or query string every value is a
string, so structured parameters (``reply_parameters``, ``allowed_updates``, ``entities``)
arrive JSON-serialized and numbers arrive as digits; :class:`Params` decodes both spellings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from simulators.telegram.errors import bad_request

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


async def read_params(request: web.Request) -> Params:
    """Merge the query string and the body of ``request`` into :class:`Params`."""
    merged: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise bad_request("can't parse JSON object") from exc
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON object")
                merged.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            merged.update({k: v for k, v in form.items() if isinstance(v, str)})
            return Params(merged, uploads={k: v for k, v in form.items()
                                           if isinstance(v, web.FileField)})
    return Params(merged)


class Params:
    """Typed access to one call's parameters; a bad value is a 400 like Telegram's."""

    def __init__(self, raw: Mapping[str, Any],
                 uploads: Mapping[str, web.FileField] | None = None) -> None:
        self.raw = dict(raw)
        self.uploads = dict(uploads or {})
        """Files posted as ``multipart/form-data`` parts, by field name."""

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        raise bad_request(f"invalid {name} specified")

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad_request(f"invalid {name} specified")

    def get_json(self, name: str) -> Any:
        """A structured parameter: a JSON value, or a string holding JSON."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {name} JSON object") from exc
        return value

    def chat_id(self) -> int | str:
        """``chat_id``: an integer id or an ``@username``."""
        value = self.raw.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.strip().startswith("@"):
            return value.strip()
        chat_id = self.get_int("chat_id")
        if chat_id is None:
            raise bad_request("chat_id is empty")
        return chat_id

    def string_list(self, name: str) -> list[str] | None:
        """A list of strings such as ``allowed_updates``; ``None`` when absent."""
        value = self.get_json(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request(f"can't parse {name} JSON array")
        return list(value)
