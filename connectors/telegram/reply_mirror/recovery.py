"""Topic recovery for the reply mirror: sending into a forum topic that was closed or deleted.

- **A closed topic is reopened before the send, always.** An administrator with
  ``can_manage_topics`` may post in a closed topic (Bot API: ``ChatAdministratorRights``,
  ``closeForumTopic``), so a send into a closed topic can *succeed* and leave the topic closed,
  where the customer cannot answer. Nothing in the Bot API reads a topic's state, so every
  send into a topic first calls ``reopenForumTopic``: ``TOPIC_NOT_MODIFIED`` means it is open
  (nothing changed); success means it was closed and is open now; a deleted topic raises
  :class:`TopicGone`; a bot without ``can_manage_topics`` that did not create the topic gets
  :class:`~connectors.telegram.bot_api.NotEnoughRights` (logged and counted where it is
  raised) and sends anyway: into an open topic that works, into a closed one it is
  ``TOPIC_CLOSED``, a refusal for good. A 429 or 5xx on the reopen is transient, like the
  send's.
- :class:`~connectors.telegram.bot_api.TopicClosed` on the send (closed between the reopen
  and the send): reopened again and the message sent again, at most three times.
- :class:`~connectors.telegram.bot_api.TopicDeleted` (``message thread not found``): the send
  raises :class:`TopicGone`; the mirror then calls :meth:`TopicRecovery.recreate`, which
  creates a topic named as a continuation of the ticket's first topic (so the worker routes
  messages in it to the ticket even before the re-link record), records the re-link in the
  ledger and in :attr:`TopicRecovery.links` (followed by :meth:`TopicRecovery.resolve`), and
  :meth:`TopicRecovery.announce` appends a ``TopicRecreated`` record through the raw log so
  the worker re-links the ticket. An announcement lost to a crash is repeated at the next
  start (:meth:`TopicRecovery.load`; the ledger marks it announced).
- A topic of a private chat with the bot (Bot API 9.3, a positive ``chat_id``) is sent to with
  its ``message_thread_id`` and never reopened first (reopening is for forums); when the user
  deleted it, the message goes to the private chat itself (a bot makes no topics there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.errors import ConnectorError, TransientError
from connectors.raw_log import RawLog
from connectors.telegram.bot_api import (
    BotApi,
    NotEnoughRights,
    TopicClosed,
    TopicDeleted,
    TopicNotModified,
)
from connectors.telegram.ledger import DeliveryLedger, ThreadLink
from connectors.telegram.reply_mirror.stats import RECREATED, REOPENED, MirrorStats
from connectors.telegram.reply_scheduler import ThreadKey
from streams.core.routing import continuation_name
from streams.core.ticket import forum_thread_of
from streams.schema.envelope import TopicRecreated

log = structlog.get_logger("telecase.telegram.mirror")

REOPEN_TRIES = 3
"""How many times a send reopens a topic that keeps closing before it gives up (transiently)."""


class TopicGone(ConnectorError):
    """The destination topic was deleted ("message thread not found")."""


class TopicRecovery:
    """Re-links of recreated topics, and the calls that reopen and recreate topics."""

    def __init__(self, api: BotApi, ledger: DeliveryLedger, raw_log: RawLog | None,
                 stats: MirrorStats) -> None:
        self.api, self.ledger, self.raw_log, self.stats = api, ledger, raw_log, stats
        self.links: dict[tuple[int, int], int] = {}
        """``(chat, old thread) -> new thread`` for every recreated topic."""
        self.subjects: dict[str, str] = {}
        """The ticket's topic name, per ticket, as read from the log."""
        self.known_open: set[tuple[int, int]] = set()
        """Forum topics this mirror reopened or found open (``TOPIC_NOT_MODIFIED``) and has
        read no close of since: a send there needs no reopening first. Emptied by
        :meth:`forget_open` whenever the log says some topic closed."""

    def forget_open(self) -> None:
        """Some topic closed (read from the log): every topic is reopened before its next
        send again. Closes are rare beside replies, so one extra call per topic after one."""
        self.known_open.clear()

    async def load(self) -> None:
        """The ledger's re-links; announce those not yet announced."""
        self.links = await asyncio.to_thread(self.ledger.links)
        for link in await asyncio.to_thread(self.ledger.unannounced_links):
            await self.announce(link)

    async def remember(self, subjects: dict[str, str]) -> None:
        """Topic names read from the log, kept for naming a recreated topic."""
        await asyncio.to_thread(self.ledger.remember_subjects, subjects)
        self.subjects.update(subjects)

    def resolve(self, key: ThreadKey) -> ThreadKey:
        """Where a thread lives now, following re-links of recreated topics."""
        chat, thread = key
        for _ in range(64):
            if thread is None or (chat, thread) not in self.links:
                break
            thread = self.links[(chat, thread)]
        return chat, thread

    async def send(self, chat: int, thread: int | None, text: str,
                   settle: Callable[[], None], *, method: str = "sendMessage",
                   content: dict[str, Any] | None = None) -> dict[str, Any]:
        """``sendMessage``, a forum topic reopened first unless known open (and again when
        Telegram says it is closed); :class:`TopicGone` when the topic was deleted.
        ``settle`` runs when each ``sendMessage`` answers (the scheduler counts the send from
        then). ``method`` and ``content`` (its parameters instead of ``text``): another send,
        e.g. ``sendDocument``."""
        refused: NotEnoughRights | None = None
        # A private chat's topic (chat > 0) is never reopened. A forum topic is, unless this
        # mirror knows it open: an admin's message to a closed topic is accepted and the topic
        # stays closed, so the customer could not answer.
        if thread is not None and chat < 0 and (chat, thread) not in self.known_open:
            try:
                await self._reopen(chat, thread)
            except NotEnoughRights as exc:  # not the bot's topic to reopen: the send decides
                refused = exc
        for _ in range(REOPEN_TRIES):
            try:
                try:
                    message = await self.api.call(
                        method, chat_id=chat, message_thread_id=thread,
                        **(content if content is not None else {"text": text}))
                finally:
                    settle()
                return dict(message)
            except TopicClosed:
                if thread is None:
                    raise
                if refused is not None:  # closed, and the bot may not reopen it: the reason
                    raise refused from None
                await self._reopen(chat, thread)
            except TopicDeleted as exc:
                if thread is None:
                    raise
                if chat > 0:  # a private chat's deleted topic: the chat itself, no new topic
                    thread = None
                    continue
                raise TopicGone from exc
        raise TransientError(f"{method}: the topic closed again after each reopening")

    async def _reopen(self, chat: int, thread: int) -> None:
        try:
            await self.api.call("reopenForumTopic", chat_id=chat, message_thread_id=thread)
        except TopicDeleted as exc:
            raise TopicGone from exc
        except TopicNotModified:
            self.known_open.add((chat, thread))
            return  # it was open
        self.known_open.add((chat, thread))
        self.stats.reopened += 1
        REOPENED.inc()
        log.info("mirror.topic_reopened", chat_id=chat, thread_id=thread)

    async def recreate(self, key: ThreadKey, ticket_id: str) -> ThreadLink:
        """A new topic for the deleted one ``key`` resolves to, linked (ledger and
        :attr:`links`); the caller queues the history note, then :meth:`announce`\\ s it."""
        chat, old = self.resolve(key)
        assert old is not None
        subject = (self.subjects.get(ticket_id)
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
        self.links[(chat, old)] = new
        self.stats.recreated += 1
        RECREATED.inc()
        log.info("mirror.topic_recreated", ticket_id=ticket_id, chat_id=chat,
                 old_thread_id=old, new_thread_id=new)
        return link

    async def announce(self, link: ThreadLink) -> None:
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


__all__ = ["REOPEN_TRIES", "TopicGone", "TopicRecovery"]
