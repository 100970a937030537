"""The sObjects the simulator knows, as data: fields, types, references, external ids.

These objects are simulated: Case, Contact, Lead, Task, FeedItem, CaseComment, User and
Group; CaseHistory (read-only, written by Case writes: ``history``); QuickText (canned
responses); Lightning Knowledge's article versions (``Knowledge__kav``, the default
``Knowledge`` prefix), their master articles (``KnowledgeArticle``) and the Case-to-article
links (``CaseArticle``); and the records that grant field-level security (``PermissionSet``,
``FieldPermissions``, ``PermissionSetAssignment``); the entitlement objects (``entitlements``)
and the sales objects, Account, Opportunity and LeadStatus (declared in ``sales``).
Each has the standard fields telecase is likely to touch plus the audit fields every record
has (``Id``, ``IsDeleted``, ``CreatedDate``, ``CreatedById``, ``LastModifiedDate``,
``LastModifiedById``, ``SystemModstamp``). Field names are case-insensitive, as in the real
API; answers use the canonical spelling.

Picklists carry the values a new org has (Case ``Status`` New/Working/Escalated/Closed,
``Priority`` High/Medium/Low with Medium the default, ``Origin`` Phone/Email/Web); like a real
org's they are unrestricted (any value is stored) until restricted
(:meth:`SObjectType.restrict_picklist`), after which another value is refused with
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``.

Two schemas (``build_types(standard=)``). The ``telecase`` one (the default for now): custom
fields (``..__c``) exist on demand, any ``__c`` name is accepted on any object and is usable
as an external id (the first spelling seen becomes the canonical one); the ones telecase
relies on are declared up front as unique external ids: ``Telegram_User_Id__c`` (Contact,
Lead), ``Telecase_Ticket_Id__c`` (Case, Opportunity) and ``Telecase_Event_Id__c`` (Task, FeedItem,
CaseComment). The ``standard`` one: only Salesforce's standard fields; custom fields exist once
created through the Tooling API (``tooling``), never on the objects in
:data:`NOT_CUSTOMIZABLE`; Case ``Origin`` is restricted. Text fields carry their lengths from
the Field Reference (``describe`` shows them; the standard org enforces them).

A reference field names the objects it may point at; ``*`` means "any object" (a polymorphic
``WhatId`` or ``ParentId``). References to objects that are not simulated (Profile ``00e``...)
are accepted when well formed and resolve to ``null`` in relationship queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from simulators.salesforce import security

ANY = "*"

# Key prefixes of objects that exist in every org but are not simulated; references to them
# are accepted (well-formed ids), never resolved.
FOREIGN_PREFIXES = {"00e": "Profile", "00D": "Organization"}

OPPORTUNITY_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                      "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
                      "Negotiation/Review", "Closed Won", "Closed Lost")
"""A new org's opportunity stages (OpportunityStage), in order."""


@dataclass(frozen=True)
class Field:
    """One field of an sObject."""

    name: str
    type: str  # id string textarea picklist email phone url boolean datetime date
    # reference int double autonumber any
    createable: bool = True
    updateable: bool = True
    required: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    external_id: bool = False
    unique: bool = False
    picklist_values: tuple[str, ...] = ()
    """The active values of a picklist (the org's defaults for standard ones)."""
    restricted: bool = False
    """A restricted picklist refuses values outside :attr:`picklist_values`; picklists are
    unrestricted unless an admin restricts them (the metadata default), as here."""
    filterable: bool = True
    """``False``: a SOQL ``WHERE`` may not name it (QuickText ``Name`` and ``Message`` from API
    v25.0 on, as the object reference says)."""
    length: int = 0
    """Maximum characters of a text field (0: not checked). A longer value is refused with
    ``STRING_TOO_LONG`` by an org with the standard schema (see ``values``)."""
    label: str | None = None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        """The field as ``describe`` shows it (a subset of the real attributes)."""
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "length": self.length,
            "type": "string" if self.type == "any" else self.type, "custom": self.custom,
            "nillable": not self.required and self.type != "boolean",
            "createable": self.createable, "updateable": self.updateable,
            "defaultedOnCreate": self.default is not None or not self.createable,
            "externalId": self.external_id, "unique": self.unique, "idLookup":
            self.external_id or self.name == "Id", "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship, "filterable": self.filterable,
            "sortable": self.filterable,
            "picklistValues": [{"active": True, "defaultValue": value == self.default,
                                "label": value, "validFor": None, "value": value}
                               for value in self.picklist_values],
            "restrictedPicklist": self.restricted,
        }


@dataclass
class SObjectType:
    """One simulated object: its fields (canonical names) and key prefix."""

    name: str
    key_prefix: str
    fields: dict[str, Field]
    name_field: str = "Name"
    deletable: bool = True
    on_demand_custom: bool = True
    """Any ``__c`` name is declared on first use (the telecase schema); ``False`` in an org
    with Salesforce's standard schema, where only fields an admin created exist."""
    customizable: bool = True
    """Whether custom fields can be created on this object (not on CaseComment, FeedItem...)."""
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lower = {name.lower(): name for name in self.fields}

    def field(self, name: str) -> Field | None:
        """The field called ``name`` (any case), declaring a custom field on first use."""
        canonical = self._lower.get(name.lower())
        if canonical is not None:
            return None if security.hidden(self.name, canonical) else self.fields[canonical]
        if not self.on_demand_custom or not name.lower().endswith("__c") or len(name) <= 3:
            return None
        custom = Field(name, "any", external_id=True)
        self.fields[name] = custom
        self._lower[name.lower()] = name
        return custom

    def add_field(self, one: Field) -> None:
        """Declare a field (a custom field an admin created)."""
        self.fields[one.name] = one
        self._lower[one.name.lower()] = one.name

    def visible_fields(self) -> list[Field]:
        """The fields the calling user may see (field-level security, see ``security``)."""
        return [f for f in self.fields.values() if not security.hidden(self.name, f.name)]

    def restrict_picklist(self, name: str, values: tuple[str, ...] | None = None) -> Field:
        """Make the picklist ``name`` restricted (to ``values``, else its current values)."""
        found = self.field(name)
        if found is None or found.type != "picklist":
            raise ValueError(f"{self.name} has no picklist {name}")
        allowed = tuple(values) if values is not None else found.picklist_values
        if not allowed:
            raise ValueError(f"{self.name}.{found.name} has no values to restrict it to")
        restricted = replace(found, picklist_values=allowed, restricted=True)
        self.fields[found.name] = restricted
        return restricted

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationship is called ``name`` (any case)."""
        for candidate in self.fields.values():
            if candidate.relationship and candidate.relationship.lower() == name.lower():
                return candidate
        return None

    def describe(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        fields = [f.describe() for f in self.visible_fields()]
        for one in fields:  # describe answers for the calling user: a read-only field (FLS)
            if security.read_only(self.name, one["name"]):  # is neither createable nor
                one.update(createable=False, updateable=False)  # updateable for them
        return {**self.basic(version), "fields": fields,
                "childRelationships": [], "recordTypeInfos": [],
                "urls": {"sobject": base, "describe": f"{base}/describe",
                         "rowTemplate": f"{base}/{{ID}}"}}

    def basic(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {"name": self.name, "label": self.name, "labelPlural": f"{self.name}s",
                "keyPrefix": self.key_prefix, "custom": False, "createable": True,
                "updateable": True, "deletable": self.deletable, "queryable": True,
                "retrieveable": True, "searchable": True, "layoutable": True,
                "urls": {"sobject": base, "describe": f"{base}/describe",
                         "rowTemplate": f"{base}/{{ID}}"}}


def _audit() -> list[Field]:
    user = ("User",)
    return [
        Field("Id", "id", createable=False, updateable=False),
        Field("IsDeleted", "boolean", createable=False, updateable=False, default=False),
        Field("CreatedDate", "datetime", createable=False, updateable=False),
        Field("CreatedById", "reference", createable=False, updateable=False,
              reference_to=user, relationship="CreatedBy"),
        Field("LastModifiedDate", "datetime", createable=False, updateable=False),
        Field("LastModifiedById", "reference", createable=False, updateable=False,
              reference_to=user, relationship="LastModifiedBy"),
        Field("SystemModstamp", "datetime", createable=False, updateable=False),
    ]


def _text(*names: str) -> list[Field]:
    return [Field(name, "string") for name in names]


def _ext(name: str) -> Field:
    return Field(name, "string", external_id=True, unique=True)


def _owner(*targets: str) -> Field:
    return Field("OwnerId", "reference", reference_to=targets or ("User", "Group"),
                 relationship="Owner")


def _ref(name: str, targets: tuple[str, ...], relationship: str, **kw: Any) -> Field:
    return Field(name, "reference", reference_to=targets, relationship=relationship, **kw)


def _derived(*names: str) -> list[Field]:
    return [Field(name, "string", createable=False, updateable=False) for name in names]


def _sized(name: str, length: int, kind: str = "string", **kw: Any) -> Field:
    return Field(name, kind, length=length, **kw)


def _person(extra: list[Field]) -> list[Field]:
    # Lengths: Object Reference / Field Reference, Contact and Lead
    # (https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-contact.html)
    return [_sized("FirstName", 40), _sized("Salutation", 40), _sized("Title", 128),
            _sized("LastName", 80, required=True), *_derived("Name"),
            _sized("Email", 80, "email"), _sized("Phone", 40, "phone"),
            _sized("MobilePhone", 40, "phone"), _sized("Description", 32000, "textarea"),
            Field("LeadSource", "picklist"), *extra]


# Objects that take no custom fields. CaseComment and FeedItem: Setup's Object Manager offers
# no "Fields & Relationships" for them and the Object Reference lists only standard fields
# (https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-casecomment.html);
# the rest are setup/system objects.
NOT_CUSTOMIZABLE = frozenset({"CaseComment", "FeedItem", "CaseArticle", "CaseHistory",
                              "KnowledgeArticle", "ContentDocument", "ContentDocumentLink",
                              "Group", "FieldPermissions", "PermissionSet",
                              "PermissionSetAssignment"})


def build_types(*, standard: bool = False) -> dict[str, SObjectType]:
    """Fresh definitions (each org owns its own, because custom fields are added at runtime).
    ``standard``: only Salesforce's standard schema (no telecase field, no on-demand ``__c``,
    Case Origin restricted)."""
    specs: dict[str, tuple[str, list[Field], str]] = {
        "Case": ("500", [
            Field("CaseNumber", "autonumber", createable=False, updateable=False),
            # Field Reference, Case: Subject 255, SuppliedName/SuppliedEmail 80,
            # SuppliedPhone 40, Description 32000
            # (https://developer.salesforce.com/docs/atlas.en-us.sfFieldRef.meta/sfFieldRef/salesforce_field_reference_Case.htm)
            _sized("Subject", 255), _sized("SuppliedName", 80), _sized("SuppliedEmail", 80),
            _sized("SuppliedPhone", 40), _sized("Description", 32000, "textarea"),
            Field("Status", "picklist", default="New",
                  picklist_values=("New", "Working", "Escalated", "Closed")),
            Field("Priority", "picklist", default="Medium",
                  picklist_values=("High", "Medium", "Low")),
            Field("Origin", "picklist", picklist_values=("Phone", "Email", "Web")),
            Field("Type", "picklist"), Field("Reason", "picklist"),
            Field("IsClosed", "boolean", createable=False, updateable=False, default=False),
            Field("ClosedDate", "datetime", createable=False, updateable=False),
            Field("IsEscalated", "boolean", default=False),
            _ref("ContactId", ("Contact",), "Contact"), _ref("AccountId", ("Account",),
                                                             "Account"),
            _ref("ParentId", ("Case",), "Parent"), _owner(),
            _ext("Telecase_Ticket_Id__c")], "CaseNumber"),
        # Object Reference, CaseHistory (see ``history``): CaseId, Field, OldValue, NewValue
        # (anyType, 255 characters), DataType; key prefix 017 (field history)
        "CaseHistory": ("017", [
            _ref("CaseId", ("Case",), "Case", required=True, updateable=False),
            Field("Field", "picklist", required=True, updateable=False),
            Field("DataType", "picklist", updateable=False),
            Field("OldValue", "any", updateable=False), Field("NewValue", "any",
                                                              updateable=False)], "Id"),
        "Contact": ("003", _person([_ref("AccountId", ("Account",), "Account"),
                                    _owner("User"), _ext("Telegram_User_Id__c")]), "Name"),
        "Lead": ("00Q", _person([
            _sized("Company", 255, required=True),
            Field("Status", "picklist", default="Open - Not Contacted"),
            Field("Rating", "picklist"), Field("Industry", "picklist"),
            Field("IsConverted", "boolean", createable=False, updateable=False, default=False),
            _owner(), _ext("Telegram_User_Id__c")]), "Name"),
        "Task": ("00T", [
            _sized("Subject", 255), _sized("Description", 32000, "textarea"),
            Field("Status", "picklist", default="Not Started"),
            Field("Priority", "picklist", default="Normal"),
            Field("Type", "picklist"), Field("TaskSubtype", "picklist", default="Task"),
            Field("ActivityDate", "date"),
            Field("IsClosed", "boolean", createable=False, updateable=False, default=False),
            _ref("WhoId", ("Contact", "Lead"), "Who"), _ref("WhatId", (ANY,), "What"),
            _owner("User"), _ext("Telecase_Event_Id__c")], "Subject"),
        "FeedItem": ("0D5", [
            _ref("ParentId", (ANY,), "Parent", required=True, updateable=False),
            _sized("Body", 10000, "textarea"), _sized("Title", 255), _sized("LinkUrl", 1000),
            Field("Type", "picklist", default="TextPost"),
            Field("IsRichText", "boolean", default=False),
            Field("Visibility", "picklist", default="AllUsers"),
            _ext("Telecase_Event_Id__c")], "Title"),
        "CaseComment": ("00a", [
            _ref("ParentId", ("Case",), "Parent", required=True, updateable=False),
            # CaseComment: "The maximum size of the comment body is 4,000 bytes" (Object
            # Reference, CaseComment; Field Reference: CommentBody textarea 4000)
            # (https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-casecomment.html)
            _sized("CommentBody", 4000, "textarea"),
            Field("IsPublished", "boolean", default=False),
            _ext("Telecase_Event_Id__c")], "CommentBody"),
        # Salesforce Files (``content``): Object Reference, ContentVersion, ContentDocument,
        # ContentDocumentLink; Title 255, PathOnClient 500, ContentUrl 1333, Description 1000
        "ContentVersion": ("068", [
            _sized("Title", 255), _sized("PathOnClient", 500),
            Field("VersionData", "base64", filterable=False),
            _sized("ContentUrl", 1333, "url"), _sized("Description", 1000, "textarea"),
            _ref("FirstPublishLocationId", (ANY,), "FirstPublishLocation", updateable=False),
            _ref("ContentDocumentId", ("ContentDocument",), "ContentDocument",
                 updateable=False),
            Field("ContentLocation", "picklist", default="S", picklist_values=("S", "E", "L")),
            Field("Origin", "picklist", default="C", picklist_values=("C", "H")),
            Field("ContentSize", "int", createable=False, updateable=False),
            *_derived("FileExtension", "FileType", "VersionNumber"),
            Field("IsLatest", "boolean", createable=False, updateable=False, default=True),
            _owner("User")], "Title"),
        "ContentDocument": ("069", [
            _sized("Title", 255), _sized("Description", 1000, "textarea"),
            *_derived("FileExtension", "FileType"),
            Field("ContentSize", "int", createable=False, updateable=False),
            _ref("LatestPublishedVersionId", ("ContentVersion",), "LatestPublishedVersion",
                 createable=False, updateable=False), _owner("User")], "Title"),
        "ContentDocumentLink": ("06A", [
            _ref("ContentDocumentId", ("ContentDocument",), "ContentDocument", required=True,
                 updateable=False),
            _ref("LinkedEntityId", (ANY,), "LinkedEntity", required=True, updateable=False),
            Field("ShareType", "picklist", default="V", picklist_values=("V", "C", "I")),
            Field("Visibility", "picklist", default="AllUsers",
                  picklist_values=("AllUsers", "InternalUsers", "SharedUsers"))], "Id"),
        "User": ("005", [
            Field("Username", "string", required=True, unique=True),
            Field("Email", "email", required=True), *_text("Alias", "Department"),
            Field("IsActive", "boolean", default=True),
            Field("UserType", "picklist", default="Standard"),
            *[f for f in _person([]) if f.name not in {"Description", "LeadSource"}]],
            "Name"),
        "Group": ("00G", [
            Field("Name", "string", required=True), Field("DeveloperName", "string"),
            Field("Type", "picklist", default="Regular"), Field("Email", "email"),
            Field("DoesSendEmailToMembers", "boolean", default=False)], "Name"),
        "QuickText": ("574", [
            Field("Name", "string", required=True, filterable=False),
            Field("Message", "textarea", required=True, filterable=False),
            Field("Category", "picklist"), Field("Channel", "picklist"),
            Field("IsInsertable", "boolean", default=True), _owner()], "Name"),
        "KnowledgeArticle": ("kA0", [
            Field("ArticleNumber", "string", createable=False, updateable=False)],
            "ArticleNumber"),
        "Knowledge__kav": ("ka0", [
            Field("Title", "string", required=True), Field("Summary", "textarea"),
            Field("UrlName", "string", required=True),
            Field("PublishStatus", "picklist", default="Draft",
                  picklist_values=("Draft", "Online", "Archived")),
            Field("Language", "picklist", default="en_US", picklist_values=("en_US",)),
            _ref("KnowledgeArticleId", ("KnowledgeArticle",), "KnowledgeArticle",
                 createable=False, updateable=False),
            Field("ArticleNumber", "string", createable=False, updateable=False),
            Field("VersionNumber", "int", createable=False, updateable=False),
            Field("IsLatestVersion", "boolean", createable=False, updateable=False,
                  default=True),
            Field("IsVisibleInPkb", "boolean", default=True), _owner()], "Title"),
        "CaseArticle": ("0ZT", [
            _ref("CaseId", ("Case",), "Case", required=True, updateable=False),
            _ref("KnowledgeArticleId", ("KnowledgeArticle",), "KnowledgeArticle",
                 required=True, updateable=False),
            _ref("KnowledgeArticleVersionId", ("Knowledge__kav",), "KnowledgeArticleVersion",
                 updateable=False),
            Field("ArticleVersionNumber", "int", updateable=False),
            Field("ArticleLanguage", "picklist", createable=False, updateable=False),
            Field("IsSharedByEmail", "boolean", default=False, updateable=False)], "Id"),
    }
    specs.update(_permission_objects())
    specs.update(_entitlement_objects())
    specs.update(_notification_objects())
    specs.update(_sales_objects())
    specs["Lead"][1].extend(_lead_conversion_fields())
    # Object Reference, Case: EntitlementId, "ID of the entitlement"
    specs["Case"][1].append(_ref("EntitlementId", ("Entitlement",), "Entitlement"))
    types: dict[str, SObjectType] = {}
    for name, (prefix, own, name_field) in specs.items():
        fields: dict[str, Field] = {}
        for one in [*_audit(), *own]:
            if standard and one.custom:
                continue  # nothing of telecase's is pre-created in a standard org
            fields.setdefault(one.name, one)
        types[name] = SObjectType(name, prefix, fields, name_field,
                                  deletable=name not in {"User", "CaseHistory"},
                                  on_demand_custom=not standard,
                                  customizable=name not in NOT_CUSTOMIZABLE)
    if standard:
        # Case Origin refuses values outside its value set: the admin adds "Telegram"
        # (StandardValueSet CaseOrigin, see ``tooling``) before telecase may write it.
        types["Case"].restrict_picklist("Origin")
    return types


def _sales_objects() -> dict[str, tuple[str, list[Field], str]]:
    """Account, Opportunity and LeadStatus (``simulators.salesforce.sales`` describes them)."""
    def ref(name: str, target: str, relationship: str, **kw: Any) -> Field:
        return Field(name, "reference", reference_to=(target,), relationship=relationship,
                     **kw)

    owner = Field("OwnerId", "reference", reference_to=("User",), relationship="Owner")
    return {
        "Account": ("001", [
            Field("Name", "string", required=True, length=255),
            Field("Type", "picklist"), Field("Industry", "picklist"),
            Field("Phone", "phone", length=40), Field("Description", "textarea", length=32000),
            owner], "Name"),
        "Opportunity": ("006", [
            Field("Name", "string", required=True, length=120),
            Field("StageName", "picklist", required=True, picklist_values=OPPORTUNITY_STAGES,
                  restricted=True),
            Field("CloseDate", "date", required=True),
            ref("AccountId", "Account", "Account"),
            ref("ContactId", "Contact", "Contact", updateable=False),
            Field("Amount", "double"), Field("Probability", "double"),
            Field("Description", "textarea", length=32000), Field("LeadSource", "picklist"),
            Field("Type", "picklist"), Field("NextStep", "string", length=255),
            Field("IsClosed", "boolean", createable=False, updateable=False, default=False),
            Field("IsWon", "boolean", createable=False, updateable=False, default=False),
            owner, Field("Telecase_Ticket_Id__c", "string", external_id=True, unique=True)],
            "Name"),
        "LeadStatus": ("01J", [
            Field("MasterLabel", "string", required=True), Field("ApiName", "string"),
            Field("IsConverted", "boolean", default=False),
            Field("IsDefault", "boolean", default=False), Field("SortOrder", "int")],
            "MasterLabel"),
    }


def _lead_conversion_fields() -> list[Field]:
    """The Lead's conversion fields (read-only: only ``convertLead()`` sets them)."""
    def fixed(name: str, kind: str, target: str = "") -> Field:
        return Field(name, kind, createable=False, updateable=False,
                     reference_to=(target,) if target else (),
                     relationship=name.removesuffix("Id") if target else None)

    return [fixed("ConvertedAccountId", "reference", "Account"),
            fixed("ConvertedContactId", "reference", "Contact"),
            fixed("ConvertedOpportunityId", "reference", "Opportunity"),
            fixed("ConvertedDate", "date")]


def _permission_objects() -> dict[str, tuple[str, list[Field], str]]:
    """PermissionSet, FieldPermissions and PermissionSetAssignment: the records that grant
    field-level security (Object Reference, FieldPermissions: "To grant a user access to a
    field, associate a FieldPermissions record with a PermissionSet that's assigned to a
    user", https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-fieldpermissions.html;
    PermissionSetAssignment: AssigneeId + PermissionSetId)."""
    parent = ("PermissionSet",)
    return {
        "PermissionSet": ("0PS", [
            _sized("Name", 80, required=True, unique=True), _sized("Label", 80, required=True),
            _sized("Description", 255, "textarea"),
            Field("IsOwnedByProfile", "boolean", createable=False, updateable=False,
                  default=False),
            # a user permission (PermissionSet's Permissions<Name> fields): the one the
            # custom notification action needs (simulators.salesforce.notifications)
            Field("PermissionsSendCustomNotifications", "boolean", default=False)], "Name"),
        "FieldPermissions": ("01k", [
            _ref("ParentId", parent, "Parent", required=True, updateable=False),
            _sized("SobjectType", 40, required=True, updateable=False),
            _sized("Field", 40 + 1 + 40, required=True, updateable=False),
            Field("PermissionsRead", "boolean", default=False),
            Field("PermissionsEdit", "boolean", default=False)], "Field"),
        "PermissionSetAssignment": ("0Pa", [
            _ref("AssigneeId", ("User",), "Assignee", required=True, updateable=False),
            _ref("PermissionSetId", parent, "PermissionSet", required=True,
                 updateable=False)], "Id"),
    }


def _notification_objects() -> dict[str, tuple[str, list[Field], str]]:
    """CustomNotificationType (Object Reference / Tooling API, "CustomNotificationType", API
    47.0+ / 46.0+: ``CustomNotifTypeName`` unique, 80; ``DeveloperName``; ``MasterLabel``;
    ``Description`` 255; ``Desktop``/``Mobile`` defaulted false): what the custom notification
    action sends (``notifications``)."""
    return {"CustomNotificationType": ("0ML", [
        Field("CustomNotifTypeName", "string", required=True, unique=True, length=80),
        Field("DeveloperName", "string", required=True, unique=True, length=80),
        Field("MasterLabel", "string", required=True, length=80),
        Field("Description", "textarea", length=255),
        Field("Desktop", "boolean", default=False), Field("Mobile", "boolean", default=False),
        Field("Language", "picklist", default="en_US"),
        Field("NamespacePrefix", "string", createable=False, updateable=False)],
        "CustomNotifTypeName")}


def _entitlement_objects() -> dict[str, tuple[str, list[Field], str]]:
    """Entitlement, SlaProcess, MilestoneType and CaseMilestone (what the org does with them:
    ``entitlements``)."""

    def ref(name: str, target: str, relationship: str, **kw: Any) -> Field:
        return Field(name, "reference", reference_to=(target,), relationship=relationship,
                     **kw)

    def fixed(name: str, kind: str, **kw: Any) -> Field:
        """Set by the entitlement process (clients may not create a CaseMilestone)."""
        return Field(name, kind, updateable=False, **kw)

    return {
        "SlaProcess": ("552", [
            Field("Name", "string", required=True, length=80),
            Field("Description", "textarea"), Field("IsActive", "boolean", default=True),
            Field("SobjectType", "picklist", default="Case")], "Name"),
        "MilestoneType": ("557", [
            Field("Name", "string", required=True, length=80),
            Field("Description", "textarea"),
            Field("RecurrenceType", "picklist", default="none")], "Name"),
        "Entitlement": ("550", [
            Field("Name", "string", required=True, length=255),
            ref("AccountId", "Account", "Account"),
            ref("SlaProcessId", "SlaProcess", "SlaProcess"),
            Field("StartDate", "date"), Field("EndDate", "date"),
            Field("Status", "picklist", createable=False, updateable=False,
                  default="Active")], "Name"),
        "CaseMilestone": ("5oT", [
            ref("CaseId", "Case", "Case", updateable=False),
            ref("MilestoneTypeId", "MilestoneType", "MilestoneType", updateable=False),
            Field("StartDate", "datetime"), fixed("TargetDate", "datetime"),
            Field("CompletionDate", "datetime"),
            fixed("IsCompleted", "boolean", default=False),
            fixed("IsViolated", "boolean", default=False),
            fixed("TargetResponseInMins", "int"), fixed("ElapsedTimeInMins", "int")], "Id"),
    }


def type_for_prefix(types: dict[str, SObjectType], prefix: str) -> str | None:
    """The simulated or foreign object whose ids start with ``prefix``."""
    for sobject in types.values():
        if sobject.key_prefix == prefix:
            return sobject.name
    return FOREIGN_PREFIXES.get(prefix)


def find_type(types: dict[str, SObjectType], name: str) -> SObjectType | None:
    """The simulated object called ``name`` (any case)."""
    for sobject in types.values():
        if sobject.name.lower() == name.lower():
            return sobject
    return None
