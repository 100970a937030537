"""Deadline notifications in Salesforce (issue 17 item 2): the Case owner's bell rings when a
ticket's SLA is warned, breached or escalated, besides the Telegram notices.

For each ``sla.warning``, ``sla.breached`` and ``sla.escalated`` of ``ticket.events``, the
Case's owner (``Case.OwnerId``: a user, or a queue, whose members get it), and at escalation
level 2 also the team lead of the ticket's queue (the assignment policy's
``[queues.<id>] team_lead``, an agent whose ``salesforce_user_id`` is the recipient), get one
Salesforce custom notification through the standard invocable action
``customNotificationAction`` (``POST
/services/data/vXX.X/actions/standard/customNotificationAction`` with ``inputs``:
``customNotifTypeId``, ``recipientIds``, ``title`` (at most 250 characters),
``body`` (at most 750), ``targetId`` the Case; Actions Developer Guide, "Custom Notification
Actions",
https://developer.salesforce.com/docs/atlas.en-us.api_action.meta/api_action/actions_obj_custom_notification.htm).
The notification type is the CustomNotificationType ``telecase salesforce setup`` creates
(:mod:`connectors.salesforce.org_setup`), found by its ``DeveloperName``
(``TELECASE_SALESFORCE_NOTIFICATION_TYPE``) with ``SELECT Id FROM CustomNotificationType``.

**Once:** a ledger (:class:`SqlNotificationLedger`, table ``salesforce_notifications``,
Alembic branch ``salesforce_notifications`` of :mod:`streams.runtime.state_tables`, in the
write ledger's database; the shape every ledgered runner shares,
:mod:`connectors.salesforce.ledgered`) records each SLA event's id once Salesforce answered, sent or
refused; a redelivered or replayed event finds it and sends nothing. The remaining window: a
crash between Salesforce's answer and the ledger row sends that one notification again.

**Not the past:** an event older than ``max_age`` (default an hour) when it is read is not
sent (a first start over an old log, a connector down for a day): a bell for a deadline long
gone helps nobody. **The Case first:** a ticket whose Case the sync has not written yet waits
(:class:`CaseNotYet`, transient) up to :data:`CASE_WAIT`. A missing notification type waits
too (:class:`NotificationTypeMissing`, transient: ``telecase salesforce setup`` makes it).

Errors (:mod:`connectors.errors`)::

    TransientError
    ├── CaseNotYet                 the ticket's Case is not in Salesforce yet
    ├── NotificationTypeMissing    no CustomNotificationType with that DeveloperName
    └── PermissionMissing          the integration user lacks "Send Custom Notifications"

**The permission:** in orgs created from Winter '21 the user calling the action needs the
"Send Custom Notifications" user permission (Actions Developer Guide, above); ``telecase
salesforce setup`` grants it in telecase's permission set and ``telecase salesforce check``
reports it. Salesforce refusing the request for want of it (``INSUFFICIENT_ACCESS``, the whole
request) makes the batch wait, as a missing type does, so the bells ring once an admin grants
it (those older than ``max_age`` by then are not sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from prometheus_client import Counter
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.api import SimpleSalesforceApi, soql_quote
from connectors.salesforce.ledgered import Ledger, LedgeredRunner, MemoryLedger, SqlLedger
from connectors.salesforce.resync import decoded, history
from streams.runtime.bus import Bus, Record
from streams.runtime.topics import TopicNames
from streams.schema.events import (
    SlaBreached,
    SlaEscalated,
    SlaWarning,
    TicketAssigned,
    TicketEvent,
    TicketRouted,
)

log = structlog.get_logger(__name__)
SENT = Counter("telecase_salesforce_notifications_total",
               "Deadline notifications handed to Salesforce", ["outcome"])

GROUP = "salesforce-notifications"
ACTION = "actions/standard/customNotificationAction"
CASE_WAIT = timedelta(minutes=10)
TITLE_MAX, BODY_MAX = 250, 750
"""The action's limits on ``title`` and ``body`` (Actions Developer Guide, above)."""
LEAD_LEVEL = 2
"""The escalation level whose notification also goes to the queue's team lead."""
Deadline = SlaWarning | SlaBreached | SlaEscalated


class CaseNotYet(TransientError):
    """A ticket's Case does not exist yet (the sync has not written it)."""


class NotificationTypeMissing(TransientError):
    """No CustomNotificationType has the configured DeveloperName."""


class PermissionMissing(TransientError):
    """The integration user may not send custom notifications (the org refused the action
    with ``INSUFFICIENT_ACCESS``: no "Send Custom Notifications" permission)."""


# -- the ledger ------------------------------------------------------------------------------

NotificationLedger = Ledger
"""Keys: SLA event ids; record id: the Case; how: ``sent`` or ``refused``."""
MemoryNotificationLedger = MemoryLedger

metadata = MetaData()
notification_records = Table(
    "salesforce_notifications", metadata,
    Column("key", String(200), primary_key=True),
    Column("case_id", String(18), nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)


class SqlNotificationLedger(SqlLedger):
    """The ledger in its own table on ``engine``; :meth:`create` migrates it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, notification_records, "salesforce_notifications")


# -- Salesforce ------------------------------------------------------------------------------

class NotificationApi(Protocol):
    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]: ...

    def invoke_action(self, path: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One result per input (``isSuccess``, ``errors``), refused inputs included."""
        ...


class SimpleNotificationApi(SimpleSalesforceApi):
    """:class:`NotificationApi` over simple-salesforce."""

    def invoke_action(self, path: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            return list(self._call("restful", path, method="POST", json={"inputs": inputs}))
        except PermanentError as exc:  # HTTP 400 with the results of every input
            content = getattr(exc.__cause__, "content", None)
            if isinstance(content, list) and content and isinstance(content[0], dict) \
                    and "isSuccess" in content[0]:
                return content
            if "INSUFFICIENT_ACCESS" in str(exc):
                raise PermissionMissing(
                    "the integration user lacks the Send Custom Notifications permission: run "
                    "`telecase salesforce setup` (or grant it; `telecase salesforce check`)",
                    retry_after=60) from exc
            raise


@dataclass(frozen=True)
class NotificationPolicy:
    type_name: str = "Telecase_SLA_Deadline"
    """The CustomNotificationType's ``DeveloperName``."""
    team_leads: dict[str, str] | None = None
    """Queue id -> the team lead's Salesforce User Id."""
    max_age: timedelta = timedelta(hours=1)


def title_of(event: Deadline, case_number: str) -> str:
    if isinstance(event, SlaWarning):
        what = f"SLA warning: {event.clock.replace('_', ' ')} at {event.threshold:.0%}"
    elif isinstance(event, SlaBreached):
        what = f"SLA breached: {event.clock.replace('_', ' ')}"
    else:
        what = f"SLA escalation level {event.level} ({event.escalate_to})"
    return f"{what} - Case {case_number}"[:TITLE_MAX]


def body_of(event: Deadline, subject: str) -> str:
    text = f"{event.reason}. Ticket {event.ticket_id}, tier {event.tier}, team {event.team}."
    if subject:
        text += f" Subject: {subject}"
    return text[:BODY_MAX]


class DeadlineNotifier:
    """Sends the notifications of a batch of ticket events (see the module)."""

    def __init__(self, api: NotificationApi, ledger: NotificationLedger,
                 policy: NotificationPolicy | None = None) -> None:
        self.api, self.ledger = api, ledger
        self.policy = policy or NotificationPolicy()
        self.queues: dict[str, str] = {}
        """Ticket id -> its queue, as the log said (for the team lead)."""
        self.type_id: str | None = None

    def learn(self, events: Sequence[TicketEvent]) -> None:
        """Note the tickets' queues (routing and assignment events)."""
        for e in events:
            if isinstance(e, TicketRouted) or (isinstance(e, TicketAssigned) and e.queue):
                self.queues[e.ticket_id] = str(e.queue)

    def needs_queue(self, events: Sequence[TicketEvent]) -> set[str]:
        """Tickets escalated to their lead whose queue is not known (read their history)."""
        return {e.ticket_id for e in events if isinstance(e, SlaEscalated)
                and e.level == LEAD_LEVEL and e.ticket_id not in self.queues
                and self.policy.team_leads}

    async def notify(self, events: Sequence[TicketEvent], *,
                     now: datetime | None = None) -> dict[str, str]:
        """``{event id: sent|refused}`` for what was handed to Salesforce now; raises a
        :class:`TransientError` to be retried (what was sent stays recorded)."""
        self.learn(events)
        now = now or datetime.now(UTC)
        due = [e for e in events if isinstance(e, SlaWarning | SlaBreached | SlaEscalated)]
        fresh = [e for e in due if now - e.occurred_at <= self.policy.max_age]
        if len(fresh) < len(due):
            log.info("salesforce.notifications.stale", skipped=len(due) - len(fresh))
        done = await asyncio.to_thread(self.ledger.find, [e.event_id for e in fresh])
        todo = [e for e in fresh if e.event_id not in done]
        if not todo:
            return {}
        cases = await asyncio.to_thread(self._cases, sorted({e.ticket_id for e in todo}))
        outcomes: dict[str, str] = {}
        for event in todo:
            case = cases.get(event.ticket_id)
            if case is None:
                if now - event.recorded_at < CASE_WAIT:
                    raise CaseNotYet(f"no Case yet for ticket {event.ticket_id}")
                log.warning("salesforce.notifications.no_case", ticket=event.ticket_id)
                continue
            outcomes[event.event_id] = await self._send(event, case)
        return outcomes

    async def _send(self, event: Deadline, case: dict[str, Any]) -> str:
        recipients = [str(case["OwnerId"])]
        lead = self._lead(event)
        if lead is not None and lead not in recipients:
            recipients.append(lead)
        notice = {"customNotifTypeId": await asyncio.to_thread(self._type_id),
                  "recipientIds": recipients, "targetId": case["Id"],
                  "title": title_of(event, str(case.get("CaseNumber") or "")),
                  "body": body_of(event, str(case.get("Subject") or ""))}
        [answer] = await asyncio.to_thread(self.api.invoke_action, ACTION, [notice])
        outcome = "sent" if answer.get("isSuccess") else "refused"
        if outcome == "refused":
            error = (answer.get("errors") or [{}])[0]
            log.warning("salesforce.notifications.refused", ticket=event.ticket_id,
                        code=error.get("statusCode"), error=error.get("message"))
        else:
            log.info("salesforce.notifications.sent", ticket=event.ticket_id, kind=event.type,
                     recipients=len(recipients), case=case["Id"])
        await asyncio.to_thread(self.ledger.record, event.event_id, str(case["Id"]), outcome)
        SENT.labels(outcome).inc()
        return outcome

    def _lead(self, event: Deadline) -> str | None:
        if not isinstance(event, SlaEscalated) or event.level != LEAD_LEVEL:
            return None
        queue = self.queues.get(event.ticket_id)
        return (self.policy.team_leads or {}).get(queue) if queue else None

    def _type_id(self) -> str:
        if self.type_id is None:
            [rows] = self.api.query_many([
                "SELECT Id FROM CustomNotificationType WHERE DeveloperName = "
                f"{soql_quote(self.policy.type_name)}"])
            if not rows:
                raise NotificationTypeMissing(
                    f"no CustomNotificationType {self.policy.type_name!r}: run "
                    "`telecase salesforce setup`")
            self.type_id = str(rows[0]["Id"])
        return self.type_id

    def _cases(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        soql = ("SELECT Id, CaseNumber, Subject, OwnerId, Telecase_Ticket_Id__c FROM Case "
                "WHERE Telecase_Ticket_Id__c IN ("
                + ",".join(soql_quote(t) for t in ticket_ids) + ")")
        [rows] = self.api.query_many([soql])
        return {str(r["Telecase_Ticket_Id__c"]): r for r in rows}


# -- the consumer ----------------------------------------------------------------------------

class NotificationsRunner(LedgeredRunner):
    """:class:`DeadlineNotifier` as a consumer of ``ticket.events`` (group
    ``salesforce-notifications``; the loop: :mod:`connectors.salesforce.ledgered`); the
    position is committed once a batch's notifications are handed over. A bell is essential
    work: the limit guard never holds it."""

    def __init__(self, bus: Bus, names: TopicNames, notifier: DeadlineNotifier, *,
                 max_backoff: float = 60.0, first_backoff: float = 0.5) -> None:
        super().__init__(bus, names, self._notify, group=GROUP, stage="notifications",
                         before=self._queues, max_backoff=max_backoff,
                         first_backoff=first_backoff)
        self.notifier = notifier

    async def _queues(self, partition: int, records: list[Record],
                      events: list[TicketEvent]) -> None:
        """Read the queues of escalated tickets this instance has not seen routed."""
        lost = self.notifier.needs_queue(events)
        if lost:
            self.notifier.learn(decoded(await history(
                self.bus, self.names.ticket_events, partition, lost, records[0].offset)))

    async def _notify(self, events: list[TicketEvent]) -> int:
        return len(await self.notifier.notify(events))
