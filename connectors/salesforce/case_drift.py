"""Who last changed a Case's Status and Owner, and whether that difference is drift.

The log's view of each field (:class:`FieldView`) is folded from the ticket's events: what
telecase wrote into the Case (its own write records, the events the outbound sync turns into
Case writes: ``ticket.opened`` creates the Case with the org's default Status, taken as
``New``, and its creator as Owner; ``topic.closed``/``ticket.closed`` write ``Closed``,
``topic.reopened`` ``Working``; ``ticket.assigned`` the Owner; an ``sla.escalated`` whose
``set_case_field`` names ``Status`` or ``OwnerId`` that value) and what it took in from
Salesforce (``case.status_changed``, ``case.owner_changed``), whichever came last.

Salesforce's last change of the field (:class:`LastChange`) comes from ``CaseHistory`` where
the org tracks field history for the Case (its newest ``Status`` row; its newest ``Owner``,
``ownerAssignment``, ``ownerAccepted`` or ``ownerEscalated`` row holding an id; no such row:
the value the Case was created with, by its creator), else from the Case itself
(``LastModifiedById``, ``SystemModstamp``: a Case's last modifier stands for both fields).

:func:`judge` then decides, for a field whose value differs from the log's view:

- made by telecase's own user and a value telecase wrote into that field → telecase's own
  write; the log asks for something newer that is not written yet: ``behind``;
- made by telecase's own user but a value telecase never wrote → automation that ran in
  telecase's transaction (an assignment rule, a flow): ``drift``;
- made by anyone else after the log's view was set → ``drift`` (an agent, a flow, a rule);
- made by anyone else before it → the log's view is newer (telecase's write is pending):
  ``behind``.

No list of "values telecase uses" is involved: a value is telecase's only if this ticket's
own events wrote it and telecase's user made the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from connectors.salesforce.change_poller import id15, parse_datetime
from streams.schema.events import (
    CaseOwnerChanged,
    CaseStatusChanged,
    SlaEscalated,
    TicketAssigned,
    TicketClosed,
    TicketEvent,
    TicketOpened,
    TopicClosed,
    TopicReopened,
)

CaseField = Literal["Status", "Owner"]
Verdict = Literal["same", "drift", "behind"]
OWNER_HISTORY_FIELDS = ("Owner", "ownerAssignment", "ownerAccepted", "ownerEscalated")
"""CaseHistory ``Field`` values of an owner change (Object Reference, CaseHistory)."""
HISTORY_QUERY = (
    "SELECT CaseId, Field, NewValue, CreatedById, CreatedDate FROM CaseHistory "
    "WHERE Case.Telecase_Ticket_Id__c != null AND Field IN ('created', 'Status', "
    + ", ".join(f"'{f}'" for f in OWNER_HISTORY_FIELDS) + ") ORDER BY CreatedDate ASC")
DEFAULT_STATUS = "New"
"""A new Case's Status (the org's default; a new org's is New)."""
_OWNER_ID = re.compile(r"^(005|00G)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")


@dataclass
class FieldView:
    """The log's view of one Case field: its value (``None`` for the Owner: the Case's
    creator), when the log set it, and every value telecase wrote into it."""

    value: str | None
    at: datetime
    written: set[str | None] = field(default_factory=set)

    def write(self, value: str | None, at: datetime) -> None:
        self.value, self.at = value, at
        self.written.add(value)

    def take_in(self, value: str | None, at: datetime) -> None:
        self.value, self.at = value, at


@dataclass
class CaseView:
    """The log's view of a ticket's Case Status and Owner."""

    status: FieldView
    owner: FieldView

    @classmethod
    def opened(cls, at: datetime) -> CaseView:
        status = FieldView(DEFAULT_STATUS, at, {DEFAULT_STATUS})
        return cls(status, FieldView(None, at, {None}))

    def apply(self, event: TicketEvent) -> None:
        at = event.occurred_at
        if isinstance(event, TopicClosed | TicketClosed):
            self.status.write("Closed", at)
        elif isinstance(event, TopicReopened):
            self.status.write("Working", at)
        elif isinstance(event, TicketAssigned) and event.salesforce_user_id:
            self.owner.write(id15(event.salesforce_user_id), at)
        elif isinstance(event, SlaEscalated):
            for action in event.actions:
                if action.do != "set_case_field" or not action.field:
                    continue
                if action.field.lower() == "status":
                    self.status.write(str(action.value), at)
                elif action.field.lower() == "ownerid":
                    self.owner.write(id15(str(action.value)), at)
        elif isinstance(event, CaseStatusChanged):
            self.status.take_in(event.status, at)
        elif isinstance(event, CaseOwnerChanged):
            self.owner.take_in(id15(event.owner_id), at)

    @staticmethod
    def of(events: Iterable[TicketEvent]) -> CaseView | None:
        view: CaseView | None = None
        for event in events:
            if isinstance(event, TicketOpened):
                view = CaseView.opened(event.occurred_at)
            elif view is not None:
                view.apply(event)
        return view


@dataclass(frozen=True)
class LastChange:
    """Salesforce's last change of a field: its value, who made it, when, and where that
    was read (``history``: a CaseHistory row or the Case's creation; ``case``: the Case's
    last modifier)."""

    value: str | None
    by: str | None
    """The user's id as Salesforce gave it."""
    at: datetime | None
    source: Literal["history", "case"]


def history_by_case(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """CaseHistory rows per Case (15-character id), oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(id15(row.get("CaseId"))), []).append(row)
    return out


def last_change(case: dict[str, Any], name: CaseField,
                history: list[dict[str, Any]] | None) -> LastChange:
    """Who set the Case's ``name`` as it is now (see the module docstring)."""
    remote = _remote(case, name)
    if history:
        if name == "Status":
            rows = [r for r in history if r.get("Field") == "Status"]
        else:
            rows = [r for r in history if r.get("Field") in OWNER_HISTORY_FIELDS
                    and _OWNER_ID.match(str(r.get("NewValue") or ""))]
        if not rows:  # never changed since it was created
            return LastChange(remote, case.get("CreatedById"),
                              parse_datetime(case.get("CreatedDate")), "history")
        row = rows[-1]
        value = row.get("NewValue")
        if (id15(value) if name == "Owner" else value) == remote:
            return LastChange(remote, row.get("CreatedById"),
                              parse_datetime(row.get("CreatedDate")), "history")
    return LastChange(remote, case.get("LastModifiedById"),
                      parse_datetime(case.get("SystemModstamp")), "case")


def judge(view: FieldView, case: dict[str, Any], name: CaseField, change: LastChange,
          me: set[str]) -> Verdict:
    """Whether the Case's ``name`` differs from the log's view, and if so whose it is."""
    expected = view.value
    if name == "Owner" and expected is None:
        expected = id15(case.get("CreatedById"))  # a new Case's owner: its creator
    if change.value == expected:
        return "same"
    if is_mine(change, me):
        written = view.written
        if name == "Owner" and None in written:
            written = written | {id15(case.get("CreatedById"))}
        return "behind" if change.value in written else "drift"
    if change.at is None or change.at > view.at:
        return "drift"
    return "behind"


def is_mine(change: LastChange, me: set[str]) -> bool:
    """Made by telecase's own user (``me``: 15-character ids)."""
    return change.by is not None and id15(change.by) in me


def _remote(case: dict[str, Any], name: CaseField) -> str | None:
    if name == "Owner":
        return id15(case.get("OwnerId"))
    value = case.get("Status")
    return None if value is None else str(value)
