"""Ticket events made by hand for the projection tests: a :class:`Story` numbers them per
ticket (``seq``, ``event_id``) and stamps them at a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from projections.cases import Offset
from projections.db import create_schema, make_engine
from streams.schema.events import (
    Actor,
    Agent,
    AgentReplied,
    CaseStatusChanged,
    Customer,
    CustomerMessageReceived,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SourceRef,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TicketRouted,
    TopicReopened,
)

T0 = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
ANN = Customer(telegram_user_id=501, username="ann", first_name="Ann")
TOPIC = "ticket.events"


class Story:
    """One ticket's events, in order."""

    def __init__(self, ticket_id: str = "tg:-100:t7", at: datetime = T0) -> None:
        self.ticket_id, self.at, self.seq = ticket_id, at, 0
        self.events: list[TicketEvent] = []

    def later(self, **delta: float) -> Story:
        self.at += timedelta(**delta)
        return self

    def _add(self, kind: type[Any], actor: Actor | None = None, **fields: Any) -> TicketEvent:
        self.seq += 1
        event: TicketEvent = kind(
            event_id=f"{self.ticket_id}#{self.seq}", ticket_id=self.ticket_id, seq=self.seq,
            occurred_at=self.at, recorded_at=self.at, source=SourceRef(kind="telegram"),
            actor=actor or Actor(kind="system"), **fields)
        self.events.append(event)
        return event

    def opened(self, subject: str = "Pricing") -> TicketEvent:
        return self._add(TicketOpened, Actor(kind="customer", id="501", display_name="Ann"),
                         channel="forum_topic", chat_id=-100, thread_id=7,
                         thread_key="-100:7", subject=subject, subject_message_id=7,
                         customer=ANN, customer_message_id=7)

    def wrote(self, text: str = "How much is it?") -> TicketEvent:
        return self._add(CustomerMessageReceived, Actor(kind="customer", id="501"),
                         message_id=100 + self.seq, sender=ANN, text=text,
                         content_kind="text", message_version=0, reply_to_message_id=None)

    def replied(self, text: str = "Hello Ann") -> TicketEvent:
        return self._add(AgentReplied, Actor(kind="agent", id="9", display_name="Bo"),
                         via="telegram", message_id=200 + self.seq, chat_id=-100,
                         thread_id=7, agent=Agent(telegram_user_id=9, display_name="Bo"),
                         text=text)

    def routed(self, queue: str = "sales") -> TicketEvent:
        return self._add(TicketRouted, queue=queue, rule="r1", reason="keyword pricing")

    def assigned(self, agent: str | None, previous: str | None = None,
                 queue: str | None = "sales", by: str = "policy",
                 reason: str = "round robin: least loaded") -> TicketEvent:
        return self._add(TicketAssigned, decision_id=f"d{self.seq}", agent_id=agent,
                         salesforce_user_id=None, previous_agent_id=previous, queue=queue,
                         assigned_by=by, reason=reason)

    def sla_started(self) -> TicketEvent:
        return self._add(SlaStarted, tier="standard", team="desk", rule=None,
                         reason="default tier", first_response_target=timedelta(minutes=10),
                         resolution_target=timedelta(hours=1), next_due_at=None)

    def _signal(self, kind: type[Any], name: str, **fields: Any) -> TicketEvent:
        return self._add(kind, signal=name, tier="standard", team="desk",
                         reason=f"{name} after 10m", **fields)

    def breached(self, clock: str = "first_response") -> TicketEvent:
        return self._signal(SlaBreached, f"{clock}_breach", clock=clock,
                            target=timedelta(minutes=10))

    def met(self, clock: str, elapsed: timedelta, on_time: bool = True) -> TicketEvent:
        return self._signal(SlaMet, f"{clock}_met", clock=clock,
                            target=timedelta(minutes=10), elapsed=elapsed, on_time=on_time)

    def escalated(self, level: int = 1) -> TicketEvent:
        return self._signal(SlaEscalated, f"escalation:{level}", level=level,
                            escalate_to="queue_manager", actions=())

    def status(self, status: str, is_closed: bool, previous: str | None = "New") -> TicketEvent:
        return self._add(CaseStatusChanged, Actor(kind="agent", id="005B"), status=status,
                         previous_status=previous, is_closed=is_closed)

    def closed(self, reason: str = "customer closed the topic") -> TicketEvent:
        return self._add(TicketClosed, reason=reason)

    def reopened(self) -> TicketEvent:
        return self._add(TopicReopened, message_id=300 + self.seq)


def positioned(events: list[TicketEvent], start: int = 0, partition: int = 0,
               topic: str = TOPIC) -> list[tuple[Offset, TicketEvent | None]]:
    """The events as a batch at consecutive offsets from ``start``."""
    return [(Offset(topic, partition, start + i), e) for i, e in enumerate(events)]


@contextmanager
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()
