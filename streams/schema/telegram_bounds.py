"""Telegram's documented bounds on the numbers of an Update, as pydantic types.

The Bot API documents every user and chat identifier as "at most 52 significant bits, so a
64-bit integer or double-precision float type are safe for storing this identifier"; other
identifiers (``update_id``, ``message_id``, ``message_thread_id``) fit a signed 64-bit integer,
and dates are Unix times. The models of :mod:`streams.schema.telegram` use these types, so the
worker (which validates every raw update with those models) and the door
(:mod:`streams.schema.update_check`, called by the webhook and the poller) refuse the same
updates; and whatever is accepted fits the projections' columns (``BIGINT`` on PostgreSQL,
``INTEGER`` on SQLite, both signed 64-bit) and Python's ``datetime``.

``MAX_DEPTH`` bounds the nesting of a whole update at the door. Real updates nest about ten
levels; the worker's JSON parser (pydantic-core) stops at 200 levels of the *envelope* the
update is written in, so the door's bound must stay well below that.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ID_BITS = 52
"""Significant bits of a user or chat id (Bot API: "at most 52 significant bits")."""
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
UNIX_TIME_MAX = 2 ** 32 - 1
"""The latest date accepted (year 2106): far from ``datetime``'s year 9999, so timers added to
a message's date never overflow."""
MAX_DEPTH = 64
"""Deepest nesting of objects and arrays accepted in one update."""

TelegramId = Annotated[int, Field(gt=-(2 ** ID_BITS), lt=2 ** ID_BITS)]
"""A user or chat id."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""Any other identifier (update, message, topic)."""
UnixTime = Annotated[int, Field(ge=0, le=UNIX_TIME_MAX)]
"""A date in Unix time (``Message.date``, ``edit_date``)."""
