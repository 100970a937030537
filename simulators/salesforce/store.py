"""The org's records: create, read, update, delete, upsert, with an undo journal.

Every write stamps the audit fields the way Salesforce does: ``CreatedDate`` /
``CreatedById`` once, ``LastModifiedDate`` / ``LastModifiedById`` / ``SystemModstamp`` on
every write (a delete bumps ``SystemModstamp`` too), all as ``...T..:..:...SSS+0000``.
Deleting is soft (the record goes to the recycle bin: ``IsDeleted`` true, visible only to
``queryAll``; any other access answers 404 ``ENTITY_IS_DELETED``) and cascades to
CaseComments, FeedItems and Tasks that hang off the deleted record.

Derived fields: ``Name`` of Contact/Lead/User (first + last), ``CaseNumber`` (an 8-digit
auto-number from ``00001001``), ``IsClosed`` and ``ClosedDate`` of a Case (closed status:
``Closed``), ``IsClosed`` of a Task (``Completed``), ``DeveloperName`` of a Group.

Savepoints (:meth:`Store.begin`, :meth:`Store.rollback`) let composite requests and
``allOrNone`` collections undo what they wrote. Auto-numbers and ids are not given back on
rollback, as in Salesforce.

An ``OwnerId`` must name an active User or a queue (see :meth:`Store._check_owner`).

Knowledge: creating a ``Knowledge__kav`` (an article version) creates its master
``KnowledgeArticle`` too, with the next ``ArticleNumber`` (``000001001`` on); the version gets
``KnowledgeArticleId``, ``ArticleNumber``, ``VersionNumber`` 1 and ``IsLatestVersion``.
Creating a ``CaseArticle`` that links a Case to an article it already links returns the
existing link, as Salesforce documents; its ``ArticleLanguage`` and (unless given)
``ArticleVersionNumber`` come from the article's version.

``gate`` is called with the record id (``None`` for a create) before each write made through
the API; the fault injector uses it to answer ``UNABLE_TO_LOCK_ROW``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulators.salesforce import content, entitlements, ids, sales, security
from simulators.salesforce.errors import (
    ApiError,
    duplicate_value,
    entity_deleted,
    invalid_cross_reference,
    method_not_allowed,
    not_found,
    required_missing,
)
from simulators.salesforce.history import case_history_rows, read_only
from simulators.salesforce.schema import SObjectType, build_types, find_type
from simulators.salesforce.timefmt import SimClock
from simulators.salesforce.values import prepare

CLOSED_CASE_STATUSES = frozenset({"Closed"})
CLOSED_TASK_STATUSES = frozenset({"Completed"})
_CASCADE_FIELDS = ("ParentId", "WhatId", "WhoId")
_CASCADE_TYPES = frozenset({"CaseComment", "FeedItem", "Task"})

WriteGate = Callable[[str | None], None]


@dataclass
class Record:
    """One stored record: its object, 18-character id and field values (canonical names)."""

    sobject: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return bool(self.fields.get("IsDeleted"))

    def copy(self) -> Record:
        return Record(self.sobject, self.id, dict(self.fields))


class Store:
    """Every record of the org, in creation order per object."""

    def __init__(self, clock: SimClock, *, gate: WriteGate | None = None,
                 types: dict[str, SObjectType] | None = None, strict: bool = False) -> None:
        self.types: dict[str, SObjectType] = types if types is not None else build_types()
        self.strict = strict
        """Enforce field lengths (``STRING_TOO_LONG``), as an org with the standard schema."""
        self.case_assignment_owner: str | None = None
        """The owner an active Case assignment rule gives every Case an API call creates or
        updates, unless the call says ``Sforce-Auto-Assign: FALSE`` (``None``: no rule)."""
        self.case_field_history = True
        """Field history tracking on for the Case's Status and Owner: every Case write adds
        its ``CaseHistory`` rows (see ``history``)."""
        self.process_milestones: dict[str, dict[str, int]] = {}
        """Entitlement processes' milestones (see ``entitlements``)."""
        self.clock = clock
        self.gate = gate
        self._ids = ids.IdFactory()
        self._records: dict[str, Record] = {}
        self._order: dict[str, list[str]] = {name: [] for name in self.types}
        self._case_number = 1001
        self._article_number = 1001
        self._journals: list[list[tuple[str, Record | None]]] = []
        # (object, field) -> value -> ids; built on first lookup, added to on every write.
        # Entries may be stale (a value changed, a create was rolled back): lookups re-check.
        self._index: dict[tuple[str, str], dict[str, set[str]]] = {}

    # -- lookups -------------------------------------------------------------------------

    def sobject(self, name: str) -> SObjectType:
        """The simulated object called ``name`` (404 ``NOT_FOUND`` otherwise)."""
        found = find_type(self.types, name)
        if found is None:
            raise not_found()
        return found

    def by_id(self, record_id: str) -> Record | None:
        """The record with this id, of any object, deleted or not."""
        normalized = ids.normalize(record_id)
        return None if normalized is None else self._records.get(normalized)

    def get(self, sobject: str, record_id: str) -> Record:
        """A live record of ``sobject`` (404 ``NOT_FOUND`` / ``ENTITY_IS_DELETED``)."""
        kind = self.sobject(sobject)
        normalized = ids.normalize(record_id)
        if normalized is None:
            raise not_found("Provided external ID field does not exist or is not accessible: "
                            f"{record_id}")
        record = self._records.get(normalized)
        if record is None or record.sobject != kind.name:
            raise not_found()
        if record.deleted:
            raise entity_deleted()
        return self._as_of(kind, [record])[0]

    def _as_of(self, kind: SObjectType, records: list[Record]) -> list[Record]:
        """``records`` as they read now: fields that change with time alone (a
        CaseMilestone's ``IsViolated`` once its target passed) worked out again, for a query
        and a retrieve alike."""
        if kind.name == "CaseMilestone":
            entitlements.as_of([r.fields for r in records], self.clock.now())
        return records

    def all(self, sobject: str, *, include_deleted: bool = False) -> list[Record]:
        kind = self.sobject(sobject)
        records = (self._records[i] for i in self._order[kind.name])
        return self._as_of(kind, [r for r in records if include_deleted or not r.deleted])

    def find(self, sobject: str, field_name: str, value: Any) -> list[Record]:
        """Live records whose ``field_name`` equals ``value`` (compared as text), oldest
        first."""
        kind = self.sobject(sobject)
        by_value = self._index.get((kind.name, field_name))
        if by_value is None:
            by_value = self._index[(kind.name, field_name)] = {}
            for record_id in self._order[kind.name]:
                self._add_to_index(by_value, field_name, self._records[record_id])
        wanted = str(value)
        found = []
        for record_id in sorted(by_value.get(wanted, ())):
            record = self._records.get(record_id)
            if record is not None and not record.deleted \
                    and record.fields.get(field_name) is not None \
                    and str(record.fields[field_name]) == wanted:
                found.append(record)
        return found

    def lookup(self, record_id: str) -> str:
        """``live``, ``deleted`` or ``missing``: what a reference to ``record_id`` finds."""
        record = self._records.get(record_id)
        if record is None:
            return "missing"
        return "deleted" if record.deleted else "live"

    # -- writes --------------------------------------------------------------------------

    def create(self, sobject: str, body: Mapping[str, Any], user_id: str, *,
               gated: bool = True) -> Record:
        kind = self.sobject(sobject)
        if gated and kind.name in {"CaseHistory", "CaseMilestone"}:
            raise read_only(kind.name, "inserted")
        if gated and self.gate is not None:
            self.gate(None)
        values = prepare(kind, body, creating=True, types=self.types, lookup=self.lookup,
                         check_lengths=self.strict)
        if gated:
            sales.refuse_converted(self, kind, None, values)
        assigned = gated and self._assign(kind, values)
        for name, one in kind.fields.items():
            if name not in values and one.default is not None:
                values[name] = one.default
        missing = [n for n, f in kind.fields.items() if f.required and values.get(n) is None]
        if missing:
            raise required_missing(missing)
        self._check_owner(kind, values)
        self._check_permission_row(kind, values)
        if kind.name == "CaseArticle":
            existing = self._case_article(values)
            if existing is not None:
                return existing
        record = Record(kind.name, self._ids.new(kind.key_prefix))
        self._check_unique(kind, values, record.id)
        now = self.clock.stamp()
        record.fields = {"Id": record.id, "IsDeleted": False, **values, "CreatedDate": now,
                         "CreatedById": user_id, "LastModifiedDate": now,
                         "LastModifiedById": user_id, "SystemModstamp": now}
        if kind.name == "Case":
            record.fields["CaseNumber"] = f"{self._case_number:08d}"
            self._case_number += 1
        if "OwnerId" in kind.fields and record.fields.get("OwnerId") is None:
            record.fields["OwnerId"] = user_id
        if kind.name == "Knowledge__kav":
            self._new_article(record, user_id, now)
        elif kind.name == "ContentVersion":
            content.publish(record.fields, lambda sobject, fields: self._system_insert(
                sobject, fields, user_id, now))
        elif kind.name == "CaseArticle":
            self._link_article_version(record)
        self._derive(kind, record.fields, {})
        self._remember(record.id, None)
        self._records[record.id] = record
        self._order[kind.name].append(record.id)
        self._reindex(record)
        self._track(record, None, user_id, assigned)
        return record

    def update(self, sobject: str, record_id: str, body: Mapping[str, Any], user_id: str, *,
               gated: bool = True) -> Record:
        record = self.get(sobject, record_id)
        kind = self.sobject(sobject)
        if gated and kind.name == "CaseHistory":
            raise read_only(kind.name, "updated")
        if gated and self.gate is not None:
            self.gate(record.id)
        values = prepare(kind, body, creating=False, types=self.types, lookup=self.lookup,
                         check_lengths=self.strict)
        if gated:
            sales.refuse_converted(self, kind, record, values)
        assigned = gated and self._assign(kind, values)
        cleared = [n for n, v in values.items() if v is None and kind.fields[n].required]
        if cleared:
            raise required_missing(cleared)
        self._check_owner(kind, values)
        self._check_unique(kind, values, record.id)
        self._remember(record.id, record.copy())
        before = dict(record.fields)
        now = self.clock.stamp()
        record.fields.update(values)
        record.fields.update({"LastModifiedDate": now, "LastModifiedById": user_id,
                              "SystemModstamp": now})
        self._derive(kind, record.fields, before)
        self._reindex(record)
        self._track(record, before, user_id, assigned)
        return record

    def delete(self, sobject: str, record_id: str, user_id: str, *, gated: bool = True) -> None:
        record = self.get(sobject, record_id)
        if not self.sobject(sobject).deletable:
            raise method_not_allowed("DELETE", ["GET", "HEAD", "PATCH"])
        if gated and self.gate is not None:
            self.gate(record.id)
        self._soft_delete(record, user_id)

    def upsert(self, sobject: str, field_name: str, value: str, body: Mapping[str, Any],
               user_id: str, *, version: str, gated: bool = True) -> tuple[Record, bool]:
        """Create or update by external id: ``(record, created)``; 300 on several matches."""
        kind = self.sobject(sobject)
        ext = kind.field(field_name)
        if ext is not None and ext.name == "Id":
            if not value:
                return self.create(sobject, body, user_id, gated=gated), True
            return self.update(sobject, value, body, user_id, gated=gated), False
        if ext is None or not ext.external_id:
            raise not_found("Provided external ID field does not exist or is not accessible: "
                            f"{field_name}")
        matches = self.find(kind.name, ext.name, value)
        if len(matches) > 1:
            urls = [f"/services/data/v{version}/sobjects/{kind.name}/{r.id}" for r in matches]
            raise ApiError(300, "MULTIPLE_CHOICES", f"more than one record for {value}",
                           body=urls)
        given = {k: v for k, v in body.items() if k.lower() != ext.name.lower()}
        if matches:
            return self.update(kind.name, matches[0].id, given, user_id, gated=gated), False
        return self.create(kind.name, {**given, ext.name: value}, user_id, gated=gated), True

    # -- savepoints ----------------------------------------------------------------------

    def begin(self) -> int:
        """Open a savepoint; returns its depth (give it to rollback/release)."""
        self._journals.append([])
        return len(self._journals)

    def rollback(self, depth: int) -> None:
        """Undo every write since the savepoint ``depth`` was opened, and close it."""
        while len(self._journals) >= depth:
            for record_id, previous in reversed(self._journals.pop()):
                if previous is None:
                    record = self._records.pop(record_id)
                    self._order[record.sobject].remove(record_id)
                else:
                    self._records[record_id] = previous
                    self._reindex(previous)

    def release(self, depth: int) -> None:
        """Keep the writes since savepoint ``depth`` (an outer savepoint may still undo)."""
        while len(self._journals) >= depth:
            entries = self._journals.pop()
            if self._journals:
                self._journals[-1].extend(entries)

    # -- knowledge -----------------------------------------------------------------------

    def _new_article(self, version: Record, user_id: str, now: str) -> None:
        """The master article of a first version, and the version's derived fields."""
        master = Record("KnowledgeArticle", self._ids.new(self.types["KnowledgeArticle"]
                                                          .key_prefix))
        number = f"{self._article_number:09d}"
        self._article_number += 1
        master.fields = {"Id": master.id, "IsDeleted": False, "ArticleNumber": number,
                         "CreatedDate": now, "CreatedById": user_id, "LastModifiedDate": now,
                         "LastModifiedById": user_id, "SystemModstamp": now}
        self._remember(master.id, None)
        self._records[master.id] = master
        self._order["KnowledgeArticle"].append(master.id)
        self._reindex(master)
        version.fields.update(KnowledgeArticleId=master.id, ArticleNumber=number,
                              VersionNumber=1, IsLatestVersion=True)

    def _system_insert(self, sobject: str, fields: Mapping[str, Any], user_id: str,
                       now: str) -> Record:
        """A record Salesforce makes itself (a File's ContentDocument and first link:
        ``content``), stored without a client's validation."""
        record = Record(sobject, self._ids.new(self.types[sobject].key_prefix))
        record.fields = {"Id": record.id, "IsDeleted": False, **fields, "CreatedDate": now,
                         "CreatedById": user_id, "LastModifiedDate": now,
                         "LastModifiedById": user_id, "SystemModstamp": now}
        self._remember(record.id, None)
        self._records[record.id] = record
        self._order[sobject].append(record.id)
        self._reindex(record)
        return record

    def _case_article(self, values: Mapping[str, Any]) -> Record | None:
        """The live CaseArticle already linking this Case and article, if any."""
        for record_id in self._order["CaseArticle"]:
            link = self._records[record_id]
            if not link.deleted and link.fields.get("CaseId") == values.get("CaseId") \
                    and link.fields.get("KnowledgeArticleId") == values.get("KnowledgeArticleId"):
                return link
        return None

    def _link_article_version(self, link: Record) -> None:
        """A CaseArticle's language and version number, from the version it names or the
        article's latest version."""
        version = self.by_id(str(link.fields.get("KnowledgeArticleVersionId") or ""))
        if version is None:
            versions = [self._records[i] for i in self._order["Knowledge__kav"]]
            version = next((v for v in reversed(versions) if not v.deleted and v.fields.get(
                "KnowledgeArticleId") == link.fields.get("KnowledgeArticleId")), None)
        if version is not None:
            link.fields["ArticleLanguage"] = version.fields.get("Language")
            if link.fields.get("ArticleVersionNumber") is None:
                link.fields["ArticleVersionNumber"] = version.fields.get("VersionNumber")

    # -- internals -----------------------------------------------------------------------

    def _remember(self, record_id: str, previous: Record | None) -> None:
        if self._journals:
            self._journals[-1].append((record_id, previous))

    def _reindex(self, record: Record) -> None:
        for (sobject, field_name), by_value in self._index.items():
            if sobject == record.sobject:
                self._add_to_index(by_value, field_name, record)

    @staticmethod
    def _add_to_index(by_value: dict[str, set[str]], field_name: str, record: Record) -> None:
        value = record.fields.get(field_name)
        if value is not None:
            by_value.setdefault(str(value), set()).add(record.id)

    def _soft_delete(self, record: Record, user_id: str) -> None:
        self._remember(record.id, record.copy())
        now = self.clock.stamp()
        record.fields.update({"IsDeleted": True, "SystemModstamp": now,
                              "LastModifiedDate": now, "LastModifiedById": user_id})
        children = (self._records[i] for t in _CASCADE_TYPES for i in self._order[t])
        for child in list(children):
            if not child.deleted and any(child.fields.get(f) == record.id
                                         for f in _CASCADE_FIELDS):
                self._soft_delete(child, user_id)

    def _track(self, record: Record, before: dict[str, Any] | None, user_id: str,
               assigned: bool) -> None:
        """A Case write's ``CaseHistory`` rows, made by the writing user (see ``history``),
        and its entitlement process's milestones (see ``entitlements``)."""
        if record.sobject == "Case":
            entitlements.on_case_write(self, record, before, user_id)
        if record.sobject != "Case" or not self.case_field_history:
            return

        def name_of(record_id: str) -> str:
            found = self.by_id(record_id)
            return str(found.fields.get("Name") or record_id) if found else record_id

        for row in case_history_rows(record.id, before, record.fields, assigned=assigned,
                                     name_of=name_of):
            self.create("CaseHistory", row, user_id, gated=False)

    def _assign(self, kind: SObjectType, values: dict[str, Any]) -> bool:
        """The active Case assignment rule, on create and on update through the API.
        REST API Developer Guide, Assignment Rule Header
        (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_autoassign.htm):
        "applied when creating or updating Accounts, Cases, or Leads ... If the header is not
        provided in the request, the default value is TRUE"; ``FALSE`` (any case) skips it.
        Driver writes (agents in the UI) are not API calls and never run it."""
        owner = self.case_assignment_owner
        if kind.name == "Case" and owner is not None and security.current().auto_assign:
            values["OwnerId"] = owner
            return True
        return False

    def _check_owner(self, kind: SObjectType, values: Mapping[str, Any]) -> None:
        """An owner is an active User or a queue (a Group of Type ``Queue``): a public
        group cannot own records (``INVALID_CROSS_REFERENCE_KEY``, as for an id that does
        not exist), nor an inactive user (``INACTIVE_OWNER_OR_USER``). Queues own Cases
        here whatever objects they list (queue sObject support is not simulated)."""
        owner_id = values.get("OwnerId")
        owner = self._records.get(owner_id) if isinstance(owner_id, str) else None
        if owner is None:
            return  # the reference check already refused ids that resolve to nothing
        if owner.sobject == "Group" and owner.fields.get("Type") != "Queue":
            raise invalid_cross_reference("OwnerId")
        if owner.sobject == "User" and owner.fields.get("IsActive") is False:
            raise ApiError(400, "INACTIVE_OWNER_OR_USER",
                           f"operation performed with inactive user [{owner.id}] as owner "
                           f"of {kind.name.lower()}", [])

    def _check_permission_row(self, kind: SObjectType, values: Mapping[str, Any]) -> None:
        """FieldPermissions: ``Field`` is a restricted picklist of ``SobjectType.Field`` names
        (Object Reference, FieldPermissions: "The field's API name. This name must be prefixed
        with the SobjectType"), one row per permission set and field; one
        PermissionSetAssignment per user and permission set. Duplicates answer
        ``DUPLICATE_VALUE`` with the "<unknown>" wording setup objects use."""
        if kind.name == "FieldPermissions":
            object_name, _, field_name = str(values.get("Field", "")).partition(".")
            target = find_type(self.types, object_name)
            if target is None or field_name.lower() not in {n.lower() for n in target.fields} \
                    or object_name.lower() != str(values.get("SobjectType", "")).lower():
                raise ApiError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                               f"Field Name: bad value for restricted picklist field: "
                               f"{values.get('Field')}", ["Field"])
            key: tuple[str, ...] = ("ParentId", "Field")
        elif kind.name == "PermissionSetAssignment":
            key = ("AssigneeId", "PermissionSetId")
        else:
            return
        for record_id in self._order[kind.name]:
            other = self._records[record_id]
            if not other.deleted and all(str(other.fields.get(k)).lower()
                                         == str(values.get(k)).lower() for k in key):
                raise ApiError(400, "DUPLICATE_VALUE", "duplicate value found: <unknown> "
                               "duplicates value on record with id: <unknown>", [])

    def _check_unique(self, kind: SObjectType, values: Mapping[str, Any], own_id: str) -> None:
        for name, value in values.items():
            if value is None or not kind.fields[name].unique:
                continue
            for other in self.find(kind.name, name, value):
                if other.id != own_id:
                    if kind.name == "User":
                        raise ApiError(400, "DUPLICATE_USERNAME", "Duplicate Username.", [name])
                    raise duplicate_value(name, other.id)

    def _derive(self, kind: SObjectType, fields: dict[str, Any], before: dict[str, Any]) -> None:
        if kind.name in {"Contact", "Lead", "User"}:
            parts = [fields.get("FirstName"), fields.get("LastName")]
            fields["Name"] = " ".join(str(p) for p in parts if p)
        elif kind.name == "Case":
            closed = fields.get("Status") in CLOSED_CASE_STATUSES
            if closed and not before.get("IsClosed"):
                fields["ClosedDate"] = fields["SystemModstamp"]
            elif not closed:
                fields["ClosedDate"] = None
            fields["IsClosed"] = closed
        elif kind.name == "Task":
            fields["IsClosed"] = fields.get("Status") in CLOSED_TASK_STATUSES
        elif kind.name == "CaseMilestone":
            entitlements.derive(fields, self.clock.now())
        elif kind.name == "Opportunity":
            sales.derive(fields)
        elif kind.name == "Group" and not fields.get("DeveloperName"):
            fields["DeveloperName"] = re.sub(r"\W+", "_", str(fields.get("Name", ""))).strip("_")
