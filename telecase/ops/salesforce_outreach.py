"""Outreach from Salesforce, inside the processes that talk to Salesforce: every few seconds,
the Cases agents marked for Telegram (``connectors.salesforce.outreach``) become outreach
tickets in the team forum (``TELECASE_OUTREACH_CHAT_ID``; without it nothing is picked up).

For each Case, in this order: the topic is opened (named from the Case's Subject), the ticket
id is written onto the Case (so the outbound sync links the ticket to *this* Case and makes no
second one), then the :class:`~streams.schema.ticket_requests.TicketRequest` (origin
``salesforce``, the Case's Description as the agent's first message) is appended to
``ticket.commands``. A crash after the topic opened and before the Case is claimed leaves an
empty topic and opens another at the next look; the append is retried until it is durable.
A Case Telegram refuses (not a forum, no rights) is logged once and left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from connectors.salesforce.api import SimpleSalesforceApi
from connectors.salesforce.outreach import OutreachCases
from connectors.telegram.bot_api import BotApi
from streams.runtime.bus import Bus, Outgoing
from streams.runtime.topics import TopicNames
from streams.schema.ticket_requests import TicketRequest
from telecase.bootstrap.salesforce import connect, limit_guard
from telecase.ops.ticket import TicketRequestError, outreach_request, ticket_id_of
from telecase.settings import Settings

log = structlog.get_logger("telecase.salesforce.outreach")


async def watch_salesforce_outreach(settings: Settings, cases: OutreachCases, api: BotApi,
                                    send: Callable[[TicketRequest], Awaitable[object]],
                                    stop: asyncio.Event, every: float = 2.0) -> None:
    while not stop.is_set():
        try:
            found = await asyncio.to_thread(cases.find)
        except Exception as exc:  # Salesforce unavailable: look again later
            log.warning("outreach.find_failed", error=type(exc).__name__)
            found = []
        for case in found:
            try:
                request = await outreach_request(
                    settings, customer=case.telegram_user_id, subject=case.subject,
                    message=case.message, customer_username=case.username,
                    customer_name=case.name, requested_by=f"salesforce:{case.owner_id}",
                    case_id=case.case_id, api=api)
            except TicketRequestError as exc:
                cases.skipped.add(case.case_id)
                log.warning("outreach.refused", case_id=case.case_id, error=str(exc))
                continue
            ticket = ticket_id_of(request)
            assert ticket is not None  # a forum topic's
            await asyncio.to_thread(cases.claim, case.case_id, ticket)
            while True:
                try:
                    await send(request)
                    break
                except Exception as exc:  # the log must take it: the Case is claimed
                    log.warning("outreach.append_failed", case_id=case.case_id,
                                error=type(exc).__name__)
                    await asyncio.sleep(1.0)
            log.info("outreach.opened", case_id=case.case_id, ticket_id=ticket)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every * cases.pace())


async def salesforce_outreach(settings: Settings, bus: Bus, names: TopicNames,
                              stop: asyncio.Event) -> None:
    """:func:`watch_salesforce_outreach` as the settings say (the composition root's)."""
    cases = OutreachCases(SimpleSalesforceApi(await connect(settings)), limit_guard(settings))
    api = BotApi(settings.require_token(), settings.telegram_api_base)

    async def send(request: TicketRequest) -> object:
        return await bus.append(names.ticket_commands, [
            Outgoing(request.routing_key().encode(), request.to_bytes())])

    try:
        await watch_salesforce_outreach(settings, cases, api, send, stop)
    finally:
        await api.aclose()
