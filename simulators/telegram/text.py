"""Message text the way Telegram measures and marks it up.

- Entity ``offset``/``length`` count UTF-16 code units, as the Bot API specifies.
- Text without explicit entities gets the ones Telegram detects by itself: ``url``,
  ``email``, ``bot_command``, ``mention``, ``hashtag``.
- ``parse_mode="HTML"`` is parsed into plain text plus entities with Telegram's tag set;
  malformed markup is refused with ``Bad Request: can't parse entities: ...``.
  ``MarkdownV2`` is parsed in :mod:`simulators.telegram.markdown`; the legacy ``Markdown`` is
  accepted but kept verbatim (a documented gap).
"""

from __future__ import annotations

import html
import re
from typing import Any

from simulators.telegram.errors import bad_request

PARSE_MODES = {"html", "markdown", "markdownv2"}

_DETECT = [
    ("url", re.compile(r"https?://[^\s<>\"]+")),
    ("email", re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{4,31}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w+")),
]

_SIMPLE_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic",
                "u": "underline", "ins": "underline", "s": "strikethrough",
                "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
                "code": "code", "pre": "pre", "blockquote": "blockquote"}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^>]*)?)\s*/?>")
_ATTR = re.compile(r"""([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram attaches to plain text on its own, sorted by offset."""
    found: list[tuple[int, int, str]] = []
    taken: list[range] = []
    for kind, pattern in _DETECT:
        for match in pattern.finditer(text):
            span = range(match.start(), match.end())
            if any(span.start < t.stop and t.start < span.stop for t in taken):
                continue
            taken.append(span)
            found.append((match.start(), match.end(), kind))
    found.sort()
    return [{"offset": utf16_len(text[:start]), "length": utf16_len(text[start:end]),
             "type": kind} for start, end, kind in found]


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML style: plain text and its entities, or a 400 for bad markup."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, Any]]] = []
    pos = 0

    def emit(chunk: str) -> None:
        out.append(html.unescape(chunk))

    while pos < len(markup):
        lt = markup.find("<", pos)
        if lt < 0:
            emit(markup[pos:])
            break
        emit(markup[pos:lt])
        match = _TAG.match(markup, lt)
        byte_offset = len(markup[:lt].encode())
        if match is None:
            raise _cant_parse(f"Unsupported start tag at byte offset {byte_offset}")
        closing, name, attrs = match.group(1) == "/", match.group(2).lower(), match.group(3)
        offset = utf16_len("".join(out))
        if closing:
            if not stack or stack[-1][0] != name:
                expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                raise _cant_parse(f"Unmatched end tag at byte offset {byte_offset}, "
                                  f'expected {expected}, found "</{name}>"')
            _, start, entity = stack.pop()
            entity.update(offset=start, length=offset - start)
            if entity["length"] > 0 and entity["type"] != "_merged":
                entities.append(entity)
        else:
            entity = _entity_for(name, attrs, byte_offset)
            if entity["type"] == "pre" and stack and stack[-1][0] == "pre" and name == "code":
                stack[-1][2]["language"] = entity["language"]  # <pre><code class=...>
                entity = {"type": "_merged"}
            stack.append((name, offset, entity))
        pos = match.end()
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity_for(name: str, attrs: str, byte_offset: int) -> dict[str, Any]:
    values = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
              for m in _ATTR.finditer(attrs)}
    if name == "a":
        href = values.get("href", "")
        if href.startswith("tg://user?id="):
            return {"type": "text_mention", "user": {"id": int(href.split("=", 1)[1] or 0)}}
        return {"type": "text_link", "url": href}
    if name == "span" and values.get("class") == "tg-spoiler":
        return {"type": "spoiler"}
    if name == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    if name in _SIMPLE_TAGS:
        entity: dict[str, Any] = {"type": _SIMPLE_TAGS[name]}
        language = values.get("class", "")
        if name == "code" and language.startswith("language-"):
            entity = {"type": "pre", "language": language.removeprefix("language-")}
        return entity
    raise _cant_parse(f'Unsupported start tag "{name}" at byte offset {byte_offset}')


def _cant_parse(detail: str) -> Exception:
    return bad_request(f"can't parse entities: {detail}")
