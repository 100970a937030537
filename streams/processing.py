"""Folding one raw record into ticket events: the logic every runtime's worker calls.

The Faust agent (``streams.faust_app``) and any other runtime hand each record of
``telegram.updates`` to :meth:`UpdateFolder.fold` with a :class:`ThreadStore`. The folder parses
the envelope, routes the update to its thread, asks the pure core to decide, and returns the
events to append plus the new thread state. The caller appends the events durably *first* and
stores the state *after*, so a crash in between re-derives the same events (same ``event_id``
and ``seq``) instead of losing them; consumers drop them by ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, ValidationError

from streams.core.routing import Routed, route
from streams.core.ticket import (
    DecisionError,
    ReceiveTelegramMessage,
    ThreadState,
    decide,
    fold,
    initial_state,
)
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import RawTelegramUpdate
from streams.schema.events import TicketEvent
from streams.schema.telegram import Update

UPDATES_FOLDED = Counter("telecase_updates_folded_total", "Raw updates folded", ["outcome"])
UPDATES_SKIPPED = Counter("telecase_updates_skipped_total", "Raw updates that open no ticket",
                          ["reason"])
DEAD_LETTERS = Counter("telecase_dead_letters_total", "Records sent to the dead-letter topic",
                       ["consumer", "reason"])


class _ParsedEnvelope(BaseModel):
    """A ``RawTelegramUpdate`` with its update parsed in the same pass (the fast path)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bot_id: int
    received_at: datetime
    update: Update


class ThreadStore(Protocol):
    def get(self, thread_key: str) -> ThreadState | None: ...


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int
    key: str | None


@dataclass
class Folded:
    """The result of folding one record."""

    events: list[TicketEvent] = field(default_factory=list)
    thread: ThreadState | None = None
    """The thread's new state, to store after the events are durable (``None``: unchanged)."""
    skipped: str | None = None
    dead_letter: DeadLetter | None = None


class UpdateFolder:
    """Parses, routes and decides; holds no state of its own. ``agents`` is the roster of
    agents' Telegram user ids (their messages are agent replies)."""

    consumer = "ticket-folder"

    def __init__(self, agents: frozenset[int] = frozenset()) -> None:
        self.agents = agents

    def fold(self, payload: bytes, store: ThreadStore, where: Position,
             now: datetime) -> Folded:
        """Fold one ``telegram.updates`` record. ``now`` only stamps dead letters."""
        try:
            envelope = _ParsedEnvelope.model_validate_json(payload)
        except ValidationError:
            # Slow path, only for bad records: say which layer is wrong.
            try:
                RawTelegramUpdate.model_validate_json(payload)
            except ValidationError as exc:
                return self._dead("invalid_envelope", exc, payload, where, now)
            try:
                _ParsedEnvelope.model_validate_json(payload)
            except ValidationError as exc:
                return self._dead("invalid_update", exc, payload, where, now)
            raise
        update = envelope.update
        routed = route(update, envelope.bot_id, self.agents)
        if not isinstance(routed, Routed):
            UPDATES_SKIPPED.labels(routed.reason).inc()
            UPDATES_FOLDED.labels("skipped").inc()
            return Folded(skipped=routed.reason)
        state = store.get(routed.thread_key) or initial_state(routed.thread_key)
        command = ReceiveTelegramMessage(update.update_id, routed, envelope.received_at)
        try:
            events = decide(command, state)
            new_state = fold(events, state)
        except DecisionError as exc:
            return self._dead("decision_error", exc, payload, where, now)
        UPDATES_FOLDED.labels("events" if events else "duplicate").inc()
        return Folded(events=events, thread=new_state if events else None)

    def _dead(self, reason: str, exc: Exception, payload: bytes, where: Position,
              now: datetime) -> Folded:
        DEAD_LETTERS.labels(self.consumer, reason).inc()
        if isinstance(exc, ValidationError):  # never str(exc): it quotes the input (bodies)
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                               for e in exc.errors()[:3])
        else:
            detail = str(exc)[:500] or type(exc).__name__
        return Folded(dead_letter=DeadLetter(
            reason=reason, detail=detail, consumer=self.consumer, topic=where.topic,
            partition=where.partition, offset=where.offset, key=where.key,
            payload_b64=DeadLetter.encode_payload(payload), failed_at=now))
