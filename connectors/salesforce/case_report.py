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

The fold is per ticket and in memory (one sync instance, one consumer), bounded: a closed
ticket's state is pruned once its final report is written (:class:`ReportFold`). Seconds need
the opening: a ticket whose ``ticket.opened`` this instance has not seen (it started after it)
gets the fields its own events carry (SLA state, breaches, escalation level, the response
timestamp) and no seconds until it is reopened (its history is then read from the log) or a
resync of the ticket from the log (:mod:`connectors.salesforce.resync`) replays it.
"""

from __future__ import annotations

from collections import OrderedDict
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


CLOSED_MAX = 10_000
"""Closed tickets whose state :class:`ReportFold` keeps after pruning (the most recent)."""


class ReportFold:
    """Per ticket :class:`Report`; :meth:`changes` gives the fields a batch changed.

    **Bounded.** A ticket closed whose final report Salesforce confirmed is pruned: its
    state leaves :attr:`reports` and :attr:`written` for :attr:`closed`, which keeps the last
    ``closed_max`` of them (oldest forgotten first). A reopened ticket found there is revived
    as it was. One forgotten (or never seen: the instance started after its opening) and
    reopened is rebuilt from the log first: the sync runner reads its history
    (:meth:`unknown`, :meth:`rebuild`), so its fields are right again (the resolution cleared,
    the first response kept, the resolution of the next closing counted from the opening).
    So the fold holds the open tickets and at most ``closed_max`` closed ones."""

    def __init__(self, closed_max: int = CLOSED_MAX) -> None:
        self.reports: dict[str, Report] = {}
        self.written: dict[str, dict[str, Any]] = {}
        self.closed: OrderedDict[str, Report] = OrderedDict()
        self.closed_max = closed_max

    def changes(self, events: list[TicketEvent]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``{ticket: (key, fields)}``: the fields that differ from what was last written,
        with the id of the ticket's last event of the batch (what a refusal dead-letters)."""
        last: dict[str, str] = {}
        touched: set[str] = set()
        for e in events:
            report = self.reports.get(e.ticket_id) or self._revive(e.ticket_id)
            touched.add(e.ticket_id)
            before = replace(report)
            report.fold(e)
            if replace(report, last_seq=before.last_seq) != before:
                last[e.ticket_id] = e.event_id
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for ticket, key in last.items():
            now = _fields(self.reports[ticket])
            old = self.written.get(ticket, {})
            diff = {k: v for k, v in now.items() if old.get(k, _UNSET) != v}
            if diff:
                out[ticket] = (key, diff)
        for ticket in touched - out.keys():  # nothing to write: nothing new to hold either
            if replace(self.reports[ticket], last_seq=-1) == Report():
                del self.reports[ticket]  # an event of a ticket it knows nothing of
                self.written.pop(ticket, None)
            else:
                self._settle(ticket)
        return out

    def confirm(self, ticket: str, sent: dict[str, Any]) -> None:
        """Salesforce accepted ``sent`` for ``ticket``; a closed ticket whose fields are all
        written is pruned."""
        self.written.setdefault(ticket, {}).update(sent)
        self._settle(ticket)

    def _settle(self, ticket: str) -> None:
        """Prune ``ticket`` if it is closed and Salesforce holds all its fields."""
        written = self.written.get(ticket, {})
        report = self.reports.get(ticket)
        if report is not None and report.closed_at is not None and all(
                written.get(k, _UNSET) == v for k, v in _fields(report).items()):
            del self.reports[ticket]
            self.written.pop(ticket, None)
            self.closed[ticket] = report
            self.closed.move_to_end(ticket)
            while len(self.closed) > self.closed_max:
                self.closed.popitem(last=False)

    def unknown(self, events: list[TicketEvent]) -> set[str]:
        """Tickets reopened in ``events`` whose state this fold does not hold (forgotten, or
        opened before this instance): :meth:`rebuild` them from their history first."""
        return {e.ticket_id for e in events if _reopens(e) and e.ticket_id not in self.reports
                and e.ticket_id not in self.closed}

    def rebuild(self, history: list[TicketEvent]) -> None:
        """Fold the tickets' earlier events, as written already (their last report was)."""
        for e in history:
            self.reports.setdefault(e.ticket_id, Report()).fold(e)
        for ticket in {e.ticket_id for e in history}:
            self.written[ticket] = _fields(self.reports[ticket])

    def _revive(self, ticket: str) -> Report:
        report = self.closed.pop(ticket, None)
        if report is None:
            report = Report()
        else:
            self.written[ticket] = _fields(report)
        self.reports[ticket] = report
        return report


def _fields(report: Report) -> dict[str, Any]:
    """The fields to hold for ``report``: opened before this instance, only those it knows
    (a field is never cleared for want of the opening)."""
    now = report.case_fields()
    if report.opened_at is None:
        now = {k: v for k, v in now.items() if v not in (None, False, 0)}
    return now


def _reopens(event: TicketEvent) -> bool:
    return isinstance(event, TopicReopened) or (
        isinstance(event, CaseStatusChanged) and not event.is_closed)


_UNSET = object()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))
