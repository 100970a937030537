"""Salesforce Case events: the ticket's Case linked, and what agents changed on it."""

from __future__ import annotations

from typing import Literal, TypeAlias

from streams.schema.events.base import EventBase


class SalesforceCaseLinked(EventBase):
    """The ticket's Case exists in Salesforce (created or found by the outbound sync)."""

    type: Literal["salesforce.case_linked"] = "salesforce.case_linked"
    version: Literal[1] = 1
    case_id: str
    case_number: str | None
    contact_id: str | None = None
    lead_id: str | None = None


class CaseStatusChanged(EventBase):
    """An agent changed the Case's Status in Salesforce. ``is_closed`` follows Salesforce's
    ``IsClosed`` (the status's meaning, whatever its label)."""

    type: Literal["case.status_changed"] = "case.status_changed"
    version: Literal[1] = 1
    status: str
    previous_status: str | None
    is_closed: bool


class CaseOwnerChanged(EventBase):
    """The Case's Owner (a user or a queue) changed in Salesforce."""

    type: Literal["case.owner_changed"] = "case.owner_changed"
    version: Literal[1] = 1
    owner_id: str
    owner_name: str | None
    previous_owner_id: str | None


CaseEvent: TypeAlias = SalesforceCaseLinked | CaseStatusChanged | CaseOwnerChanged
"""This family's events: one of the members of :data:`~streams.schema.events.TicketEvent`."""
