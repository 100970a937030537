"""``telecase ticket open`` and the dashboard's "open ticket" form: tickets a person opens.

Both build a :class:`~streams.schema.ticket_requests.TicketRequest` and append it to
``ticket.commands`` (keyed by its chat), where the ticket worker decides it
(``streams.core.requests``):

- **Outreach** (:func:`outreach_request`): in a forum (``chat`` the team forum,
  ``TELECASE_OUTREACH_CHAT_ID`` by default) this opens a topic named from the subject first
  (``createForumTopic``), so the request names its thread and the customer's answers there
  continue the ticket; with ``chat`` equal to the customer's id it uses the private chat
  (the customer must have started the bot: Telegram refuses a bot's first word otherwise,
  and the reply mirror dead-letters the message with Telegram's reason). The agent's first
  message is not sent here: the worker records it (``agent.replied``, ``via="outreach"``)
  and the reply mirror delivers it, paced and once.
- **Manual** (:func:`manual_request`): no Telegram at all; chat 0.

Runtimes, as for ``telecase desk`` requests (``telecase.ops.desk``): Kafka appends to the
cluster; embedded appends to the local log, or, while ``telecase run`` holds it, to
``<data dir>/ticket-inbox.sqlite``, which the running process moves into ``ticket.commands``
within a second (:func:`drain_ticket_inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import structlog

from connectors.telegram.bot_api import BotApi, TelegramApiError
from streams.core.routing import TOPIC_NAME_MAX
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog, LogUnavailableError
from streams.runtime.topics import TopicNames
from streams.schema.ticket_requests import TicketRequest
from telecase.bootstrap.runtime import embedded_log_path, open_bus, topic_names
from telecase.errors import TelecaseError
from telecase.ops.desk import Inbox, _in_use
from telecase.settings import RuntimeKind, Settings

log = structlog.get_logger("telecase.ops.ticket")
INBOX = "ticket-inbox.sqlite"


class TicketRequestError(TelecaseError):
    """A ticket cannot be opened as asked; the message says why and what to do."""


def _requester(requested_by: str | None) -> str:
    if requested_by:
        return requested_by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _request_id() -> str:
    return f"req-{uuid.uuid4().hex[:16]}"


async def outreach_request(settings: Settings, *, customer: int, subject: str, message: str,
                           chat: int | None = None, customer_username: str | None = None,
                           customer_name: str | None = None, requested_by: str | None = None,
                           case_id: str | None = None, api: BotApi | None = None,
                           ) -> TicketRequest:
    """The request for an outreach ticket; in a forum, its topic opened first."""
    chat = chat if chat is not None else settings.outreach_chat_id
    if chat is None:
        raise TicketRequestError("no chat: pass --chat (the team forum, or the customer's id "
                                 "for their private chat) or set TELECASE_OUTREACH_CHAT_ID")
    if not subject.strip():
        raise TicketRequestError("an outreach ticket needs a subject (the topic's name)")
    thread = None if chat == customer else await _open_topic(settings, chat, subject, api)
    return TicketRequest(request_id=_request_id(), mode="outreach",
                         origin="salesforce" if case_id else "agent", chat_id=chat,
                         thread_id=thread, customer_id=customer,
                         customer_username=customer_username, customer_name=customer_name,
                         subject=subject, message=message, case_id=case_id,
                         requested_by=_requester(requested_by), at=datetime.now(UTC))


def manual_request(*, customer_name: str | None, phone: str | None, note: str,
                   subject: str = "", requested_by: str | None = None) -> TicketRequest:
    if not (customer_name or phone):
        raise TicketRequestError("a manual ticket needs --customer-name or --phone")
    return TicketRequest(request_id=_request_id(), mode="manual", origin="manual",
                         customer_name=customer_name, phone=phone, note=note, subject=subject,
                         requested_by=_requester(requested_by), at=datetime.now(UTC))


async def _open_topic(settings: Settings, chat: int, subject: str, api: BotApi | None) -> int:
    own = api is None
    bot = api or BotApi(settings.require_token(), settings.telegram_api_base)
    try:
        topic = await bot.call("createForumTopic", chat_id=chat,
                               name=subject.strip()[:TOPIC_NAME_MAX])
    except TelegramApiError as exc:
        raise TicketRequestError(f"Telegram refused to open a topic in chat {chat}: {exc} "
                                 "(is it a forum, and may the bot manage topics?)") from None
    finally:
        if own:
            await bot.aclose()
    thread = int(topic["message_thread_id"])
    log.info("ticket.topic_opened", chat_id=chat, thread_id=thread)
    return thread


def _outgoing(request: TicketRequest) -> Outgoing:
    return Outgoing(request.routing_key().encode(), request.to_bytes())


async def send_ticket_request(settings: Settings, runtime: RuntimeKind | str,
                              request: TicketRequest) -> str:
    """Append the request to ``ticket.commands``; what happened, in words."""
    kind = RuntimeKind.parse(runtime)
    names = topic_names(settings)
    try:
        bus = await open_bus(settings, kind)
    except LogUnavailableError as exc:  # the embedded log, held by a running telecase run?
        path = embedded_log_path(settings)
        if not _in_use(path):
            raise TicketRequestError(str(exc)) from None
        await asyncio.to_thread(Inbox(path.parent / INBOX).put, request)
        return (f"{request.request_id}: telecase run is using {path}; queued for it, "
                "it takes it within a second")
    try:
        [offset] = await bus.append(names.ticket_commands, [_outgoing(request)])
    finally:
        await bus.close()
    later = "" if kind is RuntimeKind.KAFKA else "; decided when telecase run runs"
    return f"{request.request_id}: appended to {names.ticket_commands} (offset {offset}){later}"


def ticket_id_of(request: TicketRequest) -> str | None:
    """The ticket a request opens when that is known before the worker decides it (a forum
    topic's, a manual one); ``None`` for a private chat (its next ticket number)."""
    if request.mode == "manual":
        return f"tg:0:m{request.request_id}:1"
    if request.thread_id is not None:
        return f"tg:{request.chat_id}:t{request.thread_id}"
    return None


async def drain_ticket_inbox(log_: EmbeddedLog, names: TopicNames, data_dir: Path,
                             stop: asyncio.Event, every: float = 0.5) -> None:
    """Move requests from the inbox into ``ticket.commands`` until ``stop`` (and once more
    then): appended first, removed after (a crash between appends again; the worker decides
    a request id once)."""
    inbox = Inbox(data_dir / INBOX)
    while True:
        rows = await asyncio.to_thread(inbox.take)
        if rows:
            await log_.append(names.ticket_commands, [
                _outgoing(TicketRequest.model_validate_json(body)) for _, _, body in rows])
            await asyncio.to_thread(inbox.remove, rows[-1][0])
            log.info("ticket.inbox.moved", count=len(rows))
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


TicketOpener = Callable[[Mapping[str, str], str], Awaitable[str]]
"""The dashboard's "open ticket" form: (its fields, who asks) -> what happened, in words."""


def ticket_opener(settings: Settings, runtime: RuntimeKind | str) -> TicketOpener:
    """Opens the ticket a form describes (``mode`` ``outreach``: ``chat``, ``customer``,
    ``subject``, ``message``; ``manual``: ``customer_name``, ``phone``, ``note``); raises
    :class:`TicketRequestError` for a form that cannot be a ticket."""

    async def open_ticket(form: Mapping[str, str], requested_by: str) -> str:
        def text(name: str) -> str:
            return str(form.get(name) or "").strip()

        if text("mode") == "manual":
            request = manual_request(customer_name=text("customer_name") or None,
                                     phone=text("phone") or None, note=text("note"),
                                     subject=text("subject"), requested_by=requested_by)
        else:
            try:
                customer = int(text("customer"))
                chat = int(text("chat")) if text("chat") else None
            except ValueError:
                raise TicketRequestError("customer and chat are Telegram ids "
                                         "(numbers)") from None
            request = await outreach_request(settings, customer=customer,
                                             subject=text("subject"), message=text("message"),
                                             chat=chat, requested_by=requested_by)
        said = await send_ticket_request(settings, runtime, request)
        ticket = ticket_id_of(request)
        return said if ticket is None else f"{said}; ticket {ticket}"

    return open_ticket
