"""Delivering: the reply mirror's consumer, which reads ``ticket.events``, queues what
:mod:`~connectors.telegram.reply_mirror.plan` says to send, and sends it in order within
Telegram's limits, once (the delivery ledger), committing the log position only below what is
not yet delivered. Closed and deleted topics are handed to
:mod:`~connectors.telegram.reply_mirror.recovery`. The package's docstring tells the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.errors import TransientError
from connectors.raw_log import RawLog
from connectors.telegram.agent_notices import (
    AGENT_NOTICES,
    COMMANDS_DELETED,
    AgentNotice,
    command_message,
)
from connectors.telegram.bot_api import BotApi, TelegramApiError, TooManyRequests
from connectors.telegram.ledger import Delivery, DeliveryLedger
from connectors.telegram.reply_mirror.files import FileDownloads, FileSend, file_send
from connectors.telegram.reply_mirror.plan import (
    FilePart,
    HistoryNote,
    Item,
    Message,
    ReplyPart,
    closes_topic,
    deadline_of,
    history_note,
    messages,
    occurred_at,
    render_reply,
    topic_subject,
)
from connectors.telegram.reply_mirror.recovery import TopicGone, TopicRecovery
from connectors.telegram.reply_mirror.stats import (
    DEAD_LETTERED,
    FLOODED,
    NOTIFIED,
    SENT,
    MirrorStats,
)
from connectors.telegram.reply_scheduler import Limits, Scheduler, ThreadKey
from streams.runtime.bus import Bus, Outgoing, Record
from streams.runtime.fold import DEAD_LETTERS
from streams.runtime.lag import consume
from streams.runtime.quarantine import dead_letter, describe, format_traceback, is_infrastructure
from streams.runtime.retry import LEDGER_WRITE, TELEGRAM_SEND, retrying
from streams.runtime.topics import TopicNames
from streams.schema.deadletter import DeadLetter
from streams.schema.events import (
    AgentCommandRefused,
    AgentReplied,
    UnknownEventError,
    decode_event,
)

GROUP = "telegram-mirror"
log = structlog.get_logger("telecase.telegram.mirror")


class ReplyMirror:
    """Delivers ``AgentReplied(via="salesforce")`` and the ``notify_telegram`` actions of
    ``SlaEscalated`` from ``ticket.events`` into Telegram.

    ``raw_log``: where ``TopicRecreated`` records go (``telegram.updates``, e.g.
    ``BusRawLog(bus, names.telegram_updates)``); without it a recreated topic is linked in the
    ledger only. ``clock``: a monotonic clock for the limits and backoffs. ``files``: where an
    agent's File's bytes come from (Salesforce); without it, or over ``files_max_bytes``, the
    customer gets a message naming the file instead.
    """

    def __init__(self, bus: Bus, names: TopicNames, api: BotApi, ledger: DeliveryLedger, *,
                 raw_log: RawLog | None = None, group: str = GROUP,
                 deadline: Callable[[AgentReplied], datetime] = occurred_at,
                 render: Callable[[AgentReplied], str] = render_reply,
                 limits: Limits | None = None, max_in_flight: int = 8,
                 batch_max: int = 500, max_pending: int = 10_000,
                 commit_interval: float = 0.2, max_backoff: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 files: FileDownloads | None = None,
                 files_max_bytes: int | None = None) -> None:
        self.bus, self.names, self.api, self.ledger = bus, names, api, ledger
        self.raw_log, self.group = raw_log, group
        self.deadline, self.render, self.clock = deadline, render, clock
        self.max_in_flight, self.batch_max, self.max_pending = (max_in_flight, batch_max,
                                                                max_pending)
        self.commit_interval, self.max_backoff = commit_interval, max_backoff
        self.files, self.files_max_bytes = files, files_max_bytes
        self.scheduler: Scheduler[Item] = Scheduler(limits)
        self.stats = MirrorStats()
        self.topics = TopicRecovery(api, ledger, raw_log, self.stats)
        self.policy = replace(TELEGRAM_SEND.capped(max_backoff), retry_after_cap=max_backoff)
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
        await self.topics.load()
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
        items: list[Message] = []
        subjects: dict[str, str] = {}
        for rec in records:
            try:
                event = decode_event(rec.value)
            except (UnknownEventError, ValueError):
                continue  # the projector dead-letters what no one can decode
            try:
                planned, subject = messages(event, rec, self.render), topic_subject(event)
            except Exception as exc:  # a poison event: quarantined, never fatal
                await self._quarantine(rec, exc)
                continue
            items += planned
            if subject is not None:
                subjects[event.ticket_id] = subject
            if closes_topic(event):
                self.topics.forget_open()
        if subjects:
            await self.topics.remember(subjects)
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
            key = self.topics.resolve(destination)
            self._queued_ids.add(item.delivery_id)
            outstanding[rec.offset] = outstanding.get(rec.offset, 0) + 1
            self.scheduler.push(key, item, deadline_of(item, self.deadline))
        self._read_upto[partition] = records[-1].offset + 1
        self._wake.set()
        while len(self.scheduler) >= self.max_pending and not self._stop.is_set():
            self._progress.clear()
            await self._progress.wait()
        return not self._stop.is_set()

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

    def _finished(self, key: ThreadKey, item: Item) -> None:
        self.scheduler.done(key)
        self._failures.pop(key, None)
        if not isinstance(item, HistoryNote):
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

    async def _deliver(self, key: ThreadKey, item: Item) -> None:
        try:
            if isinstance(item, HistoryNote):
                await self._send_note(key, item)
            else:
                await self._send_message(key, item)
        except TransientError as exc:
            self._backoff(key, exc)
        except Exception as exc:
            if is_infrastructure(exc):  # the ledger's database, say: retried like a send
                self._backoff(key, TransientError(describe(exc)))
                return
            if isinstance(item, HistoryNote):  # a courtesy note: logged and passed
                log.error("mirror.note_failed", chat_id=key[0], thread_id=key[1],
                          error=describe(exc), traceback=format_traceback(exc))
            else:  # a reply or notice: quarantined
                log.error("mirror.delivery_failed", topic=item.origin.topic,
                          partition=item.origin.partition, offset=item.origin.offset,
                          error=describe(exc), traceback=format_traceback(exc))
                await self._dead_letter(item, "mirror_failed", describe(exc),
                                        format_traceback(exc))
            self._finished(key, item)

    async def _send_message(self, key: ThreadKey, item: Message) -> None:
        """A reply (part) or a notice (part): send, record in the ledger, finish."""
        chat, thread = self.topics.resolve(key)
        if isinstance(item, ReplyPart | AgentNotice) and item.part == 0:
            await self._delete_command(item.event)
        try:
            if isinstance(item, FilePart):
                send = await file_send(item, self.files, self.files_max_bytes)
                message = await self._send(key, chat, thread, send.text, send)
            else:
                message = await self._send(key, chat, thread, item.text)
        except TopicGone:  # only a reply has a thread (``_send`` raises it for threads)
            try:
                await self._recreate(key, item.ticket_id, deadline_of(item, self.deadline))
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
        if isinstance(item, ReplyPart | FilePart):
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
        chat, thread = self.topics.resolve(item.fallback)
        try:
            message = await self._send(key, chat, thread, item.thread_text)
        except (TelegramApiError, TopicGone):
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

    async def _send_note(self, key: ThreadKey, note: HistoryNote) -> None:
        chat, thread = self.topics.resolve(key)
        try:
            await self._send(key, chat, thread, note.text)
        except TopicGone:
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
                    text: str, file: FileSend | None = None) -> dict[str, Any]:
        """``sendMessage`` (a closed topic reopened first), the send settled in the scheduler's
        windows when Telegram answers; ``file``: ``sendDocument``/``sendPhoto`` instead."""
        def settle() -> None:
            self.scheduler.settle(key, self.clock())

        if file is None or file.method == "sendMessage":
            return await self.topics.send(chat, thread, text, settle)
        return await self.topics.send(chat, thread, text, settle, method=file.method,
                                      content=file.content)

    async def _recreate(self, key: ThreadKey, ticket_id: str, deadline: datetime) -> None:
        """A new topic for a deleted one: link it, queue the note before the reply (the head
        of ``key``, which stays in flight until this returns), announce it."""
        link = await self.topics.recreate(key, ticket_id)
        new_key: ThreadKey = (link.chat_id, link.new_thread_id)
        self.scheduler.rekey(key, new_key)
        if key in self._failures:
            self._failures[new_key] = self._failures.pop(key)
        self.scheduler.prepend(new_key, HistoryNote(ticket_id, history_note(ticket_id)),
                               deadline)
        self.scheduler.retry(new_key, not_before=0.0)
        await self.topics.announce(link)

    # -- failures --------------------------------------------------------------------------

    def _backoff(self, key: ThreadKey, exc: TransientError) -> None:
        now = self.clock()
        if isinstance(exc, TooManyRequests):
            wait = exc.retry_after or 1.0
            self.stats.flood_429 += 1
            FLOODED.inc()
            wide = self.scheduler.flood(key, now + wait, now)
            log.warning("mirror.flood_wait", chat_id=key[0], thread_id=key[1],
                        retry_after=wait, global_wait=wide)
            return
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        wait = self.policy.wait(failures, exc.retry_after)
        self.stats.retries += 1
        self.scheduler.retry(key, now + wait)
        log.warning("mirror.retry", chat_id=key[0], thread_id=key[1], delay=wait,
                    error=str(exc))

    async def _record(self, delivery: Delivery) -> None:
        """Write the delivery; keep trying, since the message is already out."""
        def failed(attempt: int, exc: BaseException, delay: float) -> None:
            log.error("mirror.ledger_write_failed", event_id=delivery.event_id,
                      attempt=attempt, error=repr(exc))

        await retrying(lambda: asyncio.to_thread(self.ledger.record_delivery, delivery),
                       policy=LEDGER_WRITE, retry_on=Exception, on_retry=failed,
                       give_up=lambda attempt: self._stop.is_set() and attempt >= 5)

    async def _quarantine(self, rec: Record, exc: Exception) -> None:
        """An event the mirror raised on while planning it: dead-lettered, then passed."""
        letter = dead_letter(rec, self.group, "mirror_failed", exc, datetime.now(UTC))
        await self.bus.append(self.names.dead_letters, [Outgoing(
            rec.key, letter.model_dump_json().encode(), partition=0)])
        self.stats.dead_lettered += 1
        DEAD_LETTERED.inc()
        DEAD_LETTERS.labels(self.group, letter.reason).inc()
        log.error("mirror.quarantined", topic=rec.topic, partition=rec.partition,
                  offset=rec.offset, error=letter.detail, traceback=letter.traceback)

    async def _dead_letter(self, item: Message, reason: str, detail: str,
                           traceback: str | None = None) -> None:
        """The reply or notice goes to the dead-letter topic (key: its ``letter_key``) with
        the reason, and the mirror moves on. ``traceback``: where the mirror raised on it."""
        rec = item.origin
        letter = DeadLetter(reason=reason, detail=detail[:500], consumer=self.group,
                            topic=rec.topic, partition=rec.partition, offset=rec.offset,
                            key=item.letter_key,
                            payload_b64=DeadLetter.encode_payload(rec.value),
                            failed_at=datetime.now(UTC), traceback=traceback)
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


__all__ = ["GROUP", "ReplyMirror"]
