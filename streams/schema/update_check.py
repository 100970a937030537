"""The one check of a raw Telegram update, at the door (webhook and long polling).

An update is accepted when the worker will fold it: it is parsed by the worker's own JSON parser
(pydantic-core: strict UTF-8, lone surrogates such as ``"\\ud83d"`` refused, no ``NaN``) and
validated by the worker's own model (:class:`streams.schema.telegram.Update`, with Telegram's
bounds from :mod:`streams.schema.telegram_bounds`), and nests at most ``MAX_DEPTH`` levels.
Unknown update types and unknown fields are accepted (the models keep them; the raw topic keeps
the bytes). A refusal is an :class:`UpdateRefused` naming its reason:

- ``not_json``: not JSON text (in UTF-8, or UTF-16/32 as RFC 8259 allows detecting);
- ``bad_string``: a string that is not valid Unicode (a lone surrogate);
- ``too_deep``: nested deeper than ``MAX_DEPTH``;
- ``not_an_update``: not an object with an integer ``update_id``;
- ``invalid_update``: a field the worker reads has the wrong type or is out of Telegram's bounds
  (a 65-bit chat id, a message without ``chat``);
- ``too_large``: longer than the caller's byte limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from streams.schema.telegram import Update
from streams.schema.telegram_bounds import MAX_DEPTH

_BOM = b"\xef\xbb\xbf"


class UpdateRefused(ValueError):
    """The update would not fold; ``reason`` is a short machine-readable cause (a metric label),
    ``detail`` says where (never the update's contents)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class CheckedUpdate:
    """An accepted update: ``body`` its UTF-8 JSON (the received bytes when they were UTF-8),
    ``update`` the parsed object."""

    body: bytes
    update: dict[str, Any]


def check_body(body: bytes, *, max_bytes: int | None = None,
               max_depth: int = MAX_DEPTH) -> CheckedUpdate:
    """Parse and validate one update received as bytes, or raise :class:`UpdateRefused`."""
    if max_bytes is not None and len(body) > max_bytes:
        raise UpdateRefused("too_large", f"{len(body)} bytes, limit {max_bytes}")
    text = _utf8(body)
    try:
        update = from_json(text, allow_inf_nan=False)
    except ValueError as exc:
        raise UpdateRefused(_parse_reason(str(exc)), str(exc)) from None
    if not isinstance(update, dict) or type(update.get("update_id")) is not int:
        raise UpdateRefused("not_an_update", "not an object with an integer update_id")
    # Nesting needs an object or array opened at each level, so a body with no more brackets
    # than the limit (an update has about ten) cannot be too deep: the walk is skipped.
    if text.count(b"{") + text.count(b"[") > max_depth:
        depth = nesting(update)
        if depth > max_depth:
            raise UpdateRefused("too_deep", f"{depth} levels, limit {max_depth}")
    try:
        Update.model_validate_json(text)
    except ValidationError as exc:  # never str(exc): it quotes the input
        raise UpdateRefused("invalid_update", _summary(exc)) from None
    return CheckedUpdate(text, update)


def check_object(update: object, *, max_bytes: int | None = None,
                 max_depth: int = MAX_DEPTH) -> CheckedUpdate:
    """The same check for an update already decoded (``getUpdates`` results): encoded as JSON
    first, so a lone surrogate decoded by a lenient parser is refused like in a body."""
    depth = nesting(update)
    if depth > max_depth:
        raise UpdateRefused("too_deep", f"{depth} levels, limit {max_depth}")
    try:
        body = json.dumps(update, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, TypeError) as exc:
        raise UpdateRefused("not_json", str(exc)[:200]) from None
    return check_body(body, max_bytes=max_bytes, max_depth=max_depth)


def nesting(value: object) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _utf8(body: bytes) -> bytes:
    """``body`` as UTF-8 without a byte order mark (RFC 8259 section 8.1)."""
    if body.startswith(_BOM):
        return body[len(_BOM):]
    encoding = json.detect_encoding(body)
    if encoding == "utf-8":
        return body
    try:
        return body.decode(encoding).encode("utf-8")
    except UnicodeError:
        raise UpdateRefused("not_json", f"not valid {encoding}") from None


def _parse_reason(message: str) -> str:
    if "recursion limit" in message:
        return "too_deep"
    if "surrogate" in message or "hex escape" in message or "unicode" in message:
        return "bad_string"
    return "not_json"


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                     for e in exc.errors()[:3])
