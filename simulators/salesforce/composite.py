"""Composite (``/composite``) and sObject Collections (``/composite/sobjects``).

**Composite** runs up to 25 subrequests in order, in one transaction, counted as one API call;
at most five of them may be sObject Collections or queries (else 400 ``LIMIT_EXCEEDED``).
A subrequest is ``{"method","url","referenceId","body"}``; its ``url`` is a full
``/services/data/vXX.X/...`` path to an sObject or query resource (or a collection). Later
subrequests may use ``@{ref.field}`` / ``@{ref.records[0].Id}`` in their URL or body to take a
value from an earlier answer; a reference that cannot be resolved fails that subrequest with
``PROCESSING_HALTED`` "Invalid reference specified. No value for ... found in ...". The
answer is always HTTP 200 with ``compositeResponse`` (per subrequest ``body``,
``httpHeaders``, ``httpStatusCode``, ``referenceId``). With ``allOrNone`` the first failure
rolls everything back and every other subrequest answers 400 ``PROCESSING_HALTED`` "The
transaction was rolled back since another operation in the same transaction failed."; an
embedded collection then behaves as ``allOrNone`` too.

**Collections** create (POST), update (PATCH), delete (DELETE ``?ids=``), read (GET
``/composite/sobjects/T?ids=&fields=``) or upsert (PATCH ``/composite/sobjects/T/Field``) up
to 200 records, answering 200 with one result per record in order: ``{"id","success",
"errors"}`` (+ ``"created"`` for upsert), per-record errors as ``{"statusCode","message",
"fields"}``. With ``allOrNone`` any failure rolls back the whole request and the records that
had succeeded report ``ALL_OR_NONE_OPERATION_ROLLED_BACK``. More than 200 records answer 400
``EXCEEDED_ID_LIMIT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from simulators.salesforce import ids
from simulators.salesforce.errors import ApiError, not_found
from simulators.salesforce.rest_api import record_json, save_result
from simulators.salesforce.routing import ApiRequest, ApiResponse, dispatch, resource

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

MAX_SUBREQUESTS = 25
MAX_HEAVY = 5
"""Of those, sObject Collections and query subrequests: "You can have up to 25 subrequests
in a single call. Up to 5 of these subrequests can be sObject Collections or query
operations, including Query and QueryAll requests." (REST API Developer Guide, Composite,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm).
The error's text is a best guess, spelled like the 25-subrequest one."""
MAX_RECORDS = 200
ROLLED_BACK = ("The transaction was rolled back since another operation in the same "
               "transaction failed.")
RECORD_ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                      "message": "Record rolled back because not all records were valid and "
                                 "the request was using AllOrNone header", "fields": []}
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


class _Unresolved(Exception):
    def __init__(self, expression: str, reference_id: str) -> None:
        super().__init__(expression)
        self.error = [{"errorCode": "PROCESSING_HALTED",
                       "message": f"Invalid reference specified. No value for {expression} "
                                  f"found in {reference_id}."}]


# -- composite ------------------------------------------------------------------------------

@resource("POST", "composite")
def composite(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    body = req.json_object()
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "INVALID_INPUT", "compositeRequest must be a non-empty array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", "Limit Exceeded: A composite request can have "
                       f"at most {MAX_SUBREQUESTS} subrequests")
    _validate(subrequests)
    heavy = sum(_heavy(sub["url"]) for sub in subrequests)
    if heavy > MAX_HEAVY:
        raise ApiError(400, "LIMIT_EXCEEDED", "Limit Exceeded: A composite request can have "
                       f"at most {MAX_HEAVY} sObject Collections or query subrequests")
    all_or_none = bool(body.get("allOrNone", False))
    depth = org.store.begin()
    answers: list[dict[str, Any]] = []
    bodies: dict[str, Any] = {}
    failed_at: int | None = None
    for index, sub in enumerate(subrequests):
        reference_id = sub["referenceId"]
        if all_or_none and failed_at is not None:
            answers.append(_halted(reference_id))
            continue
        try:
            url = _substitute(sub["url"], bodies, whole=False)
            sub_body = _substitute(sub.get("body"), bodies, whole=True)
            response = _run(org, req, sub["method"], url, sub_body, all_or_none)
        except _Unresolved as exc:
            response = ApiResponse(400, exc.error)
        answers.append({"body": response.body, "httpHeaders": response.headers,
                        "httpStatusCode": response.status, "referenceId": reference_id})
        if _succeeded(response, all_or_none):
            bodies[reference_id] = response.body
        elif failed_at is None:
            failed_at = index
    if all_or_none and failed_at is not None:
        org.store.rollback(depth)
        answers = [a if i == failed_at else _halted(a["referenceId"])
                   for i, a in enumerate(answers)]
    else:
        org.store.release(depth)
    return ApiResponse(200, {"compositeResponse": answers})


def _validate(subrequests: list[Any]) -> None:
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise ApiError(400, "INVALID_INPUT", "Each subrequest must be a JSON object")
        reference_id = sub.get("referenceId")
        if not isinstance(reference_id, str) or not _REFERENCE_ID.match(reference_id):
            raise ApiError(400, "INVALID_INPUT", f"Invalid referenceId: {reference_id}. "
                           "It must start with a letter or a number and contain only "
                           "letters, numbers and underscores ('_').")
        if reference_id in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId provided in the "
                           f"request: {reference_id}")
        seen.add(reference_id)
        if sub.get("method") not in _METHODS or not isinstance(sub.get("url"), str):
            raise ApiError(400, "INVALID_INPUT", f"Subrequest {reference_id} needs a method "
                           "(GET, POST, PATCH, PUT, DELETE) and a url")


def _heavy(url: str) -> bool:
    """Whether a subrequest is a query (Query, QueryAll, and their next pages) or an sObject
    Collections request (see :data:`MAX_HEAVY`)."""
    rest = urlsplit(url).path.split("/")[4:]
    head = [s.lower() for s in rest[:2] if s]
    return bool(head) and (head[0] in ("query", "queryall") or head == ["composite", "sobjects"])


def _halted(reference_id: str) -> dict[str, Any]:
    return {"body": [{"errorCode": "PROCESSING_HALTED", "message": ROLLED_BACK}],
            "httpHeaders": {}, "httpStatusCode": 400, "referenceId": reference_id}


def _succeeded(response: ApiResponse, all_or_none: bool) -> bool:
    if response.status >= 400:
        return False
    if all_or_none and isinstance(response.body, list):
        return all(not isinstance(r, dict) or r.get("success", True) for r in response.body)
    return True


def _run(org: Org, outer: ApiRequest, method: str, url: str, body: Any,
         all_or_none: bool) -> ApiResponse:
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/")]
    if segments[:3] != ["", "services", "data"] or len(segments) < 5 \
            or not segments[3].startswith("v") or not org.supports(segments[3][1:]):
        return ApiResponse(404, not_found().body())
    rest = segments[4:]
    if [s.lower() for s in rest if s] == ["composite"]:
        return ApiResponse(400, [{"errorCode": "INVALID_INPUT",
                                  "message": "A composite request can't contain another "
                                             "composite request"}])
    sub = ApiRequest(method, rest, segments[3][1:], outer.user_id,
                     dict(parse_qsl(parts.query)), body, outer.headers, in_composite=True,
                     force_all_or_none=all_or_none)
    try:
        return dispatch(org, sub)
    except ApiError as exc:
        return ApiResponse(exc.status, exc.body())


def _substitute(value: Any, bodies: dict[str, Any], *, whole: bool) -> Any:
    """``value`` with every ``@{ref...}`` replaced by what it points at."""
    if isinstance(value, dict):
        return {k: _substitute(v, bodies, whole=True) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, bodies, whole=True) for v in value]
    if not isinstance(value, str):
        return value
    exact = _REFERENCE.fullmatch(value)
    if whole and exact:
        return _lookup(exact, bodies)
    return _REFERENCE.sub(lambda m: str(_lookup(m, bodies)), value)


def _lookup(match: re.Match[str], bodies: dict[str, Any]) -> Any:
    reference_id, path = match.group(1), match.group(2)
    expression = f"{reference_id}{path}"
    if reference_id not in bodies:
        raise _Unresolved(expression, reference_id)
    current = bodies[reference_id]
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                raise _Unresolved(expression, reference_id)
            current = current[int(index)]
        else:
            if not isinstance(current, dict):
                raise _Unresolved(expression, reference_id)
            key = name if name in current else next(
                (k for k in current if k.lower() == name.lower()), None)
            if key is None:
                raise _Unresolved(expression, reference_id)
            current = current[key]
    if current is None:
        raise _Unresolved(expression, reference_id)
    return current


# -- sObject collections --------------------------------------------------------------------

Write = Callable[[dict[str, Any]], dict[str, Any]]


def _records(req: ApiRequest) -> tuple[list[Any], bool]:
    body = req.json_object()
    records = body.get("records")
    if not isinstance(records, list):
        raise ApiError(400, "INVALID_INPUT", "records must be an array")
    if len(records) > MAX_RECORDS:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                       f"than {MAX_RECORDS} records into this call")
    return records, req.force_all_or_none or bool(body.get("allOrNone", False))


def _each(org: Org, items: list[Any], all_or_none: bool, write: Write, *,
          keep_id: bool = False) -> ApiResponse:
    """Apply ``write`` to each item; roll all back on a failure when ``all_or_none``
    (rolled-back results keep their ``id`` when ``keep_id``: updates and deletes)."""
    depth = org.store.begin()
    results: list[dict[str, Any]] = []
    for item in items:
        try:
            results.append(write(item))
        except ApiError as exc:
            error = exc.record_error()
            if exc.status == 300:
                error = {"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "more than one "
                         f"record found for external id field: {exc.body()}", "fields": []}
            failure: dict[str, Any] = {"success": False, "errors": [error]}
            record_id = item.get("id", item.get("Id")) if isinstance(item, dict) else item
            if ids.normalize(record_id):
                failure = {"id": ids.normalize(record_id), **failure}
            results.append(failure)
    if all_or_none and any(not r["success"] for r in results):
        org.store.rollback(depth)
        results = [_rolled_back(r, keep_id) if r["success"] else r for r in results]
    else:
        org.store.release(depth)
    return ApiResponse(200, results)


def _rolled_back(result: dict[str, Any], keep_id: bool) -> dict[str, Any]:
    undone: dict[str, Any] = {"success": False, "errors": [dict(RECORD_ROLLED_BACK)]}
    return {"id": result["id"], **undone} if keep_id else undone


def _typed(item: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(item, dict):
        raise ApiError(400, "INVALID_INPUT", "Each record must be a JSON object", [])
    attributes = item.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(sobject, str) or not sobject:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.", [])
    return sobject, {k: v for k, v in item.items() if k != "attributes"}


@resource("POST", "composite/sobjects")
def create_collection(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    records, all_or_none = _records(req)

    def write(item: Any) -> dict[str, Any]:
        sobject, fields = _typed(item)
        if any(k.lower() == "id" for k in fields):
            raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return save_result(org.store.create(sobject, fields, req.user_id).id)
    return _each(org, records, all_or_none, write)


@resource("PATCH", "composite/sobjects")
def update_collection(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    records, all_or_none = _records(req)

    def write(item: Any) -> dict[str, Any]:
        sobject, fields = _typed(item)
        key = next((k for k in fields if k.lower() == "id"), None)
        if key is None:
            raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call", [])
        record_id = fields.pop(key)
        record = org.store.update(sobject, str(record_id), fields, req.user_id)
        return save_result(record.id)
    return _each(org, records, all_or_none, write, keep_id=True)


@resource("DELETE", "composite/sobjects")
def delete_collection(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    wanted = [i for i in req.query.get("ids", "").split(",") if i]
    if len(wanted) > MAX_RECORDS:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more "
                       f"than {MAX_RECORDS} records into this call")
    all_or_none = req.force_all_or_none or req.query.get("allOrNone", "").lower() == "true"

    def write(record_id: Any) -> dict[str, Any]:
        record = org.store.by_id(str(record_id))
        if record is None:
            raise ApiError(400, "MALFORMED_ID" if ids.normalize(record_id) is None
                           else "INVALID_CROSS_REFERENCE_KEY", f"invalid id: {record_id}", [])
        org.store.delete(record.sobject, record.id, req.user_id)
        return save_result(record.id)
    return _each(org, wanted, all_or_none, write, keep_id=True)


@resource("GET", "composite/sobjects/{sobject}")
def read_collection(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    kind = org.store.sobject(p["sobject"])
    names = [n.strip() for n in req.query.get("fields", "").split(",") if n.strip()]
    fields = []
    for name in names:
        found = kind.field(name)
        if found is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity "
                           f"'{kind.name}'.")
        fields.append(found.name)
    found_records: list[Any] = []
    for record_id in (i for i in req.query.get("ids", "").split(",") if i):
        record = org.store.by_id(record_id)
        live = record is not None and record.sobject == kind.name and not record.deleted
        found_records.append(record_json(org, record, req.version, fields or None)
                             if live and record else None)
    return ApiResponse(200, found_records)


@resource("PATCH", "composite/sobjects/{sobject}/{field}")
def upsert_collection(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    records, all_or_none = _records(req)
    kind = org.store.sobject(p["sobject"])
    ext = kind.field(p["field"])
    if ext is None or not (ext.external_id or ext.name == "Id"):
        raise not_found("Provided external ID field does not exist or is not accessible: "
                        f"{p['field']}")

    def write(item: Any) -> dict[str, Any]:
        sobject, fields = _typed(item)
        if sobject.lower() != kind.name.lower():
            raise ApiError(400, "INVALID_INPUT", f"Record type {sobject} does not match the "
                           f"collection's type {kind.name}", [])
        key = next((k for k in fields if k.lower() == ext.name.lower()), None)
        if key is None or fields[key] in (None, ""):
            raise ApiError(400, "MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
        value = str(fields.pop(key))
        record, created = org.store.upsert(kind.name, ext.name, value, fields, req.user_id,
                                           version=req.version)
        return save_result(record.id, created=created)
    return _each(org, records, all_or_none, write)
