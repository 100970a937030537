"""The webhook's envelope around a body's own bytes (``EncodedUpdate.from_body``) is what the
model itself would write around it, and decodes as the model."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from streams.schema.envelope import EncodedUpdate, RawSource, RawTelegramUpdate

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                          timezone(timedelta(hours=-8))])


@given(bot_id=st.integers(1, 2**53), source=st.sampled_from(get_args(RawSource)),
       received_at=st.datetimes(timezones=_ZONES), text=st.text(max_size=40),
       update_id=st.integers(0, 2**31))
def test_the_envelope_is_the_models_own_json_around_the_body(
        bot_id: int, source: RawSource, received_at: datetime, text: str,
        update_id: int) -> None:
    update = {"update_id": update_id, "message": {"message_id": 1, "date": 0, "text": text,
                                                  "chat": {"id": -100, "type": "supergroup"}}}
    body = json.dumps(update, ensure_ascii=False).encode()
    made = EncodedUpdate.from_body(bot_id=bot_id, source=source, received_at=received_at,
                                   body=body, update=update)
    head = RawTelegramUpdate.model_construct(bot_id=bot_id, source=source,
                                             received_at=received_at, update={})
    plain = head.model_dump_json(exclude={"update"}).encode()[:-1] + b',"update":' + body + b"}"
    assert made.to_bytes() == plain
    decoded = RawTelegramUpdate.model_validate_json(made.to_bytes())
    assert (decoded.bot_id, decoded.source, decoded.received_at, decoded.update) == (
        bot_id, source, received_at, update)
