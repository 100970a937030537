"""What telecase needs in a Salesforce org, declared once as data.

``telecase salesforce check`` compares an org against it and ``telecase salesforce setup``
creates what is missing (:mod:`connectors.salesforce.org_setup`); the README's field table is
:func:`readme_table` (a test keeps the two the same).

- :data:`OBJECTS`: every object telecase reads or writes, and what for.
- :data:`CUSTOM_FIELDS`: the custom fields telecase reads and writes (the connector's modules
  name them: ``case_writes``, ``people``, ``change_poller``, ``reconcile``, ``knowledge``).
  CaseComment and FeedItem take no custom fields in Salesforce, so none is declared on them
  (see :mod:`connectors.salesforce.comments`). A Task's custom fields are Activity fields in
  Setup and in the Metadata API (``Activity.X__c``); telecase writes them on Task.
  ``Telecase_Lead__c`` holds a Lead's Id as text: Salesforce offers no custom lookup to Lead.
- :data:`PICKLIST_VALUES`: values a restricted picklist must offer (Case Origin ``Telegram``).
- :data:`PERMISSION_SET`: the permission set that grants the integration user the fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PERMISSION_SET = "Telecase_Integration"
"""API name (and label) of the permission set ``setup`` creates and assigns."""

#: Metadata API field type -> the ``type`` describe answers for it.
DESCRIBE_TYPES = {"Text": "string", "Number": "double", "TextArea": "textarea",
                  "Checkbox": "boolean", "DateTime": "datetime"}


@dataclass(frozen=True)
class ObjectUse:
    """An object telecase reads or writes."""

    name: str
    writes: bool
    purpose: str
    optional: bool = False
    """Only some features use it (Knowledge, Quick Text): missing is a warning."""


@dataclass(frozen=True)
class CustomFieldSpec:
    """One custom field telecase needs, with the flags it must have."""

    sobject: str
    """The object telecase writes it on (Task for an Activity field)."""
    name: str
    type: str
    """Metadata API type: ``Text``, ``Number``, ``Checkbox`` or ``DateTime``."""
    length: int | None
    external_id: bool
    unique: bool
    purpose: str
    precision: int | None = None
    scale: int | None = None

    @property
    def metadata_object(self) -> str:
        """The object Setup and the Metadata API keep it on (Activity for Task and Event)."""
        return "Activity" if self.sobject in ("Task", "Event") else self.sobject

    @property
    def full_name(self) -> str:
        """``Object.Field__c`` as the Tooling API's CustomField ``FullName``."""
        return f"{self.metadata_object}.{self.name}"

    @property
    def qualified(self) -> str:
        """``Object.Field__c`` as telecase uses it (and as FieldPermissions names it)."""
        return f"{self.sobject}.{self.name}"

    @property
    def developer_name(self) -> str:
        return self.name.removesuffix("__c")

    @property
    def describe_type(self) -> str:
        return DESCRIBE_TYPES[self.type]

    @property
    def label(self) -> str:
        return self.developer_name.replace("_", " ")

    def type_text(self) -> str:
        """``Text(64)``, ``Number(16, 2)``: as Setup shows the data type."""
        if self.type == "Number":
            return f"Number({self.precision}, {self.scale})"
        if self.length is None:
            return self.type
        return f"{self.type}({self.length})"

    def flags_text(self) -> str:
        flags = [f for f, on in (("external id", self.external_id), ("unique", self.unique))
                 if on]
        return ", ".join(flags) or "-"

    def summary(self) -> str:
        """``Text(64), external id, unique``: the type and the flags it needs."""
        flags = self.flags_text()
        return self.type_text() + ("" if flags == "-" else f", {flags}")

    def metadata(self) -> dict[str, Any]:
        """The Tooling API CustomField ``Metadata`` (CustomFieldMetadata: type, length,
        externalId, unique, label, description; precision and scale for Number)."""
        meta: dict[str, Any] = {"type": self.type, "label": self.label,
                                "description": self.purpose, "externalId": self.external_id,
                                "unique": self.unique, "required": False}
        if self.type == "Number":
            meta.update(precision=self.precision, scale=self.scale)
        elif self.type == "Checkbox":
            meta["defaultValue"] = "false"  # the Metadata API requires it of a Checkbox
        elif self.length is not None:
            meta["length"] = self.length
        if self.unique and self.type == "Text":
            meta["caseSensitive"] = True
        return meta


@dataclass(frozen=True)
class PicklistValue:
    """A value telecase writes to a (restricted) standard picklist."""

    sobject: str
    field: str
    value_set: str
    """The StandardValueSet behind the field (Metadata API, "StandardValueSet Names and
    Standard Picklist Fields": CaseOrigin = Case.Origin)."""
    value: str
    purpose: str


OBJECTS: tuple[ObjectUse, ...] = (
    ObjectUse("Case", True, "one Case per Telegram ticket: subject, origin, status, owner"),
    ObjectUse("Contact", True, "the customer (customer_object Contact, the default)"),
    ObjectUse("Lead", True, "the customer as a Lead (customer_object Lead, the intake form)"),
    ObjectUse("Task", True, "one completed Task per customer message (message_object Task)"),
    ObjectUse("CaseComment", True, "agents' replies (read) and replies written in Telegram"),
    ObjectUse("FeedItem", True, "customer messages as Case feed posts (message_object FeedItem)"),
    ObjectUse("User", False, "the integration user and agents' names"),
    ObjectUse("QuickText", False, "canned responses for /t", optional=True),
    ObjectUse("Knowledge__kav", False, "knowledge articles for /kb", optional=True),
    ObjectUse("CaseArticle", True, "articles linked to a Case by /kb", optional=True),
    ObjectUse("Entitlement", False, "the SLA tiers' Entitlements (policy: entitlement)",
              optional=True),
    ObjectUse("MilestoneType", False, "the milestones telecase completes", optional=True),
    ObjectUse("CaseMilestone", False, "completed by telecase (an update of CompletionDate: "
              "CaseMilestone has no create)", optional=True),
)

_ID = "Text"
CUSTOM_FIELDS: tuple[CustomFieldSpec, ...] = (
    CustomFieldSpec("Case", "Telecase_Ticket_Id__c", _ID, 64, True, True,
                    "the telecase ticket of the Case: the upsert key, and how the change "
                    "poller and reconcile find telecase's Cases"),
    CustomFieldSpec("Case", "Telecase_Lead__c", _ID, 18, False, False,
                    "the Lead's Id when the customer is a Lead (Case has no Lead lookup, "
                    "and Salesforce offers no custom lookup to Lead)"),
    CustomFieldSpec("Contact", "Telegram_User_Id__c", _ID, 32, True, True,
                    "the customer's Telegram user id: matches and upserts the Contact"),
    CustomFieldSpec("Contact", "Telegram_Username__c", _ID, 64, False, False,
                    "the customer's Telegram @username: matches a Contact without an id"),
    CustomFieldSpec("Lead", "Telegram_User_Id__c", _ID, 32, True, True,
                    "the customer's Telegram user id: matches and upserts the Lead"),
    CustomFieldSpec("Lead", "Telegram_Username__c", _ID, 64, False, False,
                    "the customer's Telegram @username: matches a Lead without an id"),
    CustomFieldSpec("Lead", "Telecase_Product_Interest__c", _ID, 255, False, False,
                    "the intake form's product answer"),
    CustomFieldSpec("Lead", "Telecase_Region__c", _ID, 255, False, False,
                    "the intake form's region answer"),
    CustomFieldSpec("Lead", "Telecase_Deal_Size__c", "Number", None, False, False,
                    "the intake form's deal size answer", precision=16, scale=2),
    CustomFieldSpec("Task", "Telecase_Event_Id__c", _ID, 64, True, True,
                    "the telecase event of a customer message: the Task's upsert key, so a "
                    "message is written once (an Activity field in Setup)"),
)

_REPORT = "reportable (issue 17; connectors.salesforce.case_report): "
CUSTOM_FIELDS += (
    CustomFieldSpec("Case", "Telecase_First_Response_At__c", "DateTime", None, False, False,
                    _REPORT + "when the first agent reply was sent (in Telegram or from "
                    "Salesforce)"),
    CustomFieldSpec("Case", "Telecase_First_Response_Seconds__c", "Number", None, False,
                    False, _REPORT + "seconds from the ticket's opening to the first reply "
                    "(wall clock)", precision=18, scale=0),
    CustomFieldSpec("Case", "Telecase_Resolution_Seconds__c", "Number", None, False, False,
                    _REPORT + "seconds from the opening to the closing (empty while open)",
                    precision=18, scale=0),
    CustomFieldSpec("Case", "Telecase_SLA_Tier__c", _ID, 64, False, False,
                    _REPORT + "the SLA tier of the policy"),
    CustomFieldSpec("Case", "Telecase_SLA_State__c", _ID, 16, False, False,
                    _REPORT + "running, warned, breached or met"),
    CustomFieldSpec("Case", "Telecase_First_Response_Breached__c", "Checkbox", None, False,
                    False, _REPORT + "the first-response target was breached"),
    CustomFieldSpec("Case", "Telecase_Resolution_Breached__c", "Checkbox", None, False,
                    False, _REPORT + "the resolution target was breached"),
    CustomFieldSpec("Case", "Telecase_Escalation_Level__c", "Number", None, False, False,
                    _REPORT + "the highest escalation level reached (0 to 3)",
                    precision=2, scale=0),
    CustomFieldSpec("Case", "Telecase_Channel__c", _ID, 32, False, False,
                    _REPORT + "forum_topic, general_topic, private_chat or manual"),
    CustomFieldSpec("Case", "Telecase_Pilot_Group__c", _ID, 32, False, False,
                    _REPORT + "the Telegram group's chat id (the pilot's unit), empty for a "
                    "private chat"),
)

CUSTOM_FIELDS += (  # deals (issue 17 item 4; connectors.salesforce.opportunities)
    CustomFieldSpec("Opportunity", "Telecase_Ticket_Id__c", _ID, 64, True, True,
                    "the telecase ticket a deal came from: the Opportunity's upsert key, so "
                    "a ticket makes one Opportunity"),
)
OBJECTS += (
    ObjectUse("Opportunity", True, "deals: a qualified ticket's Opportunity "
              "(TELECASE_SALESFORCE_OPPORTUNITIES)", optional=True),
    ObjectUse("Account", False, "the Opportunity's Account (the Contact's, or the converted "
              "Lead's)", optional=True),
)

PICKLIST_VALUES: tuple[PicklistValue, ...] = (
    PicklistValue("Case", "Origin", "CaseOrigin", "Telegram",
                  "telecase's Cases carry Origin Telegram"),
)


def readme_table() -> str:
    """The README's field table (Markdown), one row per :data:`CUSTOM_FIELDS` entry, then the
    picklist values."""
    rows = ["| object | field | type | flags | what it is for |",
            "| --- | --- | --- | --- | --- |"]
    for spec in CUSTOM_FIELDS:
        where = spec.sobject if spec.sobject == spec.metadata_object else (
            f"{spec.sobject} (Activity)")
        rows.append(f"| {where} | `{spec.name}` | {spec.type_text()} | {spec.flags_text()} "
                    f"| {spec.purpose} |")
    for pick in PICKLIST_VALUES:
        rows.append(f"| {pick.sobject} | `{pick.field}` (standard) | picklist value "
                    f"`{pick.value}` | - | {pick.purpose} |")
    return "\n".join(rows)
