"""What one sync of a batch did: counts, the records Salesforce refused, the Cases it linked."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaseLink:
    """A ticket's Case and its person, as the log's ``salesforce.case_linked`` wants them."""

    case_id: str
    case_number: str | None
    contact_id: str | None = None
    lead_id: str | None = None
    created: bool = False
    """The Case was created by this batch (else it existed: a retry, a replay)."""


@dataclass
class SyncResult:
    contacts: int = 0
    leads: int = 0
    """Contacts/Leads created or claimed (found by phone or username) in the batch."""
    cases: int = 0
    owners: int = 0
    """Case owners set (``ticket.assigned``)."""
    case_fields: int = 0
    """Escalations whose Case fields were set (``sla.escalated``)."""
    tasks: int = 0
    feed_items: int = 0
    comments: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """``(event_id or ticket_id, Salesforce's error)`` for records Salesforce refused."""
    linked: dict[str, CaseLink] = field(default_factory=dict)
    """Per ticket whose ``ticket.opened`` was synced in the batch."""

    def count(self, sobject: str) -> None:
        name = {"Contact": "contacts", "Lead": "leads", "Case": "cases", "Task": "tasks",
                "FeedItem": "feed_items", "CaseComment": "comments"}[sobject]
        setattr(self, name, getattr(self, name) + 1)
