"""``parse_mode="MarkdownV2"``: Telegram's markup parsed into plain text and entities.

The rules, from the Bot API's "MarkdownV2 style" (core.telegram.org/bots/api#markdownv2-style):

- ``*bold*``, ``_italic_``, ``__underline__``, ``~strikethrough~``, ``||spoiler||``,
  ``[text](url)`` (``tg://user?id=N``: a ``text_mention``), ```` `code` ````, ```` ```pre``` ````
  (an optional language on the opening line), and ``>`` at the start of a line for a
  ``blockquote``;
- "Any character with code between 1 and 126 inclusively can be escaped anywhere with a
  preceding '\\' character"; inside ``pre`` and ``code`` only `````` ` `````` and ``\\`` are
  escaped, inside the ``(...)`` of a link only ``)`` and ``\\``;
- the characters ``_ * [ ] ( ) ~ ` > # + - = | { } . !`` are reserved: outside markup they
  must be escaped, else the message is refused.

Refusals use the Bot API's wording (the server library's parser): ``can't parse entities:
Character 'X' is reserved and must be escaped with the preceding '\\'`` and ``can't parse
entities: Can't find end of <Kind> entity at byte offset N``. Custom emoji and date-time
entities are not simulated.
"""

from __future__ import annotations

from typing import Any

from simulators.telegram.errors import BotApiError, bad_request

RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_TOGGLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough",
            "||": "spoiler"}
_KIND_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline",
               "strikethrough": "Strikethrough", "spoiler": "Spoiler", "text_link": "TextUrl",
               "code": "Code", "pre": "Pre"}


class _Parser:
    def __init__(self, markup: str) -> None:
        self.src = markup
        self.i = 0
        self.out: list[str] = []
        self.units = 0  # UTF-16 length of ``out``
        self.entities: list[dict[str, Any]] = []
        self.open: list[tuple[str, int, int]] = []  # (kind, utf-16 start, source index)
        self.quote_start: int | None = None

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.units += len(text.encode("utf-16-le")) // 2

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.units > start:
            self.entities.append({"type": kind, "offset": start, "length": self.units - start,
                                  **extra})

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode())

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        src = self.src
        while self.i < len(src):
            c = src[self.i]
            at_line_start = self.i == 0 or src[self.i - 1] == "\n"
            if c == "\\" and self.i + 1 < len(src) and 0 < ord(src[self.i + 1]) < 127:
                self.emit(src[self.i + 1])
                self.i += 2
            elif c == ">" and at_line_start:
                if self.quote_start is None:
                    self.quote_start = self.units
                self.i += 1
            elif c == "\n":
                nxt = src[self.i + 1] if self.i + 1 < len(src) else ""
                if self.quote_start is not None and nxt != ">":
                    self.entity("blockquote", self.quote_start)
                    self.quote_start = None
                self.emit(c)
                self.i += 1
            elif c == "`":
                self.code()
            elif c == "[":
                self.open.append(("text_link", self.units, self.i))
                self.i += 1
            elif c == "]":
                self.link_end()
            elif c in "*_~|":
                self.toggle(c)
            elif c in RESERVED:
                raise _reserved(c)
            else:
                self.emit(c)
                self.i += 1
        if self.open:
            kind, _, index = self.open[-1]
            raise _unclosed(kind, self.byte_offset(index))
        if self.quote_start is not None:
            self.entity("blockquote", self.quote_start)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def toggle(self, c: str) -> None:
        src = self.src
        marker = c
        if c in "_|" and src.startswith(c * 2, self.i):
            top = self.open[-1][0] if self.open else None
            # "___" closing italic inside underline and the like: an open italic takes one
            if not (c == "_" and top == "italic"):
                marker = c * 2
        if marker == "|":
            raise _reserved(c)
        kind = _TOGGLES[marker]
        if self.open and self.open[-1][0] == kind:
            _, start, _ = self.open.pop()
            self.entity(kind, start)
        elif any(k == kind for k, _, _ in self.open):
            raise _unclosed(self.open[-1][0], self.byte_offset(self.open[-1][2]))
        else:
            self.open.append((kind, self.units, self.i))
        self.i += len(marker)

    def code(self) -> None:
        src, start_index = self.src, self.i
        fence = "```" if src.startswith("```", self.i) else "`"
        self.i += len(fence)
        language = ""
        if fence == "```":
            line_end = src.find("\n", self.i)
            first = src[self.i:line_end] if line_end >= 0 else ""
            if line_end >= 0 and first and " " not in first and "`" not in first:
                language, self.i = first, line_end + 1
        start = self.units
        while True:
            if self.i >= len(src):
                raise _unclosed("pre" if fence == "```" else "code",
                                self.byte_offset(start_index))
            if src.startswith(fence, self.i):
                break
            c = src[self.i]
            if c == "\\" and self.i + 1 < len(src) and src[self.i + 1] in "`\\":
                self.emit(src[self.i + 1])
                self.i += 2
            else:
                self.emit(c)
                self.i += 1
        self.i += len(fence)
        if fence == "```":
            self.entity("pre", start, **({"language": language} if language else {}))
        else:
            self.entity("code", start)

    def link_end(self) -> None:
        src = self.src
        if not self.open or self.open[-1][0] != "text_link":
            raise _reserved("]")
        _, start, _ = self.open.pop()
        if not src.startswith("(", self.i + 1):
            raise _reserved("]")
        self.i += 2
        url: list[str] = []
        while self.i < len(src) and src[self.i] != ")":
            if src[self.i] == "\\" and self.i + 1 < len(src):
                self.i += 1
            url.append(src[self.i])
            self.i += 1
        if self.i >= len(src):
            raise _unclosed("text_link", self.byte_offset(self.i))
        self.i += 1
        target = "".join(url)
        if target.startswith("tg://user?id="):
            user_id = target.split("=", 1)[1]
            self.entity("text_mention", start,
                        user={"id": int(user_id) if user_id.isdigit() else 0})
        else:
            self.entity("text_link", start, url=target)


def parse_markdown_v2(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2: plain text and its entities, or a 400 for bad markup."""
    return _Parser(markup).parse()


def _reserved(c: str) -> BotApiError:
    return bad_request(f"can't parse entities: Character '{c}' is reserved and must be "
                       "escaped with the preceding '\\'")


def _unclosed(kind: str, byte_offset: int) -> BotApiError:
    return bad_request(f"can't parse entities: Can't find end of {_KIND_NAMES[kind]} entity "
                       f"at byte offset {byte_offset}")
