"""Checking an org against :mod:`connectors.salesforce.org_schema`, and setting it up.

:func:`check` describes every object telecase uses, as the integration user (the describe
answers show only the fields that user may see, and whether it may write them), and returns a
checklist: each object, each custom field (type, length, external id and unique flags), its
field-level security, the picklist values, the API requests left today, the login flow.

:func:`setup` creates what is missing, idempotently, in this order (each API as documented):

1. custom fields: Tooling API ``POST tooling/sobjects/CustomField`` with ``FullName``
   (``Case.Telecase_Ticket_Id__c``, ``Activity.X__c`` for a Task's) and ``Metadata``
   (CustomFieldMetadata: type, length, externalId, unique, label...); existing ones are found
   with ``SELECT Id, DeveloperName, TableEnumOrId FROM CustomField`` (Tooling API Developer
   Guide, CustomField, "Query, GET, POST, PATCH",
   https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm).
   A field that exists with another type or flags is not changed (a conversion may lose data):
   it is reported for the admin to fix in Setup.
2. picklist values: ``SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel =
   'CaseOrigin'`` then ``PATCH tooling/sobjects/StandardValueSet/{id}`` with the whole
   ``Metadata`` (Tooling API, StandardValueSet, API 39.0+,
   https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_standardvalueset.htm;
   Metadata API, StandardValueSet: the ``standardValue`` list is the whole set).
3. the permission set :data:`~connectors.salesforce.org_schema.PERMISSION_SET` (``PermissionSet``
   ``Name``/``Label``), one ``FieldPermissions`` row per field with ``PermissionsRead`` and
   ``PermissionsEdit`` (Object Reference, FieldPermissions: "To grant a user access to a field,
   associate a FieldPermissions record with a PermissionSet that's assigned to a user",
   https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-fieldpermissions.html),
4. and its ``PermissionSetAssignment`` (``AssigneeId``, ``PermissionSetId``) to the
   integration user (Object Reference, PermissionSetAssignment,
   https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-permissionsetassignment.html).
5. the custom notification type of the deadline notifications
   (:mod:`connectors.salesforce.notifications`): found with ``SELECT Id FROM
   CustomNotificationType WHERE DeveloperName = ...`` (a standard object from API 47.0), made
   with Tooling API ``POST tooling/sobjects/CustomNotificationType`` (``DeveloperName``,
   ``MasterLabel``, ``CustomNotifTypeName`` unique, at most 80 characters, ``Desktop`` and
   ``Mobile`` channels; Tooling API, CustomNotificationType, API 46.0+,
   https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customnotificationtype.htm).
   Sending one through the REST API also needs the integration user's "Send Custom
   Notifications" user permission in orgs made from Winter '21 (Actions Developer Guide,
   "Custom Notification Actions": "the Send Custom Notifications user permission is required
   to trigger the Send Custom Notification action in ... REST API calls"): setup sets it in
   telecase's permission set (``PermissionsSendCustomNotifications``), and check, given the
   integration user, tells whether any of its permission sets grants it (a problem with
   ``TELECASE_SALESFORCE_NOTIFICATIONS`` on, a warning otherwise).

The caller needs "Customize Application" and "Manage Users" (or "Assign Permission Sets")
for setup, and "View Setup and Configuration" to query CustomField and the permission objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from connectors.errors import ConnectorError
from connectors.salesforce.api import soql_quote
from connectors.salesforce.org_schema import (
    CUSTOM_FIELDS,
    DESCRIBE_TYPES,
    OBJECTS,
    PERMISSION_SET,
    PICKLIST_VALUES,
    CustomFieldSpec,
    PicklistValue,
)

SETUP = "run telecase salesforce setup"
NOTIFICATION_TYPE = "Telecase_SLA_Deadline"
"""The default ``DeveloperName`` of the deadline notifications' type
(``TELECASE_SALESFORCE_NOTIFICATION_TYPE``)."""
SEND_NOTIFICATIONS = "PermissionsSendCustomNotifications"
"""PermissionSet's field for the "Send Custom Notifications" user permission (its user
permissions are fields named ``Permissions<Name>``)."""
LOW_API_SHARE = 0.1
"""Below this share of the daily API requests left, the limits line is a warning."""


class OrgSetupError(ConnectorError):
    """The org refused a setup step (the message says which and why)."""


class OrgApi(Protocol):
    """The calls check and setup make (see :class:`SimpleSalesforceOrg`)."""

    def describe(self, sobject: str) -> dict[str, Any] | None: ...
    def query(self, soql: str) -> list[dict[str, Any]]: ...
    def tooling_query(self, soql: str) -> list[dict[str, Any]]: ...
    def tooling_create(self, sobject: str, body: dict[str, Any]) -> str: ...
    def tooling_update(self, sobject: str, record_id: str, body: dict[str, Any]) -> None: ...
    def create(self, sobject: str, fields: dict[str, Any]) -> str: ...
    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None: ...
    def limits(self) -> dict[str, Any]: ...


class SimpleSalesforceOrg:
    """:class:`OrgApi` on a logged-in ``simple_salesforce.Salesforce`` (blocking)."""

    def __init__(self, sf: Any) -> None:
        self.sf = sf

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from simple_salesforce.exceptions import SalesforceError
        try:
            return fn(*args, **kwargs)
        except SalesforceError as exc:
            raise OrgSetupError(f"{what}: {_reason(exc.content)}") from None

    def describe(self, sobject: str) -> dict[str, Any] | None:
        from simple_salesforce.exceptions import SalesforceError, SalesforceResourceNotFound
        try:
            return dict(self.sf.restful(f"sobjects/{sobject}/describe"))
        except SalesforceResourceNotFound:
            return None
        except SalesforceError as exc:
            raise OrgSetupError(f"describe {sobject}: {_reason(exc.content)}") from None

    def query(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call(soql, self.sf.query_all, soql)["records"])

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call(soql, self.sf.toolingexecute, "query",
                               params={"q": soql})["records"])

    def tooling_create(self, sobject: str, body: dict[str, Any]) -> str:
        answer = self._call(f"create {sobject} {body.get('FullName', '')}",
                            self.sf.toolingexecute, f"sobjects/{sobject}", method="POST",
                            data=body)
        return str(answer["id"])

    def tooling_update(self, sobject: str, record_id: str, body: dict[str, Any]) -> None:
        self._call(f"update {sobject} {record_id}", self.sf.toolingexecute,
                   f"sobjects/{sobject}/{record_id}", method="PATCH", data=body)

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        answer = self._call(f"create {sobject}", getattr(self.sf, sobject).create, fields)
        return str(answer["id"])

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        self._call(f"update {sobject} {record_id}", getattr(self.sf, sobject).update,
                   record_id, fields)

    def limits(self) -> dict[str, Any]:
        return dict(self._call("limits", self.sf.limits))


def _reason(content: Any) -> str:
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode')}: {content[0].get('message')}"
    return str(content)


# -- the checklist ----------------------------------------------------------------------------

class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"
    WRONG = "wrong"


@dataclass(frozen=True)
class Line:
    """One item of the checklist; ``fix`` says what to do when it is not ``ok``."""

    kind: str
    item: str
    status: Status
    detail: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "item": self.item, "status": self.status.value,
                "detail": self.detail, "fix": self.fix}


@dataclass
class Checklist:
    lines: list[Line] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing missing or wrong (warnings allowed)."""
        return all(line.status in (Status.OK, Status.WARN) for line in self.lines)

    def problems(self) -> list[Line]:
        return [line for line in self.lines if line.status in (Status.MISSING, Status.WRONG)]

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "lines": [line.as_json() for line in self.lines]}


def _fields_path(spec: CustomFieldSpec) -> str:
    return f"Setup > Object Manager > {spec.metadata_object} > Fields & Relationships"


def _create_fix(spec: CustomFieldSpec) -> str:
    return (f"{SETUP}, or {_fields_path(spec)} > New: {spec.summary()}, "
            f"API name {spec.name}")


def _flag_problems(spec: CustomFieldSpec, kind: str, length: Any, external: Any,
                   unique: Any) -> list[str]:
    """What differs from ``spec`` (``kind`` in describe terms)."""
    wrong: list[str] = []
    if kind != spec.describe_type:
        wrong.append(f"type {kind}, not {spec.describe_type}")
    if spec.type == "Text" and isinstance(length, int) and length < (spec.length or 0):
        wrong.append(f"length {length} < {spec.length}")
    if spec.external_id and not external:
        wrong.append("not an external id")
    if spec.unique and not unique:
        wrong.append("not unique")
    return wrong


def existing_fields(api: OrgApi) -> dict[str, dict[str, Any]]:
    """The declared fields that exist in the org (whoever may see them), by
    :attr:`~CustomFieldSpec.qualified` name: their Tooling API CustomField row."""
    names = sorted({spec.developer_name for spec in CUSTOM_FIELDS})
    rows = api.tooling_query("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE "
                             f"DeveloperName IN ({','.join(soql_quote(n) for n in names)})")
    found: dict[str, dict[str, Any]] = {}
    for spec in CUSTOM_FIELDS:
        tables = {spec.sobject.lower(), spec.metadata_object.lower()}
        for row in rows:
            if (str(row.get("DeveloperName")).lower() == spec.developer_name.lower()
                    and str(row.get("TableEnumOrId")).lower() in tables):
                found[spec.qualified] = row
    return found


def _field_lines(api: OrgApi, spec: CustomFieldSpec, described: dict[str, Any] | None,
                 row: dict[str, Any] | None) -> list[Line]:
    item = spec.qualified
    want = spec.summary()
    grant = (f"{SETUP} (permission set {PERMISSION_SET}, assigned to the integration user), "
             f"or {_fields_path(spec)} > {spec.name} > Set Field-Level Security")
    if described is not None:
        wrong = _flag_problems(spec, str(described.get("type")), described.get("length"),
                               described.get("externalId"), described.get("unique"))
        writable = bool(described.get("createable") and described.get("updateable"))
        access = Line("access", item, Status.OK if writable else Status.WRONG,
                      "visible and editable for the integration user" if writable
                      else "visible but read-only for the integration user",
                      "" if writable else grant)
    elif row is not None:
        meta = api.tooling_query(f"SELECT Id, Metadata FROM CustomField WHERE Id = "
                                 f"{soql_quote(str(row['Id']))}")
        m = (meta[0].get("Metadata") or {}) if meta else {}
        kind = DESCRIBE_TYPES.get(str(m.get("type")), str(m.get("type")))
        wrong = _flag_problems(spec, kind, m.get("length"), m.get("externalId"),
                               m.get("unique"))
        access = Line("access", item, Status.MISSING,
                      "the integration user cannot see it (no field-level security)", grant)
    else:
        return [Line("field", item, Status.MISSING, f"missing: needs {want}",
                     _create_fix(spec)),
                Line("access", item, Status.MISSING, "the field does not exist yet", SETUP)]
    if wrong:
        field_line = Line("field", item, Status.WRONG, "; ".join(wrong),
                          f"{_fields_path(spec)} > {spec.name} > Edit: make it {want} "
                          "(setup does not change an existing field)")
    else:
        field_line = Line("field", item, Status.OK, want)
    return [field_line, access]


def _picklist_line(pick: PicklistValue, described: dict[str, Any] | None) -> Line:
    item = f"{pick.sobject}.{pick.field} = {pick.value}"
    values = [v.get("value") for f in (described or {}).get("fields", [])
              if f.get("name") == pick.field for v in f.get("picklistValues") or []
              if v.get("active", True)]
    if pick.value in values:
        return Line("picklist", item, Status.OK, "active value")
    label = {"Origin": "Case Origin"}.get(pick.field, pick.field)
    return Line("picklist", item, Status.MISSING, f"not a value of {pick.value_set}",
                f"{SETUP}, or Setup > Object Manager > {pick.sobject} > Fields & "
                f"Relationships > {label} > Values > New: {pick.value}")


def _limits_line(api: OrgApi) -> Line:
    daily = api.limits().get("DailyApiRequests") or {}
    remaining, most = int(daily.get("Remaining", 0)), int(daily.get("Max", 0))
    detail = f"{remaining} of {most} API requests left today"
    if most and remaining < most * LOW_API_SHARE:
        return Line("limits", "DailyApiRequests", Status.WARN, detail,
                    "Setup > Company Information > API Requests, Last 24 Hours: find the "
                    "heavy user, or buy more API capacity")
    return Line("limits", "DailyApiRequests", Status.OK, detail)


def auth_line(flow: str) -> Line:
    """The login flow in use; the legacy password flow is a warning."""
    if flow == "password":
        return Line("auth", flow, Status.WARN,
                    "legacy SOAP login() (disabled in new orgs, retired in Summer '27)",
                    "set TELECASE_SALESFORCE_AUTH=jwt or client_credentials (README, "
                    "Salesforce org setup)")
    return Line("auth", flow, Status.OK, "OAuth 2.0")


def check(api: OrgApi, *, flow: str, notification_type: str = NOTIFICATION_TYPE,
          user_id: str | None = None, notifications: bool = False) -> Checklist:
    """The checklist for the org ``api`` is logged in to, as that user; with ``user_id``
    (the integration user), whether it may send custom notifications (a problem when
    ``notifications`` are on, else a warning)."""
    result = Checklist([auth_line(flow)])
    described: dict[str, dict[str, Any] | None] = {}
    for use in OBJECTS:
        described[use.name] = answer = api.describe(use.name)
        if answer is not None:
            can = answer.get("createable") if use.writes else answer.get("queryable", True)
            status, detail = (Status.OK, "readable and writable" if use.writes
                              else "readable") if can else (Status.WRONG, "no access")
        else:
            status, detail = (Status.WARN if use.optional else Status.MISSING), "not available"
        fix = "" if status is Status.OK else (
            f"give the integration user {'Read, Create, Edit' if use.writes else 'Read'} on "
            f"{use.name} (its profile or a permission set's Object Settings)"
            + (f"; only needed for {use.purpose}" if use.optional else ""))
        result.lines.append(Line("object", use.name, status, detail, fix))
    try:
        rows = existing_fields(api)
    except OrgSetupError as exc:  # no "View Setup and Configuration": describe still tells
        rows = {}
        result.lines.append(Line("metadata", "CustomField", Status.WARN, str(exc),
                                 "a field the integration user cannot see shows as missing: "
                                 "run check with an admin's login to tell them apart"))
    for spec in CUSTOM_FIELDS:
        fields = {f["name"].lower(): f for f in (described.get(spec.sobject) or {}).get(
            "fields", [])}
        result.lines.extend(_field_lines(api, spec, fields.get(spec.name.lower()),
                                         rows.get(spec.qualified)))
    for pick in PICKLIST_VALUES:
        result.lines.append(_picklist_line(pick, described.get(pick.sobject)))
    result.lines.append(_notification_line(api, notification_type))
    if user_id is not None:
        result.lines.append(_send_permission_line(api, user_id, notifications))
    result.lines.append(_limits_line(api))
    return result


def may_send_notifications(api: OrgApi, user_id: str) -> bool:
    """Whether a permission set assigned to ``user_id`` (its profile's included: Salesforce
    lists it among the assignments) grants "Send Custom Notifications"."""
    sets = [str(r["PermissionSetId"]) for r in api.query(
        "SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = "
        f"{soql_quote(user_id)}")]
    return bool(sets) and bool(api.query(
        f"SELECT Id FROM PermissionSet WHERE {SEND_NOTIFICATIONS} = true AND Id IN "
        f"({','.join(soql_quote(s) for s in sets)})"))


def _send_permission_line(api: OrgApi, user_id: str, needed: bool) -> Line:
    item = "Send Custom Notifications"
    try:
        granted = may_send_notifications(api, user_id)
    except OrgSetupError as exc:
        return Line("permission", item, Status.WARN, f"cannot tell: {exc}",
                    "run check with an admin's login")
    if granted:
        return Line("permission", item, Status.OK, f"user {user_id}")
    return Line("permission", item, Status.WRONG if needed else Status.WARN,
                f"user {user_id} lacks it: Salesforce refuses its deadline notifications "
                "(customNotificationAction)",
                f"{SETUP} (grants it in {PERMISSION_SET}), or Setup > Permission Sets > "
                "System Permissions > Send Custom Notifications"
                + ("" if needed else " (needed only for TELECASE_SALESFORCE_NOTIFICATIONS)"))


def _notification_type_id(api: OrgApi, developer_name: str) -> str | None:
    rows = api.query("SELECT Id FROM CustomNotificationType WHERE DeveloperName = "
                     f"{soql_quote(developer_name)}")
    return str(rows[0]["Id"]) if rows else None


def _notification_line(api: OrgApi, developer_name: str) -> Line:
    """A warning when missing: deadline notifications are optional (off by default)."""
    try:
        found = _notification_type_id(api, developer_name)
    except OrgSetupError as exc:
        return Line("notification type", developer_name, Status.WARN, str(exc),
                    "needed only for TELECASE_SALESFORCE_NOTIFICATIONS")
    if found is not None:
        return Line("notification type", developer_name, Status.OK, found)
    return Line("notification type", developer_name, Status.WARN, "not found",
                f"{SETUP} (needed only for TELECASE_SALESFORCE_NOTIFICATIONS)")


# -- setup ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One change setup makes (or, with ``dry_run``, would make)."""

    action: str
    target: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"action": self.action, "target": self.target, "detail": self.detail}


@dataclass
class SetupResult:
    steps: list[Step] = field(default_factory=list)
    conflicts: list[Line] = field(default_factory=list)
    """Fields that exist with another type or flags: left for the admin (see the fix)."""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.steps) and not self.dry_run

    def as_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "steps": [s.as_json() for s in self.steps],
                "conflicts": [c.as_json() for c in self.conflicts]}


def setup(api: OrgApi, *, user_id: str, dry_run: bool = False,
          notification_type: str = NOTIFICATION_TYPE) -> SetupResult:
    """Create what :func:`check` would find missing; ``user_id`` gets the permission set."""
    result = SetupResult(dry_run=dry_run)
    _setup_fields(api, result)
    for pick in PICKLIST_VALUES:
        _setup_picklist(api, pick, result)
    permission_set = _setup_permission_set(api, result)
    _setup_send_permission(api, permission_set, result)
    _setup_field_permissions(api, permission_set, result)
    _setup_assignment(api, permission_set, user_id, result)
    _setup_notification_type(api, notification_type, result)
    return result


def _setup_notification_type(api: OrgApi, developer_name: str, result: SetupResult) -> None:
    if _notification_type_id(api, developer_name) is not None:
        return
    result.steps.append(Step("create notification type", developer_name,
                             "desktop and mobile"))
    if not result.dry_run:
        api.tooling_create("CustomNotificationType", {
            "DeveloperName": developer_name, "MasterLabel": "telecase SLA deadline",
            "CustomNotifTypeName": "telecase SLA deadline", "Desktop": True, "Mobile": True,
            "Description": "A Telegram ticket's SLA deadline is near, passed or escalated"})


def _setup_fields(api: OrgApi, result: SetupResult) -> None:
    existing = existing_fields(api)
    for spec in CUSTOM_FIELDS:
        if spec.qualified in existing:
            lines = _field_lines(api, spec, None, existing[spec.qualified])
            result.conflicts.extend(line for line in lines
                                    if line.kind == "field" and line.status is Status.WRONG)
            continue
        result.steps.append(Step("create field", spec.full_name,
                                 spec.summary()))
        if not result.dry_run:
            api.tooling_create("CustomField", {"FullName": spec.full_name,
                                               "Metadata": spec.metadata()})


def _setup_picklist(api: OrgApi, pick: PicklistValue, result: SetupResult) -> None:
    rows = api.tooling_query("SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel = "
                             f"{soql_quote(pick.value_set)}")
    if not rows:
        raise OrgSetupError(f"no StandardValueSet {pick.value_set} in this org")
    metadata = dict(rows[0].get("Metadata") or {})
    values = list(metadata.get("standardValue") or [])
    names = {str(v.get("valueName") or v.get("fullName")) for v in values}
    if pick.value in names:
        return
    result.steps.append(Step("add picklist value", f"{pick.sobject}.{pick.field}", pick.value))
    if not result.dry_run:
        values.append({"valueName": pick.value, "label": pick.value, "default": False})
        api.tooling_update("StandardValueSet", str(rows[0]["Id"]),
                           {"Metadata": {**metadata, "standardValue": values}})


def _setup_permission_set(api: OrgApi, result: SetupResult) -> str | None:
    found = api.query(f"SELECT Id FROM PermissionSet WHERE Name = {soql_quote(PERMISSION_SET)}")
    if found:
        return str(found[0]["Id"])
    result.steps.append(Step("create permission set", PERMISSION_SET))
    if result.dry_run:
        return None
    return api.create("PermissionSet", {
        "Name": PERMISSION_SET, "Label": PERMISSION_SET.replace("_", " "),
        "Description": "telecase's integration user: read and edit telecase's custom fields"})


def _setup_send_permission(api: OrgApi, permission_set: str | None,
                           result: SetupResult) -> None:
    """"Send Custom Notifications" in telecase's permission set (the deadline
    notifications' action needs it in orgs made from Winter '21)."""
    if permission_set is not None and api.query(
            f"SELECT Id FROM PermissionSet WHERE Id = {soql_quote(permission_set)} "
            f"AND {SEND_NOTIFICATIONS} = true"):
        return
    result.steps.append(Step("grant user permission", "Send Custom Notifications",
                             f"in {PERMISSION_SET}"))
    if not result.dry_run and permission_set is not None:
        api.update("PermissionSet", permission_set, {SEND_NOTIFICATIONS: True})


def _setup_field_permissions(api: OrgApi, permission_set: str | None,
                             result: SetupResult) -> None:
    rows: Sequence[dict[str, Any]] = [] if permission_set is None else api.query(
        "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
        f"WHERE ParentId = {soql_quote(permission_set)}")
    have = {str(r.get("Field")).lower(): r for r in rows}
    for spec in CUSTOM_FIELDS:
        row = have.get(spec.qualified.lower())
        if row is not None and row.get("PermissionsRead") and row.get("PermissionsEdit"):
            continue
        action = "grant read and edit" if row is None else "grant edit"
        result.steps.append(Step(action, spec.qualified, f"in {PERMISSION_SET}"))
        if result.dry_run or permission_set is None:
            continue
        if row is None:
            api.create("FieldPermissions", {
                "ParentId": permission_set, "SobjectType": spec.sobject,
                "Field": spec.qualified, "PermissionsRead": True, "PermissionsEdit": True})
        else:
            api.update("FieldPermissions", str(row["Id"]),
                       {"PermissionsRead": True, "PermissionsEdit": True})


def _setup_assignment(api: OrgApi, permission_set: str | None, user_id: str,
                      result: SetupResult) -> None:
    if permission_set is not None and api.query(
            "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = "
            f"{soql_quote(user_id)} AND PermissionSetId = {soql_quote(permission_set)}"):
        return
    result.steps.append(Step("assign permission set", PERMISSION_SET, f"to user {user_id}"))
    if not result.dry_run and permission_set is not None:
        api.create("PermissionSetAssignment", {"AssigneeId": user_id,
                                               "PermissionSetId": permission_set})
