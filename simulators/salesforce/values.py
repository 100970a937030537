"""Reading a request body into field values: names, writability, types, references.

:func:`prepare` turns the JSON body of a create or update into canonical field names with
values coerced to what Salesforce stores, raising the error the real API answers with:

- unknown field → ``INVALID_FIELD`` ("No such column 'X' on sobject of type T");
- read-only field (``Id``, ``CaseNumber``, ``CreatedDate``, ``Name`` of a person...) →
  ``INVALID_FIELD_FOR_INSERT_UPDATE``;
- wrong JSON type (an object for a text field, a string for a boolean, a bad datetime) →
  ``JSON_PARSER_ERROR``;
- a value outside a restricted picklist → ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``
  ("Priority: bad value for restricted picklist field: Urgent");
- a reference that is no id → ``MALFORMED_ID``; an id of the wrong object →
  ``FIELD_INTEGRITY_EXCEPTION``; an id of a simulated record that does not exist →
  ``INVALID_CROSS_REFERENCE_KEY`` (``ENTITY_IS_DELETED`` when it was deleted).

Required fields are checked by the store, after defaults are applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulators.salesforce import ids, security
from simulators.salesforce.errors import (
    ApiError,
    invalid_cross_reference,
    json_parser_error,
    malformed_id,
    no_such_column,
    not_writable,
)
from simulators.salesforce.schema import ANY, Field, SObjectType, type_for_prefix
from simulators.salesforce.timefmt import normalize_date, normalize_datetime

_TEXT = {"string", "textarea", "picklist", "email", "phone", "url", "base64"}

# (record id) -> "live" | "deleted" | "missing" for simulated records
Lookup = Callable[[str], str]


def prepare(sobject: SObjectType, body: Mapping[str, Any], *, creating: bool,
            types: dict[str, SObjectType], lookup: Lookup,
            check_lengths: bool = False) -> dict[str, Any]:
    """Canonical, coerced field values of a create (``creating``) or update body;
    ``check_lengths`` refuses text longer than the field's length (``STRING_TOO_LONG``)."""
    values: dict[str, Any] = {}
    read_only: list[str] = []
    for name, raw in body.items():
        if name == "attributes":
            continue
        field = sobject.field(name)
        if field is None:
            raise no_such_column(name, sobject.name)
        if not (field.createable if creating else field.updateable) \
                or security.read_only(sobject.name, field.name):
            read_only.append(field.name)
            continue
        values[field.name] = coerce(field, raw, types=types, lookup=lookup)
        if check_lengths:
            _check_length(field, values[field.name])
    if read_only:
        raise not_writable(read_only)
    return values


def coerce(field: Field, value: Any, *, types: dict[str, SObjectType],
           lookup: Lookup) -> Any:
    """``value`` as stored in ``field``, or the API's error for it."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        token = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
        raise _cannot_deserialize(field, token, "{" if isinstance(value, dict) else "[")
    if field.type in _TEXT or field.type == "any":
        if field.type == "any" or isinstance(value, str):
            text = value
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        if field.restricted and text not in field.picklist_values:
            raise ApiError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"{field.name}: bad value for restricted picklist field: {text}",
                           [field.name])
        return text
    if field.type == "boolean":
        if not isinstance(value, bool):
            raise _cannot_deserialize(field, "VALUE_STRING", value)
        return value
    if field.type in {"int", "double"}:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _cannot_deserialize(field, "VALUE_STRING", value)
        return value
    if field.type == "datetime":
        normalized = normalize_datetime(value) if isinstance(value, str) else None
        if normalized is None:
            raise _cannot_deserialize(field, "VALUE_STRING", value)
        return normalized
    if field.type == "date":
        normalized = normalize_date(value) if isinstance(value, str) else None
        if normalized is None:
            raise _cannot_deserialize(field, "VALUE_STRING", value)
        return normalized
    if field.type == "reference":
        return _reference(field, value, types, lookup)
    raise _cannot_deserialize(field, "VALUE_STRING", value)


def _check_length(field: Field, value: Any) -> None:
    """``STRING_TOO_LONG`` "Subject: data value too large: <value> (max length=255)", the
    message the API answers for an over-long text value (as client libraries log it, e.g.
    jongpie/NebulaLogger#589, CoderDojo/community-platform#762; field lengths from the
    Object Reference / Field Reference, e.g. CaseComment.CommentBody 4,000)."""
    if field.length and isinstance(value, str) and len(value) > field.length:
        raise ApiError(400, "STRING_TOO_LONG", f"{field.label or field.name}: data value too "
                       f"large: {value} (max length={field.length})", [field.name])


def _reference(field: Field, value: Any, types: dict[str, SObjectType],
               lookup: Lookup) -> str:
    label = f"{field.relationship or field.name} ID"
    record_id = ids.normalize(value)
    if record_id is None:
        raise malformed_id(label, value, field.name)
    target = type_for_prefix(types, ids.key_prefix(record_id))
    if ANY not in field.reference_to and target not in field.reference_to:
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",
                       f"{label}: id value of incorrect type: {value}", [field.name])
    if target in types:
        state = lookup(record_id)
        if state == "deleted":
            raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [field.name])
        if state == "missing":
            raise invalid_cross_reference(field.name)
    return record_id


def _cannot_deserialize(field: Field, token: str, value: Any) -> ApiError:
    kind = {"boolean": "boolean", "datetime": "datetime", "date": "date", "int": "int",
            "double": "double"}.get(field.type, "string")
    return json_parser_error(
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may "
        f"be missing a required field")
