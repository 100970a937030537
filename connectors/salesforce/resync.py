"""Re-syncing one ticket to Salesforce from the log: how ``telecase deadletter retry`` re-drives
a dead letter of the Salesforce sync to the sync only.

A Salesforce dead letter's origin is ``ticket.events``, the system of record: appending a copy
of the refused event there would reach every consumer of it (projectors, the reply mirror...),
and replaying that one old event through the sync could write an older value (a Subject, a
Status) over a newer one. So the retry does not re-drive the event; it asks the sync to
rebuild the ticket's Salesforce view from the log:

1. ``telecase deadletter retry`` appends a :class:`ResyncRequest` (the letter's id, the ticket,
   the ``ticket.events`` partition that holds it) to ``telecase.deadletter``, then the letter's
   ``deadletter.retried`` marker naming where the request went.
2. The sync runner (:mod:`connectors.salesforce.sync_runner`) follows ``telecase.deadletter``
   with a consumer group of its own (:data:`RESYNC_GROUP`): nothing else acts on a request.
   For each, it reads the ticket's events from its partition, from the start to the end
   offset at that moment, and applies them through the same sync, in order (never at the
   same time as a batch of its main consumer), so the Case ends with the ticket's current
   state. Events the ticket's later history superseded in Salesforce are left out
   (:func:`current_view`): a close or reopen followed by a status an agent set in Salesforce
   (``case.status_changed``), an assignment followed by an owner set there
   (``case.owner_changed``), so the re-sync never undoes an agent's later change.
3. Idempotent: every write of the sync is (upserts on external ids, the comment ledger and its
   marker), so a request applied twice (a crash between the request and the marker, a retry
   of the ticket's other letters) writes nothing new. An event Salesforce still refuses is
   dead-lettered again, as a new letter.

Cost: one read of the ticket's partition of ``ticket.events`` per request.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.runtime.bus import Bus, Record
from streams.schema.events import (
    CaseOwnerChanged,
    CaseStatusChanged,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TopicClosed,
    TopicReopened,
    UnknownEventError,
    decode_event,
)

RESYNC_KEY = b"salesforce.resync"
RESYNC_GROUP = "salesforce-sync-retries"
"""The sync runner's consumer group on ``telecase.deadletter`` (the requests)."""
STAGES = frozenset({"salesforce", "salesforce-sync"})
"""The ``consumer`` of the Salesforce sync's dead letters (``salesforce-sync``: written before
the sync took the stage name ``salesforce``)."""
_PAGE = 1000


class ResyncRequest(BaseModel):
    """Appended to ``telecase.deadletter`` by a retry: re-sync ``ticket_id`` from the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["salesforce.resync"] = "salesforce.resync"
    version: Literal[1] = 1
    letter: str
    """The dead letter retried (``<partition>:<offset>`` in ``telecase.deadletter``)."""
    ticket_id: str
    topic: str
    partition: int
    """Where the ticket's events are (the letter's origin)."""
    requested_at: datetime
    requested_by: str

    @classmethod
    def parse(cls, value: bytes) -> ResyncRequest | None:
        """The request in a ``telecase.deadletter`` record, ``None`` for anything else."""
        try:
            body = json.loads(value)
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("kind") != "salesforce.resync":
            return None
        try:
            return cls.model_validate(body)
        except ValidationError:
            return None


def ticket_of(payload: bytes) -> str | None:
    """The ticket id of a ticket event's bytes (``None``: not a ticket event)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    ticket = body.get("ticket_id") if isinstance(body, dict) else None
    return ticket if isinstance(ticket, str) and ticket else None


async def ticket_records(bus: Bus, request: ResyncRequest) -> list[Record]:
    """The records of ``request``'s ticket in its partition, up to the end offset now."""
    end = (await bus.end_offsets(request.topic, [request.partition])).get(request.partition, 0)
    return await history(bus, request.topic, request.partition, {request.ticket_id}, end)


async def history(bus: Bus, topic: str, partition: int, tickets: Collection[str],
                  end: int) -> list[Record]:
    """The records of ``tickets`` in ``partition`` of ``topic`` before offset ``end``, in
    order (also how a restarted sync finds the tickets its hold held:
    :mod:`connectors.salesforce.holds`)."""
    found: list[Record] = []
    position = 0
    wanted = {t.encode() for t in tickets}
    while position < end:
        page = await bus.read(topic, partition, position, min(_PAGE, end - position),
                              wait=1.0)
        if not page:
            break
        found.extend(r for r in page if r.offset < end and (
            r.key in wanted or (r.key is None and ticket_of(r.value) in tickets)))
        position = page[-1].offset + 1
    return found


def decoded(records: Sequence[Record]) -> list[TicketEvent]:
    """The ticket events of ``records`` (undecodable ones left out)."""
    events: list[TicketEvent] = []
    for r in records:
        try:
            events.append(decode_event(r.value))
        except (UnknownEventError, ValueError):
            continue
    return events


def current_view(records: Sequence[Record]) -> list[Record]:
    """``records`` without the events a later Salesforce-side change superseded (see the
    module's docstring); undecodable records are kept (the sync skips them)."""
    events: list[TicketEvent | None] = []
    for r in records:
        try:
            events.append(decode_event(r.value))
        except (UnknownEventError, ValueError):
            events.append(None)
    last_status = max((i for i, e in enumerate(events) if isinstance(e, CaseStatusChanged)),
                      default=-1)
    last_owner = max((i for i, e in enumerate(events) if isinstance(e, CaseOwnerChanged)),
                     default=-1)
    return [r for i, (r, e) in enumerate(zip(records, events, strict=True))
            if not (isinstance(e, TopicClosed | TicketClosed | TopicReopened) and i < last_status)
            and not (isinstance(e, TicketAssigned) and i < last_owner)]
