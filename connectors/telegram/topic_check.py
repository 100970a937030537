"""Reconciliation with Telegram: is each open ticket's forum topic open?

The Bot API has no method that reads a forum topic's state. ``reopenForumTopic`` is the one
call that answers the question without harm: on an open topic Telegram refuses it with
``TOPIC_NOT_MODIFIED`` and changes nothing; on a closed topic it reopens it, which is the repair
(in a closed topic only admins can write, so the customer of an open ticket could not answer);
on a deleted topic it fails with ``message thread not found``. So, for every open forum ticket
in the log's view:

- ``TOPIC_NOT_MODIFIED``: the topic is open, as the log has it. No drift.
- success: ``topic_closed``. The topic was closed (by someone in the group, and the update
  never reached telecase); it is open again now. Correction: a ``TopicChecked`` record
  (``found="closed"``, ``action="reopened"``).
- ``message thread not found``: ``topic_missing``. The topic was deleted (Telegram sends no
  update for that). Correction: a ``TopicChecked`` record (``found="missing"``); the reply mirror
  opens a new topic for the ticket when it next writes to it. The record's id is stable, so a
  topic found missing in every round is recorded once.
- ``TOPIC_ID_INVALID`` / ``TOPIC_DELETED``: the same as ``message thread not found`` (the
  server's words for a deleted topic; every variant is
  :class:`~connectors.telegram.bot_api.TopicDeleted`).
- ``chat not found`` / 403 (the bot left or was removed from the group): ``chat_unreachable``,
  reported.
- ``not enough rights to close or open the topic`` (a bot without ``can_manage_topics`` probing
  a topic it did not create; the Bot API's ``reopenForumTopic``):
  ``topic_unchecked``, reported with the right to grant; the refusal is also logged as a
  WARNING and counted (``telecase_telegram_rights_missing_total``) by the Bot API client.
- anything else, or a 429/5xx still failing after :data:`ATTEMPTS` tries:
  ``topic_unchecked``, reported.

**Rights, first.** Before a round's probes, each group's bot membership is read once
(``getChatMember`` for the bot): every administrator right telecase needs there and lacks
(:data:`NEEDED_RIGHTS`: ``can_manage_topics`` to reopen a customer's closed topic and to
create topics, as the Bot API documents for ``createForumTopic``, ``closeForumTopic`` and
``reopenForumTopic``; ``can_delete_messages`` to remove agents' commands) is logged as a
WARNING (``telegram.bot_rights_missing``, with what the right is for) and the groups lacking
one are the gauge ``telecase_telegram_groups_lacking_rights``. A group the bot cannot read
is left to the probes, which report it.

Closed tickets are not probed: telecase never closes a customer's topic itself (an open topic
lets the customer follow up, which reopens the ticket), so there is nothing to compare. Nor
does ``--dry-run`` probe: the probe repairs what it finds.

The records go to ``telegram.updates`` (keyed by chat, like the connector's updates); the
worker records each as a ``topic.reconciled`` event. Probes are paced (:data:`PROBE_INTERVAL`)
and a 429/5xx is retried (:data:`streams.runtime.retry.TELEGRAM_CHECK`, ``retry_after`` honoured),
so reconciliation does not take the reply mirror's share of the bot's rate limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog
from prometheus_client import Gauge

from connectors.errors import TransientError
from connectors.telegram.bot_api import (
    ChatNotFound,
    Forbidden,
    NotEnoughRights,
    TelegramApiError,
    TopicDeleted,
    TopicNotModified,
)
from streams.core.ticket import TicketState
from streams.runtime.retry import TELEGRAM_CHECK, retrying
from streams.schema.envelope import TopicChecked

log = structlog.get_logger("telecase.reconcile")

PROBE_INTERVAL = 0.2
"""Seconds between two probes (5 a second: well inside the bot's ~30 calls a second)."""
ATTEMPTS = 3

NEEDED_RIGHTS: dict[str, str] = {
    "can_manage_topics": "reopen customers' closed topics and create topics",
    "can_delete_messages": "remove agents' command messages",
}
"""The administrator rights telecase needs in a forum group, and what each is for."""

GROUPS_LACKING = Gauge("telecase_telegram_groups_lacking_rights",
                       "Forum groups where the bot lacks an administrator right telecase "
                       "needs, at the last reconciliation")

TopicDriftKind = Literal["topic_closed", "topic_missing", "chat_unreachable",
                         "topic_unchecked"]


class BotCaller(Protocol):
    async def call(self, method: str, **params: Any) -> Any: ...


@dataclass(frozen=True)
class TopicFinding:
    ticket_id: str
    kind: TopicDriftKind
    detail: str
    correction: TopicChecked | None = None


def probed(tickets: Iterable[TicketState]) -> list[TicketState]:
    """The tickets whose topic is compared: open forum tickets with a thread."""
    return [t for t in tickets
            if t.channel == "forum_topic" and t.status == "open" and t.thread_id is not None]


class TopicProbe:
    def __init__(self, api: BotCaller, *, interval: float = PROBE_INTERVAL,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.api, self.interval, self.sleep = api, interval, sleep
        self._bot_id: int | None = None

    async def check_all(self, tickets: Iterable[TicketState],
                        now: datetime) -> tuple[int, list[TopicFinding]]:
        """``(topics probed, findings)``."""
        findings: list[TopicFinding] = []
        chosen = probed(tickets)
        lacking = 0
        for chat in sorted({t.chat_id for t in chosen}):
            lacking += bool(await self.missing_rights(chat))
        GROUPS_LACKING.set(lacking)
        for i, ticket in enumerate(chosen):
            if i:
                await self.sleep(self.interval)
            found = await self.check(ticket, now)
            if found is not None:
                findings.append(found)
        return len(chosen), findings

    async def missing_rights(self, chat: int) -> list[str]:
        """The rights of :data:`NEEDED_RIGHTS` the bot lacks in ``chat`` (each logged as a
        WARNING); none when it is the group's creator or its membership cannot be read."""
        try:
            if self._bot_id is None:
                self._bot_id = int((await self.api.call("getMe"))["id"])
            member = await self.api.call("getChatMember", chat_id=chat, user_id=self._bot_id)
        except (TransientError, TelegramApiError):
            return []  # the probes report an unreachable group
        if not isinstance(member, dict) or member.get("status") == "creator":
            return []
        missing = [right for right in NEEDED_RIGHTS if member.get(right) is not True]
        for right in missing:
            log.warning("telegram.bot_rights_missing", chat_id=chat, right=right,
                        needed_to=NEEDED_RIGHTS[right], status=member.get("status"))
        return missing

    async def check(self, ticket: TicketState, now: datetime) -> TopicFinding | None:
        chat, thread = ticket.chat_id, ticket.thread_id
        assert thread is not None
        try:
            await retrying(lambda: self.api.call("reopenForumTopic", chat_id=chat,
                                                 message_thread_id=thread),
                           policy=TELEGRAM_CHECK, retry_on=TransientError, attempts=ATTEMPTS,
                           sleep=self.sleep)
        except TransientError as exc:
            return TopicFinding(ticket.ticket_id, "topic_unchecked",
                                f"Telegram kept failing: {exc}")
        except TopicNotModified:
            return None  # open, as it should be
        except TopicDeleted:
            return TopicFinding(
                ticket.ticket_id, "topic_missing",
                "the topic was deleted; the reply mirror opens a new one when it next writes",
                _record(ticket, "missing", "none", now,
                        f"reconcile:topic-missing:{chat}:{thread}",
                        "deleted in Telegram; the reply mirror opens a new topic when it next "
                        "writes to the ticket"))
        except (Forbidden, ChatNotFound) as exc:
            return TopicFinding(ticket.ticket_id, "chat_unreachable",
                                f"the bot cannot reach the group: {exc.description}")
        except NotEnoughRights as exc:
            return TopicFinding(ticket.ticket_id, "topic_unchecked",
                                "the bot lacks the can_manage_topics administrator right in "
                                f"the group; grant it ({exc.description})")
        except TelegramApiError as exc:
            return TopicFinding(ticket.ticket_id, "topic_unchecked",
                                f"Telegram refused: {exc.description}")
        log.info("reconcile.topic_reopened", ticket_id=ticket.ticket_id, chat_id=chat,
                 thread_id=thread)
        return TopicFinding(
            ticket.ticket_id, "topic_closed",
            "the topic was closed while the ticket is open; reopened it",
            _record(ticket, "closed", "reopened", now,
                    f"reconcile:topic:{chat}:{thread}:{now.isoformat()}",
                    "closed in Telegram while the ticket is open; reconciliation reopened it"))


def _record(ticket: TicketState, found: Literal["closed", "missing"],
            action: Literal["reopened", "none"], now: datetime, check_id: str,
            detail: str) -> TopicChecked:
    assert ticket.thread_id is not None
    return TopicChecked(check_id=check_id, ticket_id=ticket.ticket_id, chat_id=ticket.chat_id,
                        thread_id=ticket.thread_id, found=found, action=action, detail=detail,
                        checked_at=now)
