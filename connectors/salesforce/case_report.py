"""Reportable Case fields (issue 17 item 3), kept current from the ticket's events.

Salesforce reports can only group and sum what is on the Case, and the moments that matter for
service metrics (the first response, the resolution) happen in Telegram, where Salesforce
cannot see them. So the Case sync folds each ticket's events into :class:`Report` and writes
the fields of :data:`REPORT_FIELDS` whenever one of them changes:

- ``Telecase_First_Response_At__c`` (DateTime) and ``Telecase_First_Response_Seconds__c``:
  the earliest agent reply (an ``agent.replied`` not sent by outreach, as the ``cases``
  projection counts it) and the wall-clock seconds from the ticket's opening to it.
- ``Telecase_Resolution_Seconds__c``: seconds from the opening to the closing (cleared when
  the ticket is reopened).
- ``Telecase_SLA_Tier__c``, ``Telecase_SLA_State__c`` (``running``, ``warned``, ``breached``,
  ``met``), ``Telecase_First_Response_Breached__c`` and ``Telecase_Resolution_Breached__c``
  (Checkbox), ``Telecase_Escalation_Level__c``: the SLA signals, folded as the ``cases``
  projection folds them.
- ``Telecase_Channel__c``: ``forum_topic``, ``general_topic``, ``private_chat`` or ``manual``.
- ``Telecase_Pilot_Group__c``: the Telegram group the ticket came from (its chat id; the
  pilot rollout enables groups by chat id, ``TELECASE_PILOT_CHATS``), empty for a private chat.

The fold is per ticket and in memory (one sync instance, one consumer). Seconds need the
opening: a ticket whose ``ticket.opened`` this instance has not seen (it started after it)
gets the fields its own events carry (SLA state, breaches, escalation level, the response
timestamp) and no seconds until a resync of the ticket from the log
(:mod:`connectors.salesforce.resync`) replays its whole history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from streams.schema.events import (
    AgentReplied,
    CaseStatusChanged,
    SlaBreached,
    SlaEscalated,
    SlaMet,
    SlaStarted,
    SlaWarning,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TopicClosed,
    TopicReopened,
)

FIRST_RESPONSE_AT = "Telecase_First_Response_At__c"
FIRST_RESPONSE_SECONDS = "Telecase_First_Response_Seconds__c"
RESOLUTION_SECONDS = "Telecase_Resolution_Seconds__c"
SLA_TIER = "Telecase_SLA_Tier__c"
SLA_STATE = "Telecase_SLA_State__c"
FIRST_RESPONSE_BREACHED = "Telecase_First_Response_Breached__c"
RESOLUTION_BREACHED = "Telecase_Resolution_Breached__c"
ESCALATION_LEVEL = "Telecase_Escalation_Level__c"
CHANNEL = "Telecase_Channel__c"
PILOT_GROUP = "Telecase_Pilot_Group__c"
REPORT_FIELDS = (FIRST_RESPONSE_AT, FIRST_RESPONSE_SECONDS, RESOLUTION_SECONDS, SLA_TIER,
                 SLA_STATE, FIRST_RESPONSE_BREACHED, RESOLUTION_BREACHED, ESCALATION_LEVEL,
                 CHANNEL, PILOT_GROUP)
"""The Case fields this module writes (declared in :mod:`connectors.salesforce.org_schema`)."""


@dataclass
class Report:
    """One ticket's reportable state."""

    opened_at: datetime | None = None
    closed_at: datetime | None = None
    first_response_at: datetime | None = None
    sla_tier: str | None = None
    sla_state: str | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False
    escalation_level: int = 0
    channel: str | None = None
    pilot_group: str | None = None
    last_seq: int = -1
    """The ticket's last event folded: a redelivered or retried event is not folded twice."""

    def fold(self, event: TicketEvent) -> None:
        """Apply one event (the ``cases`` projection's rules for these columns)."""
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        at = event.occurred_at
        if isinstance(event, TicketOpened):
            self.opened_at = at if self.opened_at is None else min(self.opened_at, at)
            self.channel = event.channel
            self.pilot_group = None if event.channel == "private_chat" else str(event.chat_id)
        elif isinstance(event, AgentReplied) and event.via != "outreach":
            first = self.first_response_at
            self.first_response_at = at if first is None else min(first, at)
        elif isinstance(event, TopicClosed | TicketClosed):
            self.closed_at = at
        elif isinstance(event, TopicReopened):
            self.closed_at = None
        elif isinstance(event, CaseStatusChanged):
            self.closed_at = (self.closed_at or at) if event.is_closed else None
        elif isinstance(event, SlaStarted):
            self.sla_tier, self.sla_state = event.tier, "running"
        elif isinstance(event, SlaWarning):
            if self.sla_state in (None, "running", "met"):
                self.sla_state = "warned"
        elif isinstance(event, SlaBreached):
            self.sla_state = "breached"
            if event.clock == "first_response":
                self.first_response_breached = True
            else:
                self.resolution_breached = True
        elif isinstance(event, SlaMet):
            if self.sla_state != "breached" and (event.clock == "resolution" or event.on_time):
                self.sla_state = "met" if event.on_time else "breached"
        elif isinstance(event, SlaEscalated):
            self.escalation_level = max(self.escalation_level, event.level)

    def case_fields(self) -> dict[str, Any]:
        """The Case fields for this state (``None`` clears a field)."""
        return {
            FIRST_RESPONSE_AT: _iso(self.first_response_at),
            FIRST_RESPONSE_SECONDS: _seconds(self.opened_at, self.first_response_at),
            RESOLUTION_SECONDS: _seconds(self.opened_at, self.closed_at),
            SLA_TIER: self.sla_tier, SLA_STATE: self.sla_state,
            FIRST_RESPONSE_BREACHED: self.first_response_breached,
            RESOLUTION_BREACHED: self.resolution_breached,
            ESCALATION_LEVEL: self.escalation_level, CHANNEL: self.channel,
            PILOT_GROUP: self.pilot_group}


class ReportFold:
    """Per ticket :class:`Report`; :meth:`changes` gives the fields a batch changed."""

    def __init__(self) -> None:
        self.reports: dict[str, Report] = {}
        self.written: dict[str, dict[str, Any]] = {}

    def changes(self, events: list[TicketEvent]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{ticket: (key, fields)}``: the fields that differ from what was last written,
        with the id of the ticket's last event of the batch (what a refusal dead-letters)."""
        last: dict[str, str] = {}
        for e in events:
            report = self.reports.setdefault(e.ticket_id, Report())
            before = replace(report)
            report.fold(e)
            if replace(report, last_seq=before.last_seq) != before:
                last[e.ticket_id] = e.event_id
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for ticket, key in last.items():
            report = self.reports[ticket]
            now = report.case_fields()
            if report.opened_at is None:  # opened before this instance: never clear a field
                now = {k: v for k, v in now.items() if v not in (None, False, 0)}
            old = self.written.get(ticket, {})
            diff = {k: v for k, v in now.items() if old.get(k, _UNSET) != v}
            if diff:
                out[ticket] = (key, diff)
        return out

    def confirm(self, ticket: str, sent: dict[str, Any]) -> None:
        """Salesforce accepted ``sent`` for ``ticket``."""
        self.written.setdefault(ticket, {}).update(sent)


_UNSET = object()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))
