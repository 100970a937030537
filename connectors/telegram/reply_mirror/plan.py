"""What the reply mirror sends for an event: pure, no I/O.

An ``AgentReplied`` that telecase must send (``sent_by_telecase``) becomes the reply's text
(:func:`render_reply`) in parts of at most :data:`MESSAGE_MAX` characters (:func:`split_text`);
an ``AgentCommandRefused`` from Telegram becomes a notice to the agent
(:mod:`connectors.telegram.agent_notices`); each ``notify_telegram`` action of an
``SlaEscalated`` becomes a notice to the action's chat; an ``AgentFileShared`` (an agent's File
on the Case) becomes a :class:`FilePart` (the file, captioned with the agent's name and the
file's; :func:`too_big_text` when it cannot travel). Every part has a ledger key
(:func:`delivery_id`, :func:`notice_id`), a destination and a dead-letter key. A
:class:`HistoryNote` is the mirror's own message at the top of a recreated topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connectors.telegram.agent_notices import AgentNotice, agent_notice_text
from connectors.telegram.reply_scheduler import ThreadKey
from streams.runtime.bus import Record
from streams.schema.events import (
    AgentCommandRefused,
    AgentFileShared,
    AgentReplied,
    SlaEscalated,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TopicClosed,
    TopicRenamed,
)

MESSAGE_MAX = 4096
"""``sendMessage`` takes at most 4096 characters of text."""


class _ThreadMessage:
    """What an agent's reply and File have in common: the ticket's thread, the event id as
    the ledger key (``/2``, ``/3``... for later parts) and as the dead letter's key."""

    event: AgentReplied | AgentFileShared
    part: int

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.event.event_id, self.part)

    @property
    def ticket_id(self) -> str:
        return self.event.ticket_id

    @property
    def destination(self) -> ThreadKey | None:
        chat = self.event.chat_id
        return None if chat is None else (chat, self.event.thread_id)

    @property
    def letter_key(self) -> str:
        """The dead letter's key: the event id."""
        return self.event.event_id


@dataclass(frozen=True)
class ReplyPart(_ThreadMessage):
    """One part of an agent's reply (``part``: which, for a reply too long for one message;
    ``delivery_id`` is per part)."""

    event: AgentReplied
    origin: Record
    text: str = ""
    part: int = 0


@dataclass(frozen=True)
class NoticePart:
    """One part of one ``notify_telegram`` action of an escalation."""

    event: SlaEscalated
    origin: Record
    index: int
    """The action's position in ``event.actions``."""
    chat_id: int | None
    text: str
    part: int = 0

    @property
    def delivery_id(self) -> str:
        return delivery_id(self.letter_key, self.part)

    @property
    def ticket_id(self) -> str:
        return self.event.ticket_id

    @property
    def destination(self) -> ThreadKey | None:
        return None if self.chat_id is None else (self.chat_id, None)

    @property
    def letter_key(self) -> str:
        """The dead letter's key: the notice's id (event id and action index)."""
        return notice_id(self.event.event_id, self.index)


@dataclass(frozen=True)
class FilePart(_ThreadMessage):
    """An agent's File for the ticket's thread; ``text`` is its caption."""

    event: AgentFileShared
    origin: Record
    text: str
    part: int = 0


@dataclass(frozen=True)
class HistoryNote:
    """The note at the top of a recreated topic (the mirror's own; no ledger entry)."""

    ticket_id: str
    text: str


Message = ReplyPart | NoticePart | AgentNotice | FilePart
"""What the log asks the mirror to send."""
Item = Message | HistoryNote
"""What the mirror queues: a message, or a note of its own."""


def occurred_at(event: AgentReplied) -> datetime:
    """The default deadline: serve the oldest reply first."""
    return event.occurred_at


def render_reply(event: AgentReplied) -> str:
    """The text the customer sees: the agent's name (when known), then the reply, plain."""
    name = event.agent.display_name
    return f"{name}:\n{event.text}" if name else event.text


CAPTION_MAX = 1024
"""A ``sendDocument``/``sendPhoto`` caption takes at most 1024 characters."""


def file_caption(event: AgentFileShared) -> str:
    """The agent's name (when known) and the file's."""
    name = event.agent.display_name
    return (f"{name}: {event.file_name}" if name else event.file_name)[:CAPTION_MAX]


def too_big_text(event: AgentFileShared) -> str:
    """What the customer gets instead of a file that cannot be sent into Telegram (too big, or
    a link File): its name, and where it is."""
    size = f" ({event.file_size / (1024 * 1024):.1f} MB)" if event.file_size else ""
    return (f"{file_caption(event)}{size}\nThis file cannot be sent here; it is kept with "
            f"your case, and we can share it another way.")


def split_text(text: str, limit: int = MESSAGE_MAX) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at a paragraph, line or word
    boundary where one is in the second half of a part (else hard), nothing lost or added."""
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        cut = cut + 1 if cut >= limit // 2 else limit
        parts.append(text[:cut])
        text = text[cut:]
    parts.append(text)
    return parts


def delivery_id(event_id: str, part: int) -> str:
    """The ledger key of one part of a reply: the event id, then ``/2``, ``/3``... for the
    parts after the first."""
    return event_id if part == 0 else f"{event_id}/{part + 1}"


def notice_id(event_id: str, index: int) -> str:
    """The ledger key of an escalation's ``notify_telegram`` action ``index`` (its position
    in ``actions``); parts after the first get ``/2``, ``/3``... like a reply's."""
    return f"{event_id}/notify/{index}"


def history_note(ticket_id: str) -> str:
    return (f"This conversation continues from an earlier topic that was deleted. "
            f"Ticket reference: {ticket_id}.")


def messages(event: TicketEvent, origin: Record,
             render: Callable[[AgentReplied], str]) -> list[Message]:
    """What ``event`` (read at ``origin``) asks the mirror to send, in order; nothing for
    every other event type (``sla.started``, ``ticket.assigned``...: nothing in them is for
    Telegram)."""
    if isinstance(event, AgentReplied) and event.sent_by_telecase:
        return [ReplyPart(event, origin, text, part)
                for part, text in enumerate(split_text(render(event)))]
    if isinstance(event, AgentCommandRefused) and event.via == "telegram":
        return [AgentNotice(event, origin, text, part)
                for part, text in enumerate(split_text(agent_notice_text(event)))]
    if isinstance(event, AgentFileShared):
        return [FilePart(event, origin, file_caption(event))]
    if isinstance(event, SlaEscalated):
        return [NoticePart(event, origin, index, action.chat_id, text, part)
                for index, action in enumerate(event.actions)
                if action.do == "notify_telegram"
                for part, text in enumerate(split_text(action.text or ""))]
    return []


def topic_subject(event: TicketEvent) -> str | None:
    """The topic's name an event sets (kept for recreating a deleted topic), if any."""
    if isinstance(event, TicketOpened):
        return event.subject
    if isinstance(event, TopicRenamed):
        return event.name
    return None


def closes_topic(event: TicketEvent) -> bool:
    """Whether ``event`` says a ticket's topic was (or may have been) closed in Telegram, so
    the mirror no longer knows it open and reopens it before its next send there."""
    return isinstance(event, TopicClosed | TicketClosed)


def deadline_of(item: Message, deadline: Callable[[AgentReplied], datetime]) -> datetime:
    """A reply's deadline comes from ``deadline``; a notice's is its event's time."""
    if isinstance(item, ReplyPart):
        return deadline(item.event)
    return item.event.occurred_at


__all__ = ["CAPTION_MAX", "MESSAGE_MAX", "FilePart", "HistoryNote", "Item", "Message",
           "NoticePart", "ReplyPart", "closes_topic", "deadline_of", "delivery_id", "file_caption",
           "history_note", "messages", "notice_id",
           "occurred_at", "render_reply", "split_text", "too_big_text", "topic_subject"]
