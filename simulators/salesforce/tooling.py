"""The Tooling API subset an admin's setup uses: custom fields and standard picklist values.

=======  ==============================================  ====================================
method   path under /services/data/vXX.X/                answer
=======  ==============================================  ====================================
POST     tooling/sobjects/CustomField                    201 {id, success, errors}: the field
                                                         exists on the object from now on
GET      tooling/sobjects/CustomField/{id}               the CustomField (with Metadata)
GET      tooling/sobjects/StandardValueSet/{id}          the value set (with Metadata)
PATCH    tooling/sobjects/StandardValueSet/{id}          204: the picklist's values replaced
GET      tooling/query?q=                                SOQL over CustomField and
                                                         StandardValueSet
=======  ==============================================  ====================================

CustomField (Tooling API Developer Guide, CustomField: "Supported REST HTTP Methods: Query,
GET, POST, PATCH"; fields ``DeveloperName``, ``FullName``, ``Metadata`` with ``type``,
``length``, ``externalId``, ``unique``, ``label``, ``required``...;
https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_customfield.htm):
the body is ``{"FullName": "Case.Telecase_Ticket_Id__c", "Metadata": {"type": "Text",
"length": 64, "externalId": true, "unique": true, "label": "..."}}``. The object must exist
and take custom fields (not CaseComment, not FeedItem: ``schema.NOT_CUSTOMIZABLE``; a Task's
are created as ``Activity.X__c``, as Setup's Activity object holds them); a field
that already exists answers ``DUPLICATE_VALUE``. Types: Text (length 1-255), TextArea,
LongTextArea (length), Number, Checkbox, Date, DateTime, Email, Phone, Url, Picklist.
A new field is visible to nobody until a permission set grants it (``security``).

StandardValueSet (Tooling API Developer Guide, StandardValueSet, API 39.0+: "Query, GET, POST,
PATCH"; https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/tooling_api_objects_standardvalueset.htm;
names from Metadata API Developer Guide, "StandardValueSet Names and Standard Picklist
Fields": CaseOrigin = Case.Origin, ...): the simplest real path to add "Telegram" to Case
Origin is to query ``SELECT Id, Metadata FROM StandardValueSet WHERE MasterLabel =
'CaseOrigin'`` and PATCH the record with the whole ``Metadata`` (``standardValue`` items
``{"valueName" (or "fullName"), "label", "default"}``; Metadata API: "When you deploy a
StandardValueSet, this array must contain at least one picklist value").

Metadata and FullName may only be queried when the result has at most one row, as the
Tooling API says ("Query this field only if the query result contains no more than one
record"); the error text is a best guess.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from simulators.salesforce import soql_eval, soql_parse
from simulators.salesforce.errors import ApiError, malformed_query
from simulators.salesforce.routing import ApiRequest, ApiResponse, resource
from simulators.salesforce.schema import Field, SObjectType, find_type
from simulators.salesforce.store import Record, Store
from simulators.salesforce.timefmt import SimClock

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

# Metadata type -> (simulated field type, whether a length is required, max length)
FIELD_TYPES: dict[str, tuple[str, bool, int]] = {
    "Text": ("string", True, 255), "TextArea": ("textarea", False, 255),
    "LongTextArea": ("textarea", True, 131072), "Number": ("double", False, 0),
    "Checkbox": ("boolean", False, 0), "Date": ("date", False, 0),
    "DateTime": ("datetime", False, 0), "Email": ("email", False, 80),
    "Phone": ("phone", False, 40), "Url": ("url", False, 255),
    "Picklist": ("picklist", False, 255)}

# StandardValueSet name -> the picklist fields it feeds (Metadata API, StandardValueSet names)
VALUE_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "CaseOrigin": (("Case", "Origin"),), "CaseStatus": (("Case", "Status"),),
    "CasePriority": (("Case", "Priority"),), "CaseType": (("Case", "Type"),),
    "CaseReason": (("Case", "Reason"),), "LeadStatus": (("Lead", "Status"),),
    "LeadSource": (("Lead", "LeadSource"), ("Contact", "LeadSource")),
    "TaskStatus": (("Task", "Status"),), "TaskPriority": (("Task", "Priority"),)}


def _tooling_types() -> dict[str, SObjectType]:
    common = [Field("Id", "id", createable=False, updateable=False),
              Field("IsDeleted", "boolean", createable=False, updateable=False, default=False),
              Field("FullName", "any"), Field("Metadata", "any")]
    custom = SObjectType("CustomField", "00N", {f.name: f for f in [
        *common, Field("DeveloperName", "string"), Field("TableEnumOrId", "string"),
        Field("NamespacePrefix", "string")]}, "DeveloperName", on_demand_custom=False)
    value_set = SObjectType("StandardValueSet", "0Ab", {f.name: f for f in [
        *common, Field("MasterLabel", "string")]}, "MasterLabel", on_demand_custom=False)
    return {"CustomField": custom, "StandardValueSet": value_set}


class Tooling:
    """The org's setup metadata as Tooling API records (a store of its own)."""

    def __init__(self, data: Store, clock: SimClock) -> None:
        self.data = data
        self.store = Store(clock, types=_tooling_types())
        for name, targets in VALUE_SETS.items():
            kind = data.types.get(targets[0][0])
            found = kind.fields.get(targets[0][1]) if kind else None
            if found is not None:
                record = self.store.create("StandardValueSet", {"MasterLabel": name},
                                           "005000000000000AAA", gated=False)
                record.fields.update(FullName=name, Metadata=_value_set_metadata(found))

    def create_field(self, body: dict[str, Any]) -> Record:
        full_name = str(body.get("FullName") or "")
        metadata = body.get("Metadata")
        object_name, _, field_name = full_name.partition(".")
        if not isinstance(metadata, dict) or not field_name:
            raise ApiError(400, "REQUIRED_FIELD_MISSING",
                           "Required fields are missing: [FullName, Metadata]", [])
        if object_name.lower() in {"task", "event"}:
            # Custom fields of tasks and events are Activity custom fields (Setup: Object
            # Manager > Activity; Metadata API fullName "Activity.X__c"), shared by both.
            raise ApiError(400, "INVALID_INPUT",  # text: best guess
                           f"Custom fields of {object_name} are created on Activity: "
                           f"Activity.{field_name}", [])
        if object_name.lower() == "activity":
            object_name = "Task"  # the only activity object simulated
        kind = find_type(self.data.types, object_name)
        if kind is None:
            raise ApiError(400, "INVALID_INPUT", f"Cannot find entity {object_name}", [])
        if not kind.customizable:
            raise ApiError(400, "INVALID_INPUT",  # best guess: the text is not documented
                           f"Custom fields are not supported on {kind.name}", [])
        if not field_name.endswith("__c") or len(field_name) <= 3:
            raise ApiError(400, "INVALID_INPUT",
                           f"The API name of a custom field must end with __c: {field_name}",
                           [])
        if field_name.lower() in {n.lower() for n in kind.fields}:
            raise ApiError(400, "DUPLICATE_VALUE", "duplicate value found: <unknown> "
                           "duplicates value on record with id: <unknown>", [])
        kind.add_field(_field(field_name, metadata))
        record = self.store.create("CustomField", {
            "DeveloperName": field_name.removesuffix("__c"), "TableEnumOrId": kind.name},
            "005000000000000AAA", gated=False)
        record.fields.update(FullName=f"{kind.name}.{field_name}", Metadata=dict(metadata))
        return record

    def update_value_set(self, record_id: str, body: dict[str, Any]) -> None:
        record = self.store.get("StandardValueSet", record_id)
        metadata = body.get("Metadata")
        values = metadata.get("standardValue") if isinstance(metadata, dict) else None
        if not isinstance(values, list) or not values:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",  # text: best guess
                           "A standard value set must contain at least one picklist value",
                           [])
        names = [str(v.get("valueName") or v.get("fullName") or "") for v in values
                 if isinstance(v, dict)]
        default = next((str(v.get("valueName") or v.get("fullName")) for v in values
                        if isinstance(v, dict) and v.get("default")), None)
        for object_name, field_name in VALUE_SETS[str(record.fields["MasterLabel"])]:
            kind = self.data.types[object_name]
            kind.add_field(replace(kind.fields[field_name], picklist_values=tuple(names),
                                   default=default or kind.fields[field_name].default))
        record.fields["Metadata"] = dict(metadata or {})


def _field(name: str, metadata: dict[str, Any]) -> Field:
    kind_name = str(metadata.get("type") or "")
    if kind_name not in FIELD_TYPES:
        raise ApiError(400, "INVALID_INPUT", f"Invalid field type: {kind_name}", [])
    simulated, needs_length, longest = FIELD_TYPES[kind_name]
    length = metadata.get("length")
    if needs_length and (not isinstance(length, int) or not 0 < length <= longest):
        raise ApiError(400, "INVALID_INPUT",  # best guess
                       f"Length: the length of a {kind_name} field must be 1 to {longest}", [])
    values: tuple[str, ...] = ()
    if kind_name == "Picklist":
        value_set = (metadata.get("valueSet") or {}).get("valueSetDefinition") or {}
        values = tuple(str(v.get("fullName") or v.get("label")) for v in
                       value_set.get("value") or [] if isinstance(v, dict))
    return Field(name, simulated, length=length if isinstance(length, int) else longest,
                 required=bool(metadata.get("required")),
                 external_id=bool(metadata.get("externalId")),
                 unique=bool(metadata.get("unique")), label=metadata.get("label"),
                 picklist_values=values)


def _value_set_metadata(picklist: Field) -> dict[str, Any]:
    return {"sorted": False, "standardValue": [
        {"valueName": v, "label": v, "default": v == picklist.default}
        for v in picklist.picklist_values]}


# -- REST resources -------------------------------------------------------------------------

def _tooling_json(record: Record, version: str) -> dict[str, Any]:
    url = f"/services/data/v{version}/tooling/sobjects/{record.sobject}/{record.id}"
    return {"attributes": {"type": record.sobject, "url": url}, **record.fields}


@resource("POST", "tooling/sobjects/CustomField")
def create_custom_field(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    record = org.tooling.create_field(req.json_object())
    return ApiResponse(201, {"id": record.id, "success": True, "errors": [], "warnings": [],
                             "infos": []})


@resource("GET", "tooling/sobjects/CustomField/{record_id}")
def get_custom_field(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = org.tooling.store.get("CustomField", p["record_id"])
    return ApiResponse(200, _tooling_json(record, req.version))


@resource("GET", "tooling/sobjects/StandardValueSet/{record_id}")
def get_value_set(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = org.tooling.store.get("StandardValueSet", p["record_id"])
    return ApiResponse(200, _tooling_json(record, req.version))


@resource("PATCH", "tooling/sobjects/StandardValueSet/{record_id}")
def update_value_set(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    org.tooling.update_value_set(p["record_id"], req.json_object())
    return ApiResponse(204)


@resource("GET", "tooling/query")
def tooling_query(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    text = req.query.get("q")
    if not text:
        raise malformed_query("A query string has to be specified")
    query = soql_parse.parse(text)
    total, rows = soql_eval.execute(org.tooling.store, query, include_deleted=False,
                                    version=req.version)
    heavy = {p.parts[-1].lower() for p in query.fields} & {"metadata", "fullname"}
    if heavy and total > 1:
        raise malformed_query("When retrieving results with Metadata or FullName fields, the "
                              "query qualifications must specify no more than one row "
                              f"for retrieval. Result size: {total}")
    return ApiResponse(200, {"size": total, "totalSize": total, "done": True,
                             "queryLocator": None, "entityTypeName": query.sobject,
                             "records": rows})
