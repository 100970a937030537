"""The intake messenger: what bot intake forms (``streams.core.intake``) say in Telegram.

A sibling of the reply mirror: it consumes ``ticket.events`` as a consumer group of its own
(``telegram-intake``) and sends through the same :class:`~connectors.telegram.bot_api.BotApi`,
the same delivery ledger (``telegram_deliveries``) and the same pacing
(:class:`~connectors.telegram.reply_scheduler.Scheduler` with the mirror's limits). What it
acts on:

========================================  ===================================================
``intake.question_asked``                 the question, with its reply keyboard (choices, the
                                          "share my phone number" button, Back, Cancel), to
                                          the customer's private chat; ledger key: event id
``intake.completed`` / ``intake.abandoned``  the closing message, removing the keyboard
``ticket.opened`` with intake answers     with a team group configured: ``createForumTopic``
                                          there (once per ticket: ``telegram_intake_topics``),
                                          two ``IntakeTopicRecord`` records to
                                          ``telegram.updates`` (the worker links ticket and
                                          topic), then the form's summary in the topic
                                          (key ``<event id>/summary``)
``customer.message_received`` of a ticket  a copy in the topic, so agents see the conversation
with a topic                              there (key ``<event id>/topic``)
``agent.replied`` relayed from the topic  the reply, to the customer's private chat
(``streams.core.intake.is_relayed_reply``)  (key: event id)
========================================  ===================================================

Every other event is ignored on purpose (the reply mirror delivers agents' Salesforce replies
and escalation notices; nothing else is for Telegram).

**Once.** A message's ledger key is looked up before it is sent and written right after
``sendMessage`` returns, so redelivered events, restarts and replays of the consumer never
send twice; as with the mirror, only a crash between Telegram's answer and the ledger write
can repeat that one message. Records are handled one at a time in log order (intake traffic
is a few messages per form), and the position is committed after each batch.

**Errors.** Telegram's 429 (``retry_after``) and 5xx, and network failures, are retried with
backoff (:data:`streams.runtime.retry.TELEGRAM_SEND`, capped at ``max_backoff``), holding the
stream (the next question must not overtake this one). A refusal
(``TelegramApiError``: bot blocked, chat not found, the group is not a forum or the bot may
not manage its topics) sends that one event to ``telecase.deadletter`` with Telegram's
description, and the messenger moves on. A closed topic (``TopicClosed``) is reopened before
posting; a deleted one is not recreated (the post is dead-lettered; the ticket lives on in the
private chat and Salesforce).

Logs carry event ids, ticket ids and chats, never message text.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError

from connectors.errors import TransientError
from connectors.raw_log import RawLog
from connectors.telegram.bot_api import BotApi, TelegramApiError, TopicClosed
from connectors.telegram.intake_topics import IntakeTopics, TopicLink
from connectors.telegram.ledger import Delivery, DeliveryLedger
from connectors.telegram.reply_mirror.plan import render_reply
from connectors.telegram.reply_scheduler import Limits, Scheduler, ThreadKey
from streams.core.intake import is_relayed_reply, summary
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.lag import consume
from streams.runtime.retry import LEDGER_WRITE, TELEGRAM_SEND, retrying
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    AgentReplied,
    CustomerMessageReceived,
    IntakeAbandoned,
    IntakeButton,
    IntakeCompleted,
    IntakeQuestionAsked,
    TicketEvent,
    TicketOpened,
    UnknownEventError,
    decode_event,
)
from streams.schema.intake_records import IntakeTopicRecord

GROUP = "telegram-intake"
TOPIC_NAME_MAX = 128
log = structlog.get_logger("telecase.telegram.intake")

SENT = Counter("telecase_intake_messages_sent_total", "Messages the intake messenger sent",
               ["kind"])
TOPICS = Counter("telecase_intake_topics_opened_total",
                 "Forum topics opened in the team's group for intake tickets")
DEAD = Counter("telecase_intake_dead_lettered_total",
               "Intake messages Telegram refused for good, sent to the dead-letter topic",
               ["reason"])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Refused(Exception):
    def __init__(self, reason: str, error: TelegramApiError) -> None:
        super().__init__(error.description)
        self.reason, self.detail, self.error = reason, error.description, error


def keyboard(rows: tuple[tuple[IntakeButton, ...], ...]) -> dict[str, Any]:
    """A question's ``ReplyKeyboardMarkup``: kept on screen while the form runs."""
    return {"keyboard": [[{"text": b.text, **({"request_contact": True}
                                               if b.request_contact else {})}
                          for b in row] for row in rows],
            "resize_keyboard": True, "is_persistent": True}


REMOVE_KEYBOARD = {"remove_keyboard": True}


def topic_name(event: TicketOpened) -> str:
    answers = event.intake
    assert answers is not None
    return f"{answers.company} · {answers.name}"[:TOPIC_NAME_MAX]


def topic_summary(event: TicketOpened) -> str:
    answers = event.intake
    assert answers is not None
    who = event.customer
    handle = ""
    if who is not None:
        handle = f"@{who.username}" if who.username else str(who.telegram_user_id)
    return (f"New lead from the intake form: {event.ticket_id}\n\n{summary(answers)}\n"
            f"Telegram: {handle}\n\nWhat agents on the roster write here is sent to the "
            "customer's private chat; messages starting with / are not.")


class IntakeMessenger:
    """Sends bot intake forms' messages (see the module docstring). ``topic_chat_id``: the
    team's forum group for intake topics (``None``: no topics). ``raw_log``: where the
    topic records go (``telegram.updates``)."""

    def __init__(self, bus: Bus, names: TopicNames, api: BotApi, ledger: DeliveryLedger,
                 topics: IntakeTopics, *, raw_log: RawLog, topic_chat_id: int | None,
                 group: str = GROUP, limits: Limits | None = None, batch_max: int = 200,
                 max_backoff: float = 60.0,
                 render: Callable[[AgentReplied], str] = render_reply,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus, self.names, self.api, self.ledger, self.topics = (bus, names, api, ledger,
                                                                    topics)
        self.raw_log, self.topic_chat_id, self.group = raw_log, topic_chat_id, group
        self.batch_max, self.max_backoff, self.render, self.clock = (batch_max, max_backoff,
                                                                     render, clock)
        self.policy = TELEGRAM_SEND.capped(max_backoff)
        self.scheduler: Scheduler[str] = Scheduler(limits)
        self.links: dict[str, TopicLink] = {}
        self.sent = 0
        self.dead_lettered = 0
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self._create_tables()
        self.links = await asyncio.to_thread(self.topics.links)
        for link in await asyncio.to_thread(self.topics.unannounced):
            await self._announce(link)
        topic = self.names.ticket_events
        positions = await self.bus.committed(self.group, topic)
        log.info("intake.started", group=self.group, topic_chat_id=self.topic_chat_id)
        await consume(self.bus, topic, positions, self._handle, stop, group=self.group,
                      batch_max=self.batch_max)
        log.info("intake.stopped", group=self.group, sent=self.sent)

    async def _create_tables(self) -> None:
        """The ledger's tables and the topics table. The reply mirror creates the ledger's
        at the same moment on the same database: a loser of that race tries again."""
        async def create() -> None:
            await asyncio.to_thread(self.ledger.create)
            await asyncio.to_thread(self.topics.create)

        await retrying(create, policy=LEDGER_WRITE, retry_on=DBAPIError, attempts=5)

    async def _handle(self, partition: int, records: list[Record]) -> bool:
        done = 0
        for rec in records:
            if self._stop.is_set():
                break
            try:
                event = decode_event(rec.value)
            except (UnknownEventError, ValueError):
                done += 1
                continue  # the projector dead-letters what no one can decode
            try:
                await self._act(event, rec)
            except _Refused as exc:
                await self._dead_letter(event, rec, exc.reason, exc.detail)
            except _Stopped:
                break
            done += 1
        if done:
            await self.bus.commit(self.group, self.names.ticket_events,
                                  {partition: records[done - 1].offset + 1})
        return done == len(records)

    async def _act(self, event: TicketEvent, rec: Record) -> None:
        if isinstance(event, IntakeQuestionAsked):
            await self._send(event.event_id, event.ticket_id, (event.chat_id, None), event.text,
                             keyboard(event.keyboard), "question")
        elif isinstance(event, IntakeCompleted | IntakeAbandoned):
            await self._send(event.event_id, event.ticket_id, (event.chat_id, None), event.text,
                             REMOVE_KEYBOARD, "closing")
        elif isinstance(event, TicketOpened) and event.intake is not None:
            if self.topic_chat_id is not None:
                link = await self._topic(event)
                await self._send(f"{event.event_id}/summary", event.ticket_id,
                                 (link.chat_id, link.thread_id), topic_summary(event), None,
                                 "summary")
        elif isinstance(event, CustomerMessageReceived) and event.ticket_id in self.links:
            link = self.links[event.ticket_id]
            who = " ".join(p for p in (event.sender.first_name, event.sender.last_name) if p)
            body = event.text or f"[{event.content_kind}, in the private chat]"
            await self._send(f"{event.event_id}/topic", event.ticket_id,
                             (link.chat_id, link.thread_id),
                             f"{who or event.sender.telegram_user_id}:\n{body}", None,
                             "customer_copy")
        elif isinstance(event, AgentReplied) and is_relayed_reply(event):
            assert event.chat_id is not None
            await self._send(event.event_id, event.ticket_id, (event.chat_id, None),
                             self.render(event), None, "relayed_reply")

    # -- topics ----------------------------------------------------------------------------

    async def _topic(self, event: TicketOpened) -> TopicLink:
        """The ticket's topic in the team's group, opened (and announced) once."""
        known = self.links.get(event.ticket_id)
        if known is not None:
            return known
        assert self.topic_chat_id is not None
        name = topic_name(event)
        result = await self._call("createForumTopic", (self.topic_chat_id, None),
                                  chat_id=self.topic_chat_id, name=name)
        link = TopicLink(event.ticket_id, event.chat_id, self.topic_chat_id,
                         int(result["message_thread_id"]), name, datetime.now(UTC))
        await asyncio.to_thread(self.topics.record, link)
        self.links[event.ticket_id] = link
        TOPICS.inc()
        log.info("intake.topic_opened", ticket_id=event.ticket_id, chat_id=link.chat_id,
                 thread_id=link.thread_id)
        await self._announce(link)
        return link

    async def _announce(self, link: TopicLink) -> None:
        """Both topic records to ``telegram.updates``: the ticket's side and the topic's."""
        records = [IntakeTopicRecord(ticket_id=link.ticket_id,
                                     customer_chat_id=link.customer_chat_id,
                                     chat_id=link.chat_id, thread_id=link.thread_id,
                                     name=link.name, opened_at=link.created_at, side=side)
                   for side in ("topic", "ticket")]
        await self.raw_log.append(records)
        await asyncio.to_thread(self.topics.mark_announced, link.ticket_id)

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, delivery_id: str, ticket_id: str, where: ThreadKey, text: str,
                    markup: dict[str, Any] | None, kind: str) -> None:
        if await asyncio.to_thread(self.ledger.delivered, [delivery_id]):
            return
        chat, thread = where
        try:
            message = await self._call("sendMessage", where, chat_id=chat,
                                       message_thread_id=thread, text=text,
                                       reply_markup=markup)
        except _Refused as exc:
            if thread is None or not isinstance(exc.error, TopicClosed):
                raise
            await self._call("reopenForumTopic", where, chat_id=chat, message_thread_id=thread)
            message = await self._call("sendMessage", where, chat_id=chat,
                                       message_thread_id=thread, text=text,
                                       reply_markup=markup)
        await self._record(Delivery(delivery_id, ticket_id, chat, thread,
                                    int(message["message_id"]), datetime.now(UTC)))
        self.sent += 1
        SENT.labels(kind).inc()
        log.debug("intake.sent", delivery_id=delivery_id, ticket_id=ticket_id, chat_id=chat,
                  thread_id=thread, kind=kind)

    async def _call(self, method: str, where: ThreadKey, **params: Any) -> Any:
        """One Bot API call within the pace, retried while Telegram or the network fails
        transiently; a refusal raises :class:`_Refused`."""
        failures = 0
        while True:
            await self._pace(where)
            try:
                try:
                    return await self.api.call(method, **params)
                finally:
                    self.scheduler.settle(where, self.clock())
            except TransientError as exc:
                failures += 1
                wait = self.policy.wait(failures, exc.retry_after)
                now = self.clock()
                if exc.retry_after is not None:
                    self.scheduler.flood(where, now + wait, now)
                log.warning("intake.retry", method=method, chat_id=where[0], delay=wait,
                            error=str(exc))
                await self._sleep(wait)
            except TelegramApiError as exc:
                raise _Refused("topic_not_created" if method == "createForumTopic"
                               else "telegram_rejected", exc) from exc
            finally:
                self.scheduler.done(where)

    async def _pace(self, where: ThreadKey) -> None:
        """Wait until a send to ``where`` fits Telegram's limits, and reserve it."""
        self.scheduler.push(where, "send", _EPOCH)
        while True:
            now = self.clock()
            if self.scheduler.take(now) is not None:
                return
            at = self.scheduler.wake_at(now)
            await self._sleep(max((at if at is not None else now) - now, 0.001))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        if self._stop.is_set():
            raise _Stopped

    async def _record(self, delivery: Delivery) -> None:
        """Write the delivery; keep trying, since the message is already out."""
        def failed(attempt: int, exc: BaseException, delay: float) -> None:
            log.error("intake.ledger_write_failed", delivery_id=delivery.event_id,
                      error=repr(exc))

        await retrying(lambda: asyncio.to_thread(self.ledger.record_delivery, delivery),
                       policy=LEDGER_WRITE, retry_on=Exception, on_retry=failed)

    async def _dead_letter(self, event: TicketEvent, rec: Record, reason: str,
                           detail: str) -> None:
        letter = DeadLetter(reason=reason, detail=detail[:500], consumer=self.group,
                            topic=rec.topic, partition=rec.partition, offset=rec.offset,
                            key=event.event_id, payload_b64=DeadLetter.encode_payload(rec.value),
                            failed_at=datetime.now(UTC))
        await self.bus.append(self.names.dead_letters,
                              [Outgoing(event.ticket_id.encode(),
                                        letter.model_dump_json().encode(), partition=0)])
        self.dead_lettered += 1
        DEAD.labels(reason).inc()
        log.warning("intake.dead_lettered", event_id=event.event_id, ticket_id=event.ticket_id,
                    reason=reason, error=detail)


class _Stopped(Exception):
    """The messenger is stopping while waiting (to pace, or after a failure)."""


__all__ = ["GROUP", "REMOVE_KEYBOARD", "IntakeMessenger", "keyboard", "topic_name",
           "topic_summary"]
