"""The Bot API client's typed errors: Telegram's envelope read once into an exception class."""

from __future__ import annotations

import pytest

from connectors.errors import PermanentError, TransientError
from connectors.telegram.bot_api import (
    BadRequest,
    BotBlocked,
    ChatNotFound,
    Conflict,
    Forbidden,
    MessageNotModified,
    TelegramApiError,
    TelegramServerError,
    TooManyRequests,
    TopicClosed,
    TopicDeleted,
    TopicNotModified,
    api_error,
)


@pytest.mark.parametrize(("code", "description", "kind"), [
    (400, "Bad Request: TOPIC_CLOSED", TopicClosed),
    (400, "Bad Request: TOPIC_DELETED", TopicDeleted),
    (400, "Bad Request: message thread not found", TopicDeleted),
    (400, "Bad Request: TOPIC_NOT_MODIFIED", TopicNotModified),
    (400, "Bad Request: message is not modified: specified new message content and reply "
          "markup are exactly the same", MessageNotModified),
    (400, "Bad Request: chat not found", ChatNotFound),
    (400, "Bad Request: message text is empty", BadRequest),
    (403, "Forbidden: bot was blocked by the user", BotBlocked),
    (403, "Forbidden: bot was kicked from the supergroup chat", Forbidden),
    (409, "Conflict: can't use getUpdates method while webhook is active", Conflict),
    (404, "Not Found", TelegramApiError),
])
def test_refusals_are_typed_and_permanent(code: int, description: str,
                                          kind: type[TelegramApiError]) -> None:
    error = api_error("sendMessage", code, description)
    assert type(error) is kind and isinstance(error, PermanentError)
    assert (error.error_code, error.description) == (code, description)


def test_flood_control_carries_retry_after_and_is_transient() -> None:
    error = api_error("sendMessage", 429, "Too Many Requests: retry after 5",
                      {"retry_after": 5})
    assert isinstance(error, TooManyRequests) and isinstance(error, TransientError)
    assert error.retry_after == 5.0
    assert api_error("sendMessage", 429, "Too Many Requests").retry_after is None


def test_server_errors_are_transient() -> None:
    error = api_error("getUpdates", 502, "Bad Gateway")
    assert isinstance(error, TelegramServerError) and error.retry_after is None
    assert str(error) == "getUpdates: 502 Bad Gateway"
