"""The reply mirror: agent replies written in Salesforce, delivered into the ticket's Telegram
thread, in order, within Telegram's flood limits, once; and SLA escalation notices, delivered
the same way to the chats the escalation names.

It consumes ``ticket.events`` as a consumer group of its own (``telegram-mirror``) and acts on
``AgentReplied`` with ``via="salesforce"`` (a ``via="telegram"`` reply was written in Telegram:
the customer has seen it, so it is never sent), and on any ``AgentReplied`` an agent's command
produced (a template's expansion, a Knowledge link: ``sent_by_telecase``), and tells agents
in Telegram when their command sent nothing (``connectors.telegram.agent_notices``). Where a
reply goes comes from the event itself
(``chat_id``, ``thread_id``: ``None`` is a private chat or the General topic) and from the
ledger's re-link map, so a mirror that starts mid-log needs nothing earlier. ``TicketOpened``
and ``TopicRenamed`` are read only for the topic's name, kept for recreating a deleted topic.
Every other event type (``sla.started``, ``sla.warning``, ``ticket.assigned``...) is ignored
on purpose: nothing in it is for Telegram.

**Escalation notices.** Each ``notify_telegram`` action of an ``SlaEscalated`` is one message
(plain text, already rendered by the SLA policy; split like a reply when longer than one
message) to the action's ``chat_id``, with no ``message_thread_id`` (in a forum it lands in
General). It goes through the same scheduler, limits, retries, ledger and commit rule as a
reply, so it is delivered once across restarts and redelivery; its ledger key is
:func:`notice_id` (the event id and the action's index in ``actions``). Its deadline is the
escalation's ``occurred_at``; it shares the queue of ``(chat_id, None)`` with any reply bound
there, in log order. A notice Telegram refuses for good (``chat not found``, the bot kicked
from the group or blocked) is dead-lettered like a reply and blocks nothing.

**Order.** Replies are queued per *thread* (``(chat_id, thread_id)``) in log order and a thread
has at most one message in flight, so a thread's replies arrive in order; a thread waiting out a
backoff holds up no other thread.

**Shaping.** :class:`Scheduler` (pure: time is an argument) keeps Telegram's documented limits
(Bot FAQ, "My bot is hitting limits"): about one message a second per chat, 20 a minute per
group, about 30 a second overall, each as "at most N sends in any window", plus a small margin.
A send is reserved in the windows when it starts and counted from when its answer came back,
so network delay can never squeeze two sends closer together at Telegram's end. Among the
threads that may send now it serves the one whose head reply has the earliest deadline
(``deadline(event)``, by default ``occurred_at``; SLA deadlines plug in there). A 429
is honoured: the chat waits ``retry_after``, and when two chats are in flood control at once the
whole bot waits (Telegram's limit then looks global). Other transient failures (5xx, network)
back the thread off exponentially.

**Topics.** ``TOPIC_CLOSED``: the mirror reopens the topic (``reopenForumTopic``) and sends.
``message thread not found`` (deleted topic): it creates a topic with the ticket's name, records
the re-link in the ledger, posts a short history note there, then the reply; and it appends a
``TopicRecreated`` record through the ``raw_log`` (when given) so the worker re-links the ticket.
An announcement lost to a crash is repeated at the next start (the ledger marks it announced).

**Errors.** ::

    ConnectorError
    ├── TransientError      429 (retry_after) / 5xx / network: the reply (or notice) stays
    │                       queued, retried
    └── PermanentError
        └── TelegramApiError   chat not found, bot blocked or kicked, text refused...:
                               the reply (or notice) goes to the dead-letter topic with the
                               description (reason ``telegram_rejected``)

A reply or notice that names no chat (``no_destination``) or has only blank text
(``empty_text``) is dead-lettered without a call. Every dead letter counts in
``telecase_telegram_mirror_dead_lettered_total``; the log position moves on past it.

**Exactly once, as the customer sees it.** Before a reply is queued its ``event_id`` is looked up
in the delivery ledger (:mod:`connectors.telegram.ledger`); right after ``sendMessage`` returns,
the delivery is written there (retried until durable) before anything else happens. The log
position is committed only below the oldest reply not yet delivered or dead-lettered, so a
restart re-reads what was in flight and the ledger skips what was delivered. The window that
remains: a crash (or a lost HTTP answer) *between* Telegram accepting ``sendMessage`` and the
ledger write sends that one reply a second time; a crash between ``createForumTopic`` and the
re-link write leaves an empty, orphaned topic. Both need a crash inside one round trip.

Logs carry event ids, ticket ids, chats and threads, never the message text.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter

from connectors.errors import TransientError
from connectors.raw_log import RawLog
from connectors.telegram.agent_notices import (
    AGENT_NOTICES,
    COMMANDS_DELETED,
    AgentNotice,
    agent_notice_text,
    command_message,
)
from connectors.telegram.bot_api import BotApi, TelegramApiError
from connectors.telegram.ledger import Delivery, DeliveryLedger, ThreadLink
from connectors.telegram.reply_scheduler import Limits, Scheduler, ThreadKey
from streams.core.routing import continuation_name
from streams.core.ticket import forum_thread_of
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.envelope import TopicRecreated
from streams.schema.events import (
    AgentCommandRefused,
    AgentReplied,
    SlaEscalated,
    TicketOpened,
    TopicRenamed,
    UnknownEventError,
    decode_event,
)

GROUP = "telegram-mirror"
log = structlog.get_logger("telecase.telegram.mirror")

SENT = Counter("telecase_telegram_mirror_sent_total", "Agent replies delivered to Telegram")
NOTIFIED = Counter("telecase_telegram_mirror_notices_sent_total",
                   "SLA escalation notices delivered to Telegram")
FLOODED = Counter("telecase_telegram_mirror_429_total", "429 answers received from Telegram")
REOPENED = Counter("telecase_telegram_mirror_topics_reopened_total",
                   "Closed topics reopened to deliver a reply")
RECREATED = Counter("telecase_telegram_mirror_topics_recreated_total",
                    "Deleted topics recreated (and re-linked) to deliver a reply")
DEAD_LETTERED = Counter("telecase_telegram_mirror_dead_lettered_total",
                        "Replies and escalation notices that cannot be delivered (no chat, "
                        "or Telegram refused them for good), sent to the dead-letter topic")

# ---------------------------------------------------------------------------- the mirror


@dataclass(frozen=True)
class _Reply:
    event: AgentReplied
    origin: Record
    text: str = ""
    part: int = 0
    """Which part of a reply too long for one message (``delivery_id`` is per part)."""

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
class _Notice:
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
class _Note:
    ticket_id: str
    text: str


_Message = _Reply | _Notice | AgentNotice
"""What the log asks the mirror to send (a note is the mirror's own)."""
_Item = _Message | _Note


@dataclass
class MirrorStats:
    """What this mirror instance did (the Prometheus counters add up every instance)."""

    sent: int = 0
    notified: int = 0
    """Escalation notices (parts) delivered."""
    notes: int = 0
    already_delivered: int = 0
    flood_429: int = 0
    retries: int = 0
    reopened: int = 0
    recreated: int = 0
    dead_lettered: int = 0
    agent_notices: int = 0
    """Notices to agents whose command sent nothing."""


class _TopicGone(Exception):
    """The destination topic was deleted ("message thread not found")."""


def occurred_at(event: AgentReplied) -> datetime:
    """The default deadline: serve the oldest reply first."""
    return event.occurred_at


def render_reply(event: AgentReplied) -> str:
    """The text the customer sees: the agent's name (when known), then the reply, plain."""
    name = event.agent.display_name
    return f"{name}:\n{event.text}" if name else event.text


MESSAGE_MAX = 4096
"""``sendMessage`` takes at most 4096 characters of text."""


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


def _notices(event: SlaEscalated, origin: Record) -> list[_Notice]:
    """The messages an escalation asks for: each ``notify_telegram`` action, in parts."""
    return [_Notice(event, origin, index, action.chat_id, text, part)
            for index, action in enumerate(event.actions) if action.do == "notify_telegram"
            for part, text in enumerate(split_text(action.text or ""))]


def history_note(ticket_id: str) -> str:
    return (f"This conversation continues from an earlier topic that was deleted. "
            f"Ticket reference: {ticket_id}.")


class ReplyMirror:
    """Delivers ``AgentReplied(via="salesforce")`` and the ``notify_telegram`` actions of
    ``SlaEscalated`` from ``ticket.events`` into Telegram.

    ``raw_log``: where ``TopicRecreated`` records go (``telegram.updates``, e.g.
    ``BusRawLog(bus, names.telegram_updates)``); without it a recreated topic is linked in the
    ledger only. ``clock``: a monotonic clock for the limits and backoffs.
    """

    def __init__(self, bus: Bus, names: TopicNames, api: BotApi, ledger: DeliveryLedger, *,
                 raw_log: RawLog | None = None, group: str = GROUP,
                 deadline: Callable[[AgentReplied], datetime] = occurred_at,
                 render: Callable[[AgentReplied], str] = render_reply,
                 limits: Limits | None = None, max_in_flight: int = 8,
                 batch_max: int = 500, max_pending: int = 10_000,
                 commit_interval: float = 0.2, max_backoff: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus, self.names, self.api, self.ledger = bus, names, api, ledger
        self.raw_log, self.group = raw_log, group
        self.deadline, self.render, self.clock = deadline, render, clock
        self.max_in_flight, self.batch_max, self.max_pending = (max_in_flight, batch_max,
                                                                max_pending)
        self.commit_interval, self.max_backoff = commit_interval, max_backoff
        self.scheduler: Scheduler[_Item] = Scheduler(limits)
        self.stats = MirrorStats()
        self._links: dict[tuple[int, int], int] = {}
        self._subjects: dict[str, str] = {}
        self._queued_ids: set[str] = set()
        self._outstanding: dict[int, dict[int, int]] = {}
        """Per partition: offsets whose reply still has parts to deliver, and how many."""
        self._read_upto: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        self._failures: dict[ThreadKey, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None

    @property
    def pending(self) -> int:
        """Replies, notices (and notes) read but not yet delivered or dead-lettered."""
        return len(self.scheduler)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Mirror until ``stop`` is set; in-flight sends finish and positions are committed."""
        await asyncio.to_thread(self.ledger.create)
        self._links = await asyncio.to_thread(self.ledger.links)
        for link in await asyncio.to_thread(self.ledger.unannounced_links):
            await self._announce(link)
        topic = self.names.ticket_events
        positions = await self.bus.committed(self.group, topic)
        self._read_upto, self._committed = dict(positions), dict(positions)
        log.info("mirror.started", group=self.group, positions=positions)
        workers = [
            asyncio.create_task(consume(self.bus, topic, positions, self._handle, self._stop,
                                        group=self.group, batch_max=self.batch_max),
                                name="mirror-reader"),
            asyncio.create_task(self._dispatch(), name="mirror-dispatcher"),
            asyncio.create_task(self._commit_loop(), name="mirror-committer"),
        ]
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([stopper, *workers], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._halt()
            stopper.cancel()
            results = await asyncio.gather(*workers, return_exceptions=True)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=30.0)
            for task in self._tasks:
                task.cancel()
            await self._commit()
            log.info("mirror.stopped", group=self.group, sent=self.stats.sent,
                     notified=self.stats.notified, pending=self.pending)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if self._failure is not None:
            raise self._failure

    def _halt(self) -> None:
        self._stop.set()
        self._wake.set()
        self._progress.set()

    # -- reading ---------------------------------------------------------------------------

    async def _handle(self, partition: int, records: list[Record]) -> bool:
        if self._stop.is_set():
            return False
        items: list[_Message] = []
        subjects: dict[str, str] = {}
        for rec in records:
            try:
                event = decode_event(rec.value)
            except (UnknownEventError, ValueError):
                continue  # the projector dead-letters what no one can decode
            if isinstance(event, AgentReplied) and event.sent_by_telecase:
                items += [_Reply(event, rec, text, part)
                          for part, text in enumerate(split_text(self.render(event)))]
            elif isinstance(event, AgentCommandRefused) and event.via == "telegram":
                items += [AgentNotice(event, rec, text, part) for part, text in
                          enumerate(split_text(agent_notice_text(event)))]
            elif isinstance(event, SlaEscalated):
                items += _notices(event, rec)
            elif isinstance(event, TicketOpened):
                subjects[event.ticket_id] = event.subject
            elif isinstance(event, TopicRenamed):
                subjects[event.ticket_id] = event.name
        if subjects:
            await asyncio.to_thread(self.ledger.remember_subjects, subjects)
            self._subjects.update(subjects)
        done = await asyncio.to_thread(self.ledger.delivered,
                                       [i.delivery_id for i in items]) if items else set()
        outstanding = self._outstanding.setdefault(partition, {})
        for item in items:
            rec = item.origin
            if item.delivery_id in done or item.delivery_id in self._queued_ids:
                self.stats.already_delivered += 1
                continue
            destination = item.destination
            if destination is None:
                if item.part == 0:
                    await self._dead_letter(item, "no_destination",
                                            "it names no Telegram chat")
                continue
            if not item.text.strip():
                await self._dead_letter(item, "empty_text", "there is no text to send")
                continue
            key = self._resolve(destination)
            self._queued_ids.add(item.delivery_id)
            outstanding[rec.offset] = outstanding.get(rec.offset, 0) + 1
            self.scheduler.push(key, item, self._deadline_of(item))
        self._read_upto[partition] = records[-1].offset + 1
        self._wake.set()
        while len(self.scheduler) >= self.max_pending and not self._stop.is_set():
            self._progress.clear()
            await self._progress.wait()
        return not self._stop.is_set()

    def _deadline_of(self, item: _Message) -> datetime:
        """A reply's deadline comes from ``deadline``; a notice's is its escalation's time."""
        if isinstance(item, _Reply):
            return self.deadline(item.event)
        return item.event.occurred_at

    def _resolve(self, key: ThreadKey) -> ThreadKey:
        """Where a thread lives now, following re-links of recreated topics."""
        chat, thread = key
        for _ in range(64):
            if thread is None or (chat, thread) not in self._links:
                break
            thread = self._links[(chat, thread)]
        return chat, thread

    # -- committing ------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.commit_interval)
            await self._commit()

    async def _commit(self) -> None:
        """Commit, per partition, up to the oldest record whose effect is not yet durable."""
        positions: dict[int, int] = {}
        for partition, upto in self._read_upto.items():
            waiting = self._outstanding.get(partition)
            position = min(waiting) if waiting else upto
            if position != self._committed.get(partition):
                positions[partition] = position
        if positions:
            await self.bus.commit(self.group, self.names.ticket_events, positions)
            self._committed.update(positions)

    def _finished(self, key: ThreadKey, item: _Item) -> None:
        self.scheduler.done(key)
        self._failures.pop(key, None)
        if not isinstance(item, _Note):
            self._queued_ids.discard(item.delivery_id)
            waiting = self._outstanding[item.origin.partition]
            left = waiting.get(item.origin.offset, 1) - 1
            if left > 0:
                waiting[item.origin.offset] = left
            else:
                waiting.pop(item.origin.offset, None)
        self._progress.set()

    # -- dispatching -----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        takes = 0
        while not self._stop.is_set():
            self._wake.clear()
            now = self.clock()
            while len(self._tasks) < self.max_in_flight:
                taken = self.scheduler.take(now)
                if taken is None:
                    break
                task = asyncio.create_task(self._deliver(*taken))
                self._tasks.add(task)
                task.add_done_callback(self._delivered)
                takes += 1
                if takes % 1000 == 0:
                    self.scheduler.prune(now)
            timeout: float | None = None
            if len(self._tasks) < self.max_in_flight:
                at = self.scheduler.wake_at(now)
                timeout = None if at is None else max(at - now, 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()
            log.error("mirror.failed", error=repr(self._failure))
            self._halt()

    async def _deliver(self, key: ThreadKey, item: _Item) -> None:
        try:
            if isinstance(item, _Note):
                await self._send_note(key, item)
            else:
                await self._send_message(key, item)
        except TransientError as exc:
            self._backoff(key, exc)

    async def _send_message(self, key: ThreadKey, item: _Message) -> None:
        """A reply (part) or a notice (part): send, record in the ledger, finish."""
        chat, thread = self._resolve(key)
        if not isinstance(item, _Notice) and item.part == 0:
            await self._delete_command(item.event)
        try:
            message = await self._send(key, chat, thread, item.text)
        except _TopicGone:  # only a reply has a thread (``_send`` raises it for threads)
            try:
                await self._recreate(key, item.ticket_id, self._deadline_of(item))
            except TelegramApiError as exc:
                await self._dead_letter(item, "topic_not_recreated", exc.description)
                self._finished(key, item)
            return
        except TelegramApiError as exc:
            moved = (await self._agent_notice_in_thread(key, item)
                     if isinstance(item, AgentNotice) else None)
            if moved is None:
                await self._dead_letter(item, "telegram_rejected", exc.description)
                self._finished(key, item)
                return
            chat, thread, message = moved
        await self._record(Delivery(item.delivery_id, item.ticket_id, chat, thread,
                                    int(message["message_id"]), datetime.now(UTC)))
        if isinstance(item, _Reply):
            self.stats.sent += 1
            SENT.inc()
        elif isinstance(item, AgentNotice):
            self.stats.agent_notices += 1
            AGENT_NOTICES.labels("private" if chat == key[0] else "topic").inc()
        else:
            self.stats.notified += 1
            NOTIFIED.inc()
        log.debug("mirror.sent", event_id=item.event.event_id, delivery_id=item.delivery_id,
                  ticket_id=item.ticket_id, chat_id=chat, thread_id=thread)
        self._finished(key, item)

    async def _agent_notice_in_thread(
            self, key: ThreadKey, item: AgentNotice) -> tuple[int, int | None, Any] | None:
        """The private chat refused the notice: send it into the ticket's topic instead
        (``None``: that failed too)."""
        if item.fallback is None:
            return None
        chat, thread = self._resolve(item.fallback)
        try:
            message = await self._send(key, chat, thread, item.thread_text)
        except (TelegramApiError, _TopicGone):
            return None
        return chat, thread, message

    async def _delete_command(self, event: AgentReplied | AgentCommandRefused) -> None:
        """Remove the agent's command message from the topic, best effort (the bot may lack
        the right to delete; a repeat finds it gone)."""
        where = command_message(event)
        if where is None:
            return
        try:
            await self.api.call("deleteMessage", chat_id=where[0], message_id=where[1])
            COMMANDS_DELETED.labels("deleted").inc()
        except TelegramApiError as exc:
            COMMANDS_DELETED.labels("kept").inc()
            log.info("mirror.command_kept", event_id=event.event_id, chat_id=where[0],
                     error=exc.description)

    async def _send_note(self, key: ThreadKey, note: _Note) -> None:
        chat, thread = self._resolve(key)
        try:
            await self._send(key, chat, thread, note.text)
        except _TopicGone:
            # deleted again at once: drop this note; the reply behind it finds the topic
            # gone, and the topic it recreates gets a note of its own
            log.warning("mirror.note_topic_gone", ticket_id=note.ticket_id, chat_id=chat,
                        thread_id=thread)
        except TelegramApiError as exc:
            log.warning("mirror.note_refused", ticket_id=note.ticket_id, chat_id=chat,
                        thread_id=thread, error=exc.description)
        else:
            self.stats.notes += 1
        self._finished(key, note)

    async def _send(self, key: ThreadKey, chat: int, thread: int | None,
                    text: str) -> dict[str, Any]:
        """``sendMessage``, reopening a closed topic first when Telegram says it is closed."""
        for _ in range(3):
            try:
                try:
                    message = await self.api.call("sendMessage", chat_id=chat,
                                                  message_thread_id=thread, text=text)
                finally:
                    self.scheduler.settle(key, self.clock())
                return dict(message)
            except TelegramApiError as exc:
                if thread is None:
                    raise
                if _topic_closed(exc):
                    await self._reopen(chat, thread)
                    continue
                if _topic_missing(exc):
                    raise _TopicGone from exc
                raise
        raise TransientError("sendMessage: the topic closed again after each reopening")

    async def _reopen(self, chat: int, thread: int) -> None:
        try:
            await self.api.call("reopenForumTopic", chat_id=chat, message_thread_id=thread)
        except TelegramApiError as exc:
            if _topic_missing(exc):
                raise _TopicGone from exc
            if "TOPIC_NOT_MODIFIED" not in exc.description:
                raise
            return  # someone reopened it meanwhile
        self.stats.reopened += 1
        REOPENED.inc()
        log.info("mirror.topic_reopened", chat_id=chat, thread_id=thread)

    async def _recreate(self, key: ThreadKey, ticket_id: str, deadline: datetime) -> None:
        """A new topic for a deleted one: link it, announce it, queue the note before the
        reply (the head of ``key``, which stays in flight until this returns)."""
        chat, old = self._resolve(key)
        assert old is not None
        subject = (self._subjects.get(ticket_id)
                   or await asyncio.to_thread(self.ledger.subject, ticket_id)
                   or f"Ticket {ticket_id}")
        # The name marks the topic as a continuation of the ticket's first topic, so the
        # worker routes every message in it to that ticket, even before the re-link record.
        first = forum_thread_of(ticket_id)
        name = continuation_name(subject, old if first is None else first)
        topic = await self.api.call("createForumTopic", chat_id=chat, name=name)
        new = int(topic["message_thread_id"])
        link = ThreadLink(chat, old, new, ticket_id, name, datetime.now(UTC))
        await asyncio.to_thread(self.ledger.record_link, link)
        self._links[(chat, old)] = new
        self.stats.recreated += 1
        RECREATED.inc()
        log.info("mirror.topic_recreated", ticket_id=ticket_id, chat_id=chat,
                 old_thread_id=old, new_thread_id=new)
        new_key: ThreadKey = (chat, new)
        self.scheduler.rekey(key, new_key)
        if key in self._failures:
            self._failures[new_key] = self._failures.pop(key)
        self.scheduler.prepend(new_key, _Note(ticket_id, history_note(ticket_id)), deadline)
        self.scheduler.retry(new_key, not_before=0.0)
        await self._announce(link)

    async def _announce(self, link: ThreadLink) -> None:
        """``TopicRecreated`` to the raw log, so the worker re-links the ticket."""
        if self.raw_log is None:
            return
        record = TopicRecreated(ticket_id=link.ticket_id, chat_id=link.chat_id,
                                old_thread_id=link.old_thread_id,
                                new_thread_id=link.new_thread_id, name=link.name,
                                recreated_at=link.linked_at)
        try:
            await self.raw_log.append([record])
            await asyncio.to_thread(self.ledger.mark_announced, link.chat_id,
                                    link.old_thread_id)
        except Exception as exc:  # announced again at the next start
            log.warning("mirror.announce_failed", ticket_id=link.ticket_id, error=repr(exc))

    # -- failures --------------------------------------------------------------------------

    def _backoff(self, key: ThreadKey, exc: TransientError) -> None:
        now = self.clock()
        if _is_flood(exc):
            wait = exc.retry_after or 1.0
            self.stats.flood_429 += 1
            FLOODED.inc()
            wide = self.scheduler.flood(key, now + wait, now)
            log.warning("mirror.flood_wait", chat_id=key[0], thread_id=key[1],
                        retry_after=wait, global_wait=wide)
            return
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        wait = min(exc.retry_after or 0.5 * 2 ** (failures - 1), self.max_backoff)
        self.stats.retries += 1
        self.scheduler.retry(key, now + wait)
        log.warning("mirror.retry", chat_id=key[0], thread_id=key[1], delay=wait,
                    error=str(exc))

    async def _record(self, delivery: Delivery) -> None:
        """Write the delivery; keep trying, since the message is already out."""
        delay = 0.1
        for attempt in itertools.count(1):
            try:
                await asyncio.to_thread(self.ledger.record_delivery, delivery)
                return
            except Exception as exc:
                if self._stop.is_set() and attempt >= 5:
                    raise
                log.error("mirror.ledger_write_failed", event_id=delivery.event_id,
                          attempt=attempt, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _dead_letter(self, item: _Message, reason: str, detail: str) -> None:
        """The reply or notice goes to the dead-letter topic (key: its ``letter_key``) with
        the reason, and the mirror moves on."""
        rec = item.origin
        letter = DeadLetter(reason=reason, detail=detail[:500], consumer=self.group,
                            topic=rec.topic, partition=rec.partition, offset=rec.offset,
                            key=item.letter_key,
                            payload_b64=DeadLetter.encode_payload(rec.value),
                            failed_at=datetime.now(UTC))
        await self.bus.append(self.names.dead_letters,
                              [Outgoing(item.ticket_id.encode(),
                                        letter.model_dump_json().encode(), partition=0)])
        self.stats.dead_lettered += 1
        DEAD_LETTERED.inc()
        DEAD_LETTERS.labels(self.group, reason).inc()
        chat, thread = item.destination or (None, None)
        log.warning("mirror.dead_lettered", event_id=item.event.event_id,
                    delivery_id=item.delivery_id, ticket_id=item.ticket_id, chat_id=chat,
                    thread_id=thread, reason=reason, error=detail)


_CODE = re.compile(r": (\d{3}) ")


def _is_flood(exc: TransientError) -> bool:
    match = _CODE.search(str(exc))
    return match is not None and match.group(1) == "429"


def _topic_closed(exc: TelegramApiError) -> bool:
    return "TOPIC_CLOSED" in exc.description


def _topic_missing(exc: TelegramApiError) -> bool:
    text = exc.description
    return "message thread not found" in text.lower() or "TOPIC_DELETED" in text


__all__ = ["GROUP", "Limits", "MirrorStats", "ReplyMirror", "Scheduler", "history_note",
           "notice_id", "occurred_at", "render_reply"]
