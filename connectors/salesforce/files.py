"""Customers' files on the Case, as Salesforce Files, once.

A ``customer.message_received`` with an ``attachment`` (:mod:`streams.core.files`) whose kind
is one of ``TELECASE_FILES_KINDS`` becomes a File on the ticket's Case: a ContentVersion
inserted with ``FirstPublishLocationId`` = the Case Id, which Salesforce makes the file's
first ContentDocumentLink, so the File shows on the Case (Object Reference, ContentVersion:
``FirstPublishLocationId`` "ID of the location where the version was first published",
``VersionData`` base64, ``PathOnClient`` the name with its extension, ``ContentUrl`` "URL for
links"; https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contentversion.htm).
The bytes travel as base64 in a JSON body, which the REST API accepts up to 37.5 MB of
base64 ("Insert or Update Blob Data",
https://developer.salesforce.com/docs/platform/api-rest/guide/dome-sobject-insert-update-blob.html),
above the 20 MB a bot may download (:mod:`connectors.telegram.files`).

**Linked, not copied:** a file bigger than ``TELECASE_FILES_MAX_BYTES`` or than the Bot API's
20 MB (known from the message's ``file_size`` or from ``getFile``), or one Telegram refuses to
hand over (``getFile``'s "file is too big"), is not downloaded; the Case
gets a link File instead (``ContentUrl``: the message in the forum group,
``https://t.me/c/<group>/<message>``), or, where Telegram has no link (a private chat), a
short text File naming the file, its size and the message, so the agent knows it exists.

**Once:** a ledger (:class:`SqlFileLedger`, table ``salesforce_files``, Alembic branch
``salesforce_files`` of :mod:`streams.runtime.state_tables`) maps each file's key (ticket id
and ``file_unique_id``: the same file sent twice to one ticket is one File) to the
ContentVersion Id, written right after Salesforce answers (the shape every ledgered runner
shares, :mod:`connectors.salesforce.ledgered`). A redelivered or replayed event
finds its key and writes nothing. The remaining window: a crash between Salesforce's answer
and the ledger row writes that one file again.

**The Case first:** the Case is looked up by ``Telecase_Ticket_Id__c``. One the sync has not
created yet makes the batch wait (:class:`CasePending`, transient); after :data:`CASE_WAIT` the
file is given up with a WARNING (a Case Salesforce refused never comes).
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.api import SalesforceApi, record_error, soql_quote
from connectors.salesforce.ledgered import Ledger, MemoryLedger, SqlLedger
from connectors.telegram.files import DOWNLOAD_MAX_BYTES, Fetched
from streams.schema.events import Attachment, CustomerMessageReceived, TicketEvent

log = structlog.get_logger(__name__)

CASE_WAIT = timedelta(minutes=10)
"""How long a file waits for its Case before it is given up."""
_NAMES = {"photo": "photo", "video": "video", "voice": "voice note", "audio": "audio",
          "sticker": "sticker", "document": "document"}


class CasePending(TransientError):
    """A file's Case does not exist yet (the sync has not written it)."""


class FileSource(Protocol):
    async def fetch(self, file_id: str, max_bytes: int = DOWNLOAD_MAX_BYTES) -> Fetched: ...


FileLedger = Ledger
"""Keys: :func:`file_key`; record id: the ContentVersion; how: ``copied`` or ``linked``."""
MemoryFileLedger = MemoryLedger

metadata = MetaData()
file_records = Table(
    "salesforce_files", metadata,
    Column("key", String(300), primary_key=True),
    Column("record_id", String(18), nullable=False),
    Column("how", String(10), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)


class SqlFileLedger(SqlLedger):
    """The ledger in its own table on ``engine``; :meth:`create` migrates it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, file_records, "salesforce_files")


@dataclass(frozen=True)
class FilePolicy:
    """``TELECASE_FILES_MAX_BYTES`` and ``TELECASE_FILES_KINDS``."""

    max_bytes: int = DOWNLOAD_MAX_BYTES
    kinds: frozenset[str] = frozenset(_NAMES)


def file_key(ticket_id: str, attachment: Attachment) -> str:
    return f"{ticket_id}/{attachment.file_unique_id}"


def file_name(event: CustomerMessageReceived, attachment: Attachment) -> str:
    """The file's own name, else ``<kind>-<message id><extension of its MIME type>``."""
    if attachment.file_name:
        return attachment.file_name
    ext = mimetypes.guess_extension(attachment.mime_type or "") or ""
    return f"{attachment.kind}-{event.message_id}{ext}"


def message_link(event: TicketEvent) -> str | None:
    """The message's ``t.me/c`` link in a supergroup (its id less the ``-100`` prefix)."""
    chat, message = event.source.chat_id, event.source.message_id
    text = str(chat) if chat is not None else ""
    if not text.startswith("-100") or message is None:
        return None
    return f"https://t.me/c/{text[4:]}/{message}"


class CaseFiles:
    """Attaches the files of a batch of ticket events to their Cases (see the module)."""

    def __init__(self, api: SalesforceApi, source: FileSource, ledger: FileLedger, *,
                 policy: FilePolicy | None = None) -> None:
        self.api, self.source, self.ledger = api, source, ledger
        self.policy = policy or FilePolicy()

    async def attach(self, events: Sequence[TicketEvent], *,
                     now: datetime | None = None) -> dict[str, str]:
        """``{key: copied|linked}`` for the files attached now; raises :class:`CasePending`
        or another :class:`TransientError` to be retried (what was attached stays so)."""
        files = [(e, e.attachment) for e in events if isinstance(e, CustomerMessageReceived)
                 and e.attachment is not None and e.attachment.kind in self.policy.kinds]
        todo = {file_key(e.ticket_id, a): (e, a) for e, a in files}
        done = await asyncio.to_thread(self.ledger.find, list(todo))
        todo = {k: v for k, v in todo.items() if k not in done}
        if not todo:
            return {}
        cases = await asyncio.to_thread(self._case_ids, sorted({e.ticket_id
                                                                for e, _ in todo.values()}))
        attached: dict[str, str] = {}
        for key, (event, attachment) in todo.items():
            case_id = cases.get(event.ticket_id)
            if case_id is None:
                if (now or datetime.now(UTC)) - event.recorded_at < CASE_WAIT:
                    raise CasePending(f"no Case yet for ticket {event.ticket_id}")
                log.warning("salesforce.files.no_case", ticket=event.ticket_id, key=key)
                continue
            how, record = await self._version(event, attachment, case_id)
            answer = (await asyncio.to_thread(self.api.create_collection, "ContentVersion",
                                              [record]))[0]
            if not answer.get("success"):
                code, message = record_error(answer)
                log.warning("salesforce.files.refused", ticket=event.ticket_id, key=key,
                            code=code, error=message)
                continue
            await asyncio.to_thread(self.ledger.record, key, str(answer["id"]), how)
            attached[key] = how
            log.info("salesforce.files.attached", ticket=event.ticket_id, how=how,
                     kind=attachment.kind, case=case_id)
        return attached

    def _case_ids(self, ticket_ids: list[str]) -> dict[str, str]:
        soql = ("SELECT Id, Telecase_Ticket_Id__c FROM Case WHERE Telecase_Ticket_Id__c IN ("
                + ",".join(soql_quote(t) for t in ticket_ids) + ")")
        [rows] = self.api.query_many([soql])
        return {str(r["Telecase_Ticket_Id__c"]): str(r["Id"]) for r in rows}

    async def _version(self, event: CustomerMessageReceived, attachment: Attachment,
                       case_id: str) -> tuple[str, dict[str, object]]:
        name = file_name(event, attachment)
        sender = event.sender.username or event.sender.first_name
        base: dict[str, object] = {
            "Title": name, "FirstPublishLocationId": case_id,
            "Description": f"Sent by {sender} in Telegram ({_NAMES.get(attachment.kind)}, "
                           f"message {event.message_id})"}
        limit = min(self.policy.max_bytes, DOWNLOAD_MAX_BYTES)
        fetched = None
        if attachment.file_size is None or attachment.file_size <= limit:
            try:
                fetched = await self.source.fetch(attachment.file_id, limit)
            except PermanentError as exc:  # "file is too big", a file_id Telegram forgot
                log.warning("salesforce.files.not_downloaded", ticket=event.ticket_id,
                            kind=attachment.kind, error=str(exc))
        if fetched is not None and fetched.content is not None:
            return "copied", {**base, "PathOnClient": name,
                              "VersionData": base64.b64encode(fetched.content).decode()}
        size = (fetched.size if fetched is not None else None) or attachment.file_size
        link = message_link(event)
        if link is not None:
            return "linked", {**base, "Title": f"{name} (in Telegram)", "ContentUrl": link}
        note = (f"{name}: {size if size is not None else 'unknown'} bytes, too big to copy "
                f"into Salesforce. The customer sent it in Telegram as message "
                f"{event.message_id}; file_id {attachment.file_id}.\n")
        return "linked", {**base, "Title": f"{name} (in Telegram)",
                          "PathOnClient": f"{name}.txt",
                          "VersionData": base64.b64encode(note.encode()).decode()}

