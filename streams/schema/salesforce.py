"""What the Salesforce connector writes to ``salesforce.changes``: a change it read, as read.

Four kinds, each about one ticket (the Case's ``Telecase_Ticket_Id__c``):

- ``case_linked``: telecase's outbound sync created (or found) the ticket's Case; carries the
  Case id, CaseNumber and the Contact or Lead it is linked to;
- ``case_comment``: an agent wrote a CaseComment on the Case (never one telecase wrote itself);
- ``case_file``: an agent added a File (a ContentVersion) to the Case (never one telecase
  attached itself): ``file_version_id``, ``file_title``, ``file_type``, ``file_size``;
- ``case_updated``: the Case's Status or Owner as of its ``SystemModstamp`` (the worker compares
  with the ticket's state and records only what differs, so re-reading a Case is harmless).

Records are keyed ``chat:<chat id>`` exactly like ``telegram.updates`` (:func:`routing_key`), so
a ticket's Telegram updates and Salesforce changes land on the same partition and one worker
holds the ticket's state for both. ``change_id`` is the idempotency key of a change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

ChangeKind = Literal["case_linked", "case_comment", "case_updated", "case_file"]


class SalesforceChange(BaseModel):
    """Version 1 of a raw Salesforce change record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["salesforce.change"] = "salesforce.change"
    version: Literal[1] = 1
    change: ChangeKind
    change_id: str
    """``linked:<CaseId>``, ``comment:<CaseCommentId>``, ``case:<CaseId>:<SystemModstamp>`` or
    ``file:<ContentVersionId>:<CaseId>``."""
    ticket_id: str
    case_id: str
    observed_at: datetime
    """When telecase read (or wrote) it."""
    occurred_at: datetime
    """When it happened in Salesforce (``CreatedDate`` of a comment, ``SystemModstamp``)."""
    case_number: str | None = None
    contact_id: str | None = None
    lead_id: str | None = None
    comment_id: str | None = None
    comment_body: str | None = None
    status: str | None = None
    is_closed: bool | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    actor_id: str | None = None
    """The Salesforce user who made the change (``CreatedById`` / ``LastModifiedById``)."""
    actor_name: str | None = None
    file_version_id: str | None = None
    """``case_file``: the ContentVersion (its bytes:
    ``/sobjects/ContentVersion/<id>/VersionData``)."""
    file_title: str | None = None
    file_extension: str | None = None
    file_type: str | None = None
    """Salesforce's ``FileType`` (``PDF``, ``PNG``, ``JPG``..., ``LINK`` for a link File)."""
    file_size: int | None = None
    record: dict[str, Any] = {}
    """The record exactly as the API returned it (``attributes`` included)."""

    def routing_key(self) -> str:
        return routing_key(self.ticket_id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def chat_id_of_ticket(ticket_id: str) -> int:
    """The Telegram chat a ticket lives in (ticket ids are ``tg:<chat id>:...``)."""
    prefix, chat, _ = ticket_id.split(":", 2)
    if prefix != "tg":
        raise ValueError(f"not a telecase ticket id: {ticket_id!r}")
    return int(chat)


def routing_key(ticket_id: str) -> str:
    """The partition key of a change: the ticket's chat, as for its raw Telegram updates."""
    return f"chat:{chat_id_of_ticket(ticket_id)}"
