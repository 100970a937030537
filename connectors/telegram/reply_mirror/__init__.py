"""The reply mirror: agent replies written in Salesforce, delivered into the ticket's Telegram
thread, in order, within Telegram's flood limits, once; and SLA escalation notices, delivered
the same way to the chats the escalation names.

It consumes ``ticket.events`` as a consumer group of its own (``telegram-mirror``) and acts on
``AgentReplied`` with ``via="salesforce"`` (a ``via="telegram"`` reply was written in Telegram:
the customer has seen it, so it is never sent), and on any ``AgentReplied`` an agent's command
produced (a template's expansion, a Knowledge link: ``sent_by_telecase``), and tells agents
in Telegram when their command sent nothing (``connectors.telegram.agent_notices``). Where a
reply goes comes from the event itself
(``chat_id``, ``thread_id``: a forum topic or a private chat's topic, ``None`` a private
chat or the General topic) and from the
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
back the thread off exponentially (:data:`streams.runtime.retry.TELEGRAM_SEND` with jitter, capped
at ``max_backoff``), the thread held so its replies stay in order.

**Topics.** A reply into a topic reopens it first, always (``reopenForumTopic``;
``TOPIC_NOT_MODIFIED`` means it was open): an administrator with ``can_manage_topics`` could
post into a closed topic, where the customer cannot answer. A bot that may not reopen it
(``NotEnoughRights``) sends anyway; into a closed topic that is dead-lettered with the missing
right (``recovery``).
``TopicDeleted`` (``message thread not found``): it creates a topic with the ticket's name, records
the re-link in the ledger, posts a short history note there, then the reply; and it appends a
``TopicRecreated`` record through the ``raw_log`` (when given) so the worker re-links the ticket.
An announcement lost to a crash is repeated at the next start (the ledger marks it announced).

**Errors.** ::

    ConnectorError
    ├── TransientError      TooManyRequests (retry_after) / 5xx / network: the reply (or
    │                       notice) stays queued, retried
    └── PermanentError
        └── TelegramApiError   ChatNotFound, BotBlocked, Forbidden, BadRequest...: the reply
                               (or notice) goes to the dead-letter topic with the
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

**Modules.** :mod:`~connectors.telegram.reply_mirror.plan` (what to send for an event: parts,
ledger keys, destinations; pure), :mod:`~connectors.telegram.reply_mirror.deliver`
(:class:`ReplyMirror`: reading, the per-thread queues and limits, sending, the ledger,
retries, dead letters, committing), :mod:`~connectors.telegram.reply_mirror.recovery`
(reopening closed topics, recreating deleted ones), :mod:`~connectors.telegram.reply_mirror.stats`
(counters).
"""

from __future__ import annotations

from connectors.telegram.reply_mirror.deliver import GROUP, ReplyMirror
from connectors.telegram.reply_mirror.plan import (
    MESSAGE_MAX,
    delivery_id,
    history_note,
    notice_id,
    occurred_at,
    render_reply,
    split_text,
)
from connectors.telegram.reply_mirror.stats import MirrorStats
from connectors.telegram.reply_scheduler import Limits, Scheduler

__all__ = ["GROUP", "MESSAGE_MAX", "Limits", "MirrorStats", "ReplyMirror", "Scheduler",
           "delivery_id", "history_note", "notice_id", "occurred_at", "render_reply",
           "split_text"]
