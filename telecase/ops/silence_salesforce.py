"""Telling Salesforce that Telegram fell silent: a Task for the team lead.

With ``TELECASE_SILENCE_SALESFORCE_OWNER`` (a Salesforce User Id, e.g. the team lead's;
Salesforce does not let a queue own a Task), each silence episode that
:func:`telecase.ops.silence.watch_silence` opens creates one Task owned by that user:
Subject ``Telegram is silent``, Description the reasons, the time of the last update and what
to do. The watcher calls it once per episode, not again when the reasons change.

The client is the process's shared one (:func:`telecase.bootstrap.salesforce.connect`),
logged in at the first episode, so a Salesforce that is down when telecase starts does not
stop the watcher. A failing login or create is logged (``telegram.silent_task_failed``) and
the episode goes on: the WARNING and the metric have already told the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

SUBJECT = "Telegram is silent"
log = structlog.get_logger("telecase.telegram.silence")

SilenceNotice = Callable[[tuple[str, ...], datetime], Awaitable[None]]
"""Told the reasons and the time of the last update when a silence episode starts."""


def task_fields(owner_id: str, reasons: tuple[str, ...], since: datetime) -> dict[str, Any]:
    """The Task a silence episode creates."""
    return {
        "Subject": SUBJECT, "OwnerId": owner_id, "Priority": "High",
        "ActivityDate": since.date().isoformat(),
        "Description": (f"telecase: Telegram looks silent ({', '.join(reasons)}); last update "
                        f"at {since:%Y-%m-%d %H:%M} UTC. Check getWebhookInfo and the bot "
                        "token; record urgent inquiries with `telecase ticket open --manual` "
                        "until it recovers.")}


class SalesforceSilenceNotice:
    """Creates the Task through a simple-salesforce client that ``connect`` returns."""

    def __init__(self, connect: Callable[[], Awaitable[Any]], owner_id: str) -> None:
        self._connect = connect
        self.owner_id = owner_id

    async def __call__(self, reasons: tuple[str, ...], since: datetime) -> None:
        try:
            client = await self._connect()
            created = await asyncio.to_thread(
                client.Task.create, task_fields(self.owner_id, reasons, since))
        except Exception as exc:  # Salesforce may be down too: the warning stands
            log.warning("telegram.silent_task_failed", owner_id=self.owner_id,
                        error=type(exc).__name__)
            return
        log.info("telegram.silent_task", owner_id=self.owner_id, task_id=created.get("id"))
