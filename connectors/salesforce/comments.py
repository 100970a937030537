"""Writing CaseComments and FeedItems once, without a custom field on them.

CaseComment and FeedItem take no custom fields in a real org (the CaseComment field reference
lists only standard fields, https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-casecomment.html;
Setup's Object Manager offers no "Fields & Relationships" for either), so an external id such as
``Telecase_Event_Id__c`` cannot make their creation idempotent. Instead:

1. **A ledger** (:class:`WriteLedger`) maps each write's key (an ``agent.replied`` event id,
   ``<event_id>/comment/<i>`` for an escalation's comment, a message's event id for a
   FeedItem) to the Id Salesforce gave the record. It lives in telecase's ledger database
   (:class:`SqlWriteLedger`: the database of the Telegram delivery ledger, SQLite under
   ``data_dir`` or the Kafka deployment's PostgreSQL) and is written right after Salesforce
   answers, before the sync's consumer position is committed. A key in the ledger is never
   written again (a retried batch, a redelivery, a replay). Its table,
   ``salesforce_written_records``, is migrated by Alembic like telecase's other durable state
   (branch ``salesforce_ledger`` of :mod:`streams.runtime.state_tables`; a table ``create_all``
   made before is adopted).
2. **A marker** in the body: every record ends with a line ``[tg:<10 hex>]``, the first ten hex
   digits of the SHA-256 of its key (:func:`marker`). It is short, visible and stable, so an
   agent reading the Case sees a reference tag rather than hidden characters (a zero-width
   marker would be invisible, lost by copy-paste and surprising in exports), and it names no
   customer data.
3. **Crash recovery.** A key missing from the ledger (never written, or written just before a
   crash that lost the ledger row) is first looked for in Salesforce: one query per batch for
   the records under the batch's parents (``ParentId``) created since the earliest event's time
   less :data:`CLOCK_SKEW` (``CreatedDate``), by the integration user (``CreatedById``, compared
   as 15-character ids, when the sync knows that user), whose body ends with the key's marker.
   A match is recorded in the ledger and not created again.

The remaining window: a duplicate is still possible if, between the crash and the retry,
someone edits the record and removes the marker, or the integration user changes; and a record
deleted by an agent before the retry is created again. Records written before this scheme
(without a marker) are not found, so a replay of old history with an empty ledger writes them
again. CommentBody holds at most 4,000 bytes (field reference above): a longer body is cut so
that the marker always fits.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from connectors.salesforce.api import (
    QUERY_KEYS_MAX,
    SalesforceApi,
    Writer,
    chunks,
    record_error,
    soql_quote,
)
from connectors.salesforce.results import SyncResult
from streams.runtime.state_tables import migrate_state

BODY_MAX_BYTES = 4000
CLOCK_SKEW = timedelta(minutes=10)
"""How much earlier than its event a record may carry a ``CreatedDate`` (clocks differ)."""
_MARKER = re.compile(r"\[tg:([0-9a-f]{10})\]\s*$")


def marker(key: str) -> str:
    return f"[tg:{hashlib.sha256(key.encode()).hexdigest()[:10]}]"


def has_marker(body: str | None) -> bool:
    """Whether ``body`` ends with a telecase marker (a record telecase wrote)."""
    return bool(body) and _MARKER.search(body or "") is not None


def marked(body: str, key: str, max_bytes: int = BODY_MAX_BYTES) -> str:
    """``body`` with ``key``'s marker as its last line, cut to fit ``max_bytes``."""
    tail = f"\n\n{marker(key)}"
    room = max_bytes - len(tail.encode())
    raw = body.encode()
    if len(raw) > room:
        body = raw[:room - 3].decode(errors="ignore") + "..."
    return body + tail


def unmarked(body: str) -> str:
    """``body`` without its marker line (what the agent or the customer wrote)."""
    return _MARKER.sub("", body).rstrip("\n") if has_marker(body) else body


def id15(record_id: str | None) -> str | None:
    return record_id[:15] if record_id else None


# -- the ledger ------------------------------------------------------------------------------

class WriteLedger(Protocol):
    def find(self, keys: Sequence[str]) -> dict[str, str]:
        """``{key: record Id}`` for the keys already written."""
        ...

    def record(self, sobject: str, written: Mapping[str, str]) -> None:
        """Remember ``{key: record Id}`` (a key already there keeps its Id)."""
        ...


class MemoryWriteLedger:
    """A ledger for one process (tests, benchmarks); crash recovery covers its loss."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: self.ids[k] for k in keys if k in self.ids}

    def record(self, sobject: str, written: Mapping[str, str]) -> None:
        for key, record_id in written.items():
            self.ids.setdefault(key, record_id)


metadata = MetaData()
written_records = Table(
    "salesforce_written_records", metadata,
    Column("key", String(300), primary_key=True),
    Column("sobject", String(40), nullable=False),
    Column("record_id", String(18), nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)
_CREATING = threading.Lock()
_ATTEMPTS_TO_CREATE = 3


class SqlWriteLedger:
    """The ledger in a table of its own on ``engine`` (PostgreSQL or SQLite). Nothing
    connects until :meth:`create` or a lookup."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Bring the table to its newest revision (``salesforce_ledger@head``). Two processes
        starting together may both find it missing: the loser of that race sees "already
        exists" and migrates again."""
        with _CREATING:
            for attempt in range(_ATTEMPTS_TO_CREATE):
                try:
                    migrate_state(self.engine, "salesforce_ledger")
                    return
                except DBAPIError:
                    if attempt == _ATTEMPTS_TO_CREATE - 1:
                        raise

    def find(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(keys), 500):
                rows = conn.execute(select(written_records.c.key, written_records.c.record_id)
                                    .where(written_records.c.key.in_(chunk)))
                found.update({r.key: r.record_id for r in rows})
        return found

    def record(self, sobject: str, written: Mapping[str, str]) -> None:
        if not written:
            return
        now = datetime.now(UTC)
        rows = [{"key": k, "sobject": sobject, "record_id": v, "written_at": now}
                for k, v in written.items()]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        with self.engine.begin() as conn:
            conn.execute(dialect.insert(written_records).values(rows)
                         .on_conflict_do_nothing(index_elements=["key"]))


# -- the writer ------------------------------------------------------------------------------

@dataclass
class Note:
    """One CaseComment or FeedItem to write."""

    key: str
    """Its idempotency key (see the module docstring)."""
    owner: str
    """The event a refusal is reported under."""
    parent_id: str
    body: str
    occurred_at: datetime
    fields: dict[str, Any] = field(default_factory=dict)
    """Other fields (``IsPublished``, ``Type``)."""


class NoteWriter:
    """Writes :class:`Note` s of one object (``CaseComment``/``CommentBody`` or
    ``FeedItem``/``Body``) once, through ``ledger`` and crash recovery.
    ``integration_user``: the Id of the user telecase writes as, or ``None`` when unknown
    (then recovery matches without ``CreatedById``)."""

    def __init__(self, api: SalesforceApi, writer: Writer, ledger: WriteLedger, *,
                 sobject: str, body_field: str,
                 integration_user: Callable[[], str | None] = lambda: None) -> None:
        self.api, self.writer, self.ledger = api, writer, ledger
        self.sobject, self.body_field = sobject, body_field
        self.integration_user = integration_user

    def write(self, notes: Sequence[Note], result: SyncResult) -> None:
        if not notes:
            return
        known = self.ledger.find([n.key for n in notes])
        todo = [n for n in notes if n.key not in known]
        found = self._recover(todo)
        self.ledger.record(self.sobject, found)
        for _ in range(len(notes) - len(todo) + len(found)):
            result.count(self.sobject)
        rows = [(n.key, {"ParentId": n.parent_id, **n.fields,
                         self.body_field: marked(n.body, n.key)})
                for n in todo if n.key not in found]
        answers = self.writer.create(self.sobject, rows)
        created = {k: a["id"] for k, a in answers.items() if a.get("success")}
        self.ledger.record(self.sobject, created)
        owners = {n.key: n.owner for n in notes}
        for key, answer in answers.items():
            if answer.get("success"):
                result.count(self.sobject)
            else:
                result.rejected.append((owners[key], record_error(answer)[1]))

    def _recover(self, notes: Sequence[Note]) -> dict[str, str]:
        """``{key: Id}`` of ``notes`` already in Salesforce (written before a crash)."""
        if not notes:
            return {}
        since = min(n.occurred_at for n in notes) - CLOCK_SKEW
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parents = sorted({n.parent_id for n in notes})
        soqls = [f"SELECT Id, ParentId, CreatedById, {self.body_field} FROM {self.sobject} "
                 f"WHERE ParentId IN ({','.join(soql_quote(p) for p in chunk)}) "
                 f"AND CreatedDate >= {stamp}" for chunk in chunks(parents, QUERY_KEYS_MAX)]
        me = id15(self.integration_user())
        wanted = {(id15(n.parent_id), marker(n.key)): n.key for n in notes}
        found: dict[str, str] = {}
        for rows in self.api.query_many(soqls):
            for row in rows:
                if me is not None and id15(row.get("CreatedById")) != me:
                    continue
                tag = _MARKER.search(row.get(self.body_field) or "")
                key = wanted.get((id15(row.get("ParentId")), tag.group(0))) if tag else None
                if key is not None:
                    found.setdefault(key, row["Id"])
        return found


def integration_user(api: SalesforceApi, user_id: str | None,
                     username: str | None) -> Callable[[], str | None]:
    """The integration user's Id: ``user_id``, else looked up once by ``username``, else
    ``None``."""
    cache: list[str | None] = [user_id] if user_id else []

    def lookup() -> str | None:
        if not cache:
            if username is None:
                cache.append(None)
            else:
                [rows] = api.query_many([f"SELECT Id FROM User WHERE Username = "
                                         f"{soql_quote(username)}"])
                cache.append(rows[0]["Id"] if rows else None)
        return cache[0]

    return lookup

