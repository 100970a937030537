"""Records telecase writes to itself for bot intake forms (``streams.core.intake``).

A ticket opened by an intake form lives in the customer's private chat (thread ``<chat>:p``);
its forum topic lives in the team's group. The two are different chats, so on Kafka they are
in different partitions, worked by different workers: these records carry what one side must
tell the other, each keyed (``routing_key``) by the chat whose partition must fold it.

- :class:`IntakeTopicRecord` (``telegram.updates``, written by the Telegram intake messenger
  after ``createForumTopic``), twice: ``side="ticket"`` keyed by the customer's chat (the
  worker records ``intake.topic_opened`` on the ticket), ``side="topic"`` keyed by the group
  (the worker remembers that the topic's messages are relayed to the ticket).
- :class:`IntakeRelay` (``ticket.commands``, written by the ticket worker): a rostered agent's
  message in an intake topic, carried to the partition of the ticket it answers, where it
  becomes an ``agent.replied``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class IntakeTopicRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.intake_topic"] = "telecase.intake_topic"
    version: Literal[1] = 1
    ticket_id: str
    customer_chat_id: int
    chat_id: int
    """The team's group."""
    thread_id: int
    name: str
    opened_at: datetime
    side: Literal["ticket", "topic"]

    def routing_key(self) -> str:
        return f"chat:{self.customer_chat_id if self.side == 'ticket' else self.chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class IntakeRelay(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["telecase.intake_relay"] = "telecase.intake_relay"
    version: Literal[1] = 1
    ticket_id: str
    customer_chat_id: int
    update_id: int
    message: dict[str, Any]
    """The agent's Telegram ``Message``, as received."""
    received_at: datetime

    def routing_key(self) -> str:
        return f"chat:{self.customer_chat_id}"

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


INTAKE_RECORD_KINDS = frozenset({"telecase.intake_topic", "telecase.intake_relay"})
