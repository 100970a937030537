"""An event's encoding for ``ticket.events`` (``encode_event``, straight from the model's
serializer) is the bytes of ``model_dump_json`` and decodes back to the event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.core.service_level import fire_due
from streams.core.ticket import ThreadState
from streams.runtime.fold import Position, UpdateFolder
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import SourceRef, TicketEvent, decode_event, encode_event
from streams.schema.events.codec import UPCASTERS, UnknownEventError
from tests.unit.sla.test_clock import POLICY

SENT = 1_790_000_000


class _Store(dict[str, ThreadState]):
    def due_threads(self, partition: int, at: datetime) -> list[str]:
        return []


def _events(text: str, chat_id: int, first_name: str) -> list[TicketEvent]:
    """A customer's message opening a ticket, then every SLA signal of the policy (warnings,
    breaches, escalations with their actions) fired days later."""
    user = {"id": chat_id, "is_bot": False, "first_name": first_name}
    update = {"update_id": 1, "message": {
        "message_id": 1, "date": SENT, "from": user, "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": first_name}}}
    raw = RawTelegramUpdate(bot_id=7000000001, source="webhook",
                            received_at=datetime.fromtimestamp(SENT, UTC),
                            update=update).to_bytes()
    folded = UpdateFolder(sla_policy=POLICY).fold(
        raw, _Store(), Position("telegram.updates", 0, 0, None), datetime.now(UTC))
    assert folded.thread is not None
    later = datetime.fromtimestamp(SENT, UTC) + timedelta(days=3)
    fired, _ = fire_due(folded.thread, later, POLICY, later,
                        SourceRef(kind="clock", tick_at=later))
    return [*folded.events, *fired]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=40), st.sampled_from([1, 2]), st.text(max_size=10))
def test_an_encoded_event_is_its_json_dump_and_decodes_to_it(
        text: str, chat_id: int, first_name: str) -> None:
    events = _events(text, chat_id, first_name)
    assert {e.type for e in events} >= {"ticket.opened", "customer.message_received",
                                        "sla.started", "sla.breached", "sla.escalated"}
    for event in events:
        encoded = encode_event(event)
        assert encoded == event.model_dump_json().encode()
        assert decode_event(encoded) == event



def test_old_versions_unknown_types_and_bad_text_take_the_upcast_path() -> None:
    """What is not a current event fails the one-pass decode and is read (or refused) by the
    upcast path; an upcaster only raises the version, so a payload without one reads alike
    either way."""
    event = next(e for e in _events("hello", 1, "Ann") if e.type == "ticket.opened")
    current = json.loads(encode_event(event))
    for (kind, version), step in UPCASTERS.items():
        payload = {**current, "type": kind, "version": version}
        assert step(payload) == {**payload, "version": version + 1}, kind
    older = {**current, "version": 1}
    assert decode_event(json.dumps(older).encode()) == event
    unversioned = {k: v for k, v in current.items() if k != "version"}
    assert decode_event(json.dumps(unversioned)) == event
    with pytest.raises(UnknownEventError):
        decode_event(json.dumps({**current, "type": "ticket.unheard_of"}))
    with pytest.raises(UnknownEventError):
        decode_event(json.dumps({**current, "version": 3}))
    with pytest.raises(ValueError):
        decode_event(b'{"type": "ticket.opened", ')
    with pytest.raises(ValidationError):
        decode_event(json.dumps({k: v for k, v in current.items() if k != "ticket_id"}))
