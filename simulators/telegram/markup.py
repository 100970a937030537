"""``reply_markup`` as the Bot API checks it, and the reply keyboards a chat shows.

A ``reply_markup`` is exactly one of ``InlineKeyboardMarkup`` (``inline_keyboard``),
``ReplyKeyboardMarkup`` (``keyboard``), ``ReplyKeyboardRemove`` (``remove_keyboard: true``)
or ``ForceReply`` (``force_reply: true``). A reply keyboard stays on the user's screen until
the bot sends another one or removes it; :func:`reply_keyboard_after` says what a chat shows
after a message. A ``KeyboardButton`` is a string or an object with ``text`` and at most one
of ``request_contact``, ``request_location``, ``request_poll``, ``request_users``,
``request_chat``, ``web_app``; the ``request_*`` kinds exist in private chats only.

Descriptions follow the real API where they are known ("can't parse reply keyboard markup
JSON object", "field \\"keyboard\\" of the ReplyKeyboardMarkup must be an Array of Arrays",
"can't parse keyboard button"); the others are best guesses, marked below.
"""

from __future__ import annotations

from typing import Any

from simulators.telegram.errors import bad_request

_KINDS = ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply")
_SPECIAL = ("request_contact", "request_location", "request_poll", "request_users",
            "request_chat", "web_app")
_PRIVATE_ONLY = ("request_contact", "request_location", "request_users", "request_chat")


def check_markup(markup: Any, private_chat: bool) -> None:
    """Raise the Bot API's 400 for a ``reply_markup`` it would refuse."""
    if markup is None:
        return
    if not isinstance(markup, dict) or sum(k in markup for k in _KINDS) != 1:
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        if not _rows(markup["inline_keyboard"]):
            raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be "
                              "an Array of Arrays")
        return
    if "remove_keyboard" in markup:
        if markup["remove_keyboard"] is not True:
            raise bad_request("can't parse reply keyboard markup JSON object")
        return
    if "force_reply" in markup:
        if markup["force_reply"] is not True:
            raise bad_request("can't parse reply keyboard markup JSON object")
        return
    rows = markup["keyboard"]
    if not _rows(rows):
        raise bad_request("field \"keyboard\" of the ReplyKeyboardMarkup must be an Array of "
                          "Arrays")
    for row in rows:
        for button in row:
            _check_button(button, private_chat)
    placeholder = markup.get("input_field_placeholder")
    if placeholder is not None and not (isinstance(placeholder, str)
                                        and 1 <= len(placeholder) <= 64):
        raise bad_request("input field placeholder must be 1-64 characters")  # best guess


def _rows(rows: Any) -> bool:
    return isinstance(rows, list) and all(isinstance(row, list) for row in rows)


def _check_button(button: Any, private_chat: bool) -> None:
    if isinstance(button, str):
        if not button:
            raise bad_request("keyboard button text is empty")  # best guess
        return
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse keyboard button: Field \"text\" must be of type String")
    if not button["text"]:
        raise bad_request("keyboard button text is empty")  # best guess
    special = [k for k in _SPECIAL if button.get(k) not in (None, False)]
    if len(special) > 1:
        raise bad_request("can't parse keyboard button: only one of the optional fields may "
                          "be used")  # best guess
    if special and special[0] in _PRIVATE_ONLY and not private_chat:
        raise bad_request(f"keyboard button {special[0]} is allowed only in private "
                          "chats")  # best guess


def reply_keyboard_after(markup: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply keyboard a chat shows after a message with ``markup`` (checked already)."""
    if not isinstance(markup, dict):
        return current
    if "keyboard" in markup:
        return markup
    if markup.get("remove_keyboard"):
        return None
    return current


def find_button(keyboard: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The button of ``keyboard`` whose text is ``text`` (as an object)."""
    for row in keyboard.get("keyboard", []):
        for button in row:
            one = {"text": button} if isinstance(button, str) else button
            if one.get("text") == text:
                return dict(one)
    return None
