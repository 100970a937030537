"""The codec of ``ticket.events``: the union of every event family, and the upcast chain.

:data:`TicketEvent` is the one place the families are listed; :data:`EVENT_TYPES` is derived
from it, so an event added to a family's union is decoded, encoded and type-listed at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from streams.schema.events.agents import AgentEvent
from streams.schema.events.base import EventBase
from streams.schema.events.case import CaseEvent
from streams.schema.events.conversation import ConversationEvent
from streams.schema.events.desk import DeskEvent
from streams.schema.events.fast_json import WRITE, Fallback, plan_of
from streams.schema.events.intake import IntakeEvent
from streams.schema.events.sla import SlaEvent

TicketEvent = Annotated[
    ConversationEvent | AgentEvent | CaseEvent | SlaEvent | DeskEvent | IntakeEvent,
    Field(discriminator="type"),
]
"""Any event of ``ticket.events``, told apart by its ``type``."""

EVENT_TYPES: tuple[type[EventBase], ...] = get_args(get_args(TicketEvent)[0])
"""Every event model, in :data:`TicketEvent`'s order."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("agent.replied", 1): lambda payload: {**payload, "version": 2},
    # v2 added ``template`` and ``article``; a v1 reply had neither.
    ("ticket.opened", 1): lambda payload: {**payload, "version": 2},
    # v2 added ``intake``; a v1 opening came from no intake form.
    ("customer.message_received", 1): lambda payload: {**payload, "version": 2},
    # v2 added ``attachment``; a v1 message's file was not kept.
}
"""``(type, old_version) -> function`` lifting a payload one version up; the decode path runs
the chain."""

_ADAPTER: TypeAdapter[TicketEvent] = TypeAdapter(TicketEvent)
_CURRENT = {cls.model_fields["type"].default: cls.model_fields["version"].default
            for cls in EVENT_TYPES}


class UnknownEventError(ValueError):
    """A record in ``ticket.events`` whose type or version this build cannot read."""


def upcast(payload: dict[str, Any]) -> dict[str, Any]:
    """Lift an old payload to the current version of its type, one step at a time."""
    kind = str(payload.get("type"))
    if kind not in _CURRENT:
        raise UnknownEventError(f"unknown ticket event type {kind!r}")
    version = int(payload.get("version", 1))
    while version < _CURRENT[kind]:
        step = UPCASTERS.get((kind, version))
        if step is None:
            raise UnknownEventError(f"no upcaster for {kind} v{version}")
        payload = step(payload)
        version = payload["version"]
    if version > _CURRENT[kind]:
        raise UnknownEventError(f"{kind} v{version} is newer than this build reads")
    return payload


def decode_event(data: bytes | str | dict[str, Any]) -> TicketEvent:
    """Parse a stored event, upcasting old versions first.

    Stored text is first validated as it is, in one pass of pydantic-core (about 10 us an
    event where ``json.loads`` and validation took 17: every consumer of ``ticket.events``
    decodes every event). That succeeds for an event at its current version; anything else (an
    old version, an unknown type, malformed text) fails there and takes the upcast path, which
    decodes or raises as it always did. A payload without ``version`` is read at its type's
    default version there, where the upcast path reads it as version 1: the same while each
    upcaster only raises the version (a test holds every upcaster to that)."""
    if isinstance(data, bytes | str):
        try:
            return _ADAPTER.validate_json(data)
        except ValidationError:
            payload = json.loads(data)
    else:
        payload = dict(data)
    return _ADAPTER.validate_python(upcast(payload))


_PLANS = {cls: plan for cls in EVENT_TYPES if (plan := plan_of(cls)) is not None}
_CONVERTS = {cls: plan.convert for cls, plan in _PLANS.items()}


def encode_event(event: TicketEvent) -> bytes:
    """The event's JSON, the bytes ``event.model_dump_json().encode()`` writes: by msgspec
    where that writes pydantic's bytes (:mod:`.fast_json`, a third less time; a restart
    encodes an event for every overdue timer), else from the model's serializer straight to
    bytes (``model_dump_json`` decodes its bytes to a ``str`` that was encoded back). Tests
    hold the two equal (issue 19)."""
    convert = _CONVERTS.get(type(event))
    if convert is not None:
        try:
            return WRITE(convert(event))
        except Fallback:
            pass
    return event.__pydantic_serializer__.to_json(event)
