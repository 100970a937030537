"""The REST resources: versions, limits, describe, sObject rows, external ids, query.

=======  ===========================================  =======================================
method   path under /services/data/vXX.X/             answer
=======  ===========================================  =======================================
GET      (the version root)                           the resource directory
GET      limits                                       DailyApiRequests {Max, Remaining}, ...
GET      sobjects                                     describeGlobal
GET      sobjects/T                                   objectDescribe + recentItems
POST     sobjects/T                                   201 {id, success, errors}
GET      sobjects/T/describe                          describe (fields, keyPrefix, urls)
GET      sobjects/T/id[?fields=A,B]                   the record (with ``attributes``)
PATCH    sobjects/T/id                                204
DELETE   sobjects/T/id                                204
POST     sobjects/T/Id                                201 (create: "Id" as external id, null)
GET      sobjects/T/Field/value                       the record by external id (300 if many)
PATCH    sobjects/T/Field/value                       upsert: 201 created / 200 updated
DELETE   sobjects/T/Field/value                       204
GET      sobjects/ContentVersion/id/VersionData       the File's bytes (binary, not JSON)
GET      query?q=  | queryAll?q=                      {totalSize, done, records[, next...]}
GET      query/<locator>-<n> | queryAll/<locator>-<n>  the next batch
=======  ===========================================  =======================================

(``sobjects/T/updated`` and ``sobjects/T/deleted`` live in ``replication``, ``search`` (SOSL)
in ``sosl``.)

Upsert answers follow the API version of the URL: from v46.0 an update answers 200 with
``{"id","success","errors","created":false}`` and a create 201 with ``"created": true``;
before v46.0 an update answers 204 without a body and ``created`` is absent.

A blob field is read with the sObject Blob Get resource, ``sobjects/T/id/blobField``, which
answers the bytes themselves ("binary data", not JSON; REST API Developer Guide, "sObject Blob
Get", https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_blob_retrieve.htm);
the simulator has it for ContentVersion's ``VersionData`` (its only blob).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulators.salesforce import soql_eval, soql_parse
from simulators.salesforce.content import content_bytes
from simulators.salesforce.errors import ApiError, malformed_query, not_found
from simulators.salesforce.routing import ApiRequest, ApiResponse, resource
from simulators.salesforce.store import Record

if TYPE_CHECKING:
    from simulators.salesforce.org import Org

UPSERT_200_SINCE = 46.0


def record_json(org: Org, record: Record, version: str,
                fields: list[str] | None = None) -> dict[str, Any]:
    """A record as the REST API shows it: ``attributes`` then every field (or ``fields``)."""
    kind = org.store.types[record.sobject]
    names = fields if fields is not None else [f.name for f in kind.visible_fields()]
    url = f"/services/data/v{version}/sobjects/{kind.name}/{record.id}"
    return {"attributes": {"type": kind.name, "url": url},
            **{name: record.fields.get(name) for name in names}}


def save_result(record_id: str, *, created: bool | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        result["created"] = created
    return result


def _location(version: str, sobject: str, record_id: str) -> dict[str, str]:
    return {"Location": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


# -- directory, limits, describe --------------------------------------------------------------

@resource("GET", "")
def directory(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    base = f"/services/data/v{req.version}"
    names = ["sobjects", "query", "queryAll", "search", "composite", "limits"]
    return ApiResponse(200, {name: f"{base}/{name}" for name in names})


@resource("GET", "limits")
def limits(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    used = org.limits
    return ApiResponse(200, {
        "DailyApiRequests": {"Max": used.max, "Remaining": used.remaining},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
        "FileStorageMB": {"Max": 20, "Remaining": 20}})


@resource("GET", "sobjects")
def describe_global(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
        kind.basic(req.version) for kind in org.store.types.values()]})


@resource("GET", "sobjects/{sobject}")
def basic_info(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    kind = org.store.sobject(p["sobject"])
    recent = [record_json(org, r, req.version, ["Id"])
              for r in org.store.all(kind.name)[-5:]]
    return ApiResponse(200, {"objectDescribe": kind.basic(req.version), "recentItems": recent})


@resource("GET", "sobjects/{sobject}/describe")
def describe(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return ApiResponse(200, org.store.sobject(p["sobject"]).describe(req.version))


# -- rows -----------------------------------------------------------------------------------

@resource("POST", "sobjects/{sobject}")
def create(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = org.store.create(p["sobject"], req.json_object(), req.user_id)
    return ApiResponse(201, save_result(record.id),
                       _location(req.version, record.sobject, record.id))


@resource("GET", "sobjects/{sobject}/{record_id}")
def get_record(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = org.store.get(p["sobject"], p["record_id"])
    return ApiResponse(200, record_json(org, record, req.version, _fields(org, record, req)))


@resource("GET", "sobjects/ContentVersion/{record_id}/VersionData")
def version_data(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    """A File's bytes (sObject Blob Get); a link File has none."""
    record = org.store.get("ContentVersion", p["record_id"])
    return ApiResponse(200, content_bytes(record.fields),
                       {"Content-Type": "application/octet-stream"})


@resource("PATCH", "sobjects/{sobject}/{record_id}")
def update(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    org.store.update(p["sobject"], p["record_id"], req.json_object(), req.user_id)
    return ApiResponse(204)


@resource("DELETE", "sobjects/{sobject}/{record_id}")
def delete(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    org.store.delete(p["sobject"], p["record_id"], req.user_id)
    return ApiResponse(204)


@resource("POST", "sobjects/{sobject}/{field}")
def create_by_id_field(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    if p["field"].lower() != "id":
        raise ApiError(405, "METHOD_NOT_ALLOWED",
                       "HTTP Method 'POST' not allowed. Allowed are GET,HEAD,PATCH,DELETE")
    return create(org, req, p)


@resource("GET", "sobjects/{sobject}/{field}/{value}")
def get_by_external_id(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = _one_by_external_id(org, req, p)
    return ApiResponse(200, record_json(org, record, req.version, _fields(org, record, req)))


@resource("PATCH", "sobjects/{sobject}/{field}/{value}")
def upsert(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record, created = org.store.upsert(p["sobject"], p["field"], p["value"], req.json_object(),
                                       req.user_id, version=req.version)
    modern = float(req.version) >= UPSERT_200_SINCE
    if created:
        return ApiResponse(201, save_result(record.id, created=True if modern else None),
                           _location(req.version, record.sobject, record.id))
    if not modern:
        return ApiResponse(204)
    return ApiResponse(200, save_result(record.id, created=False))


@resource("DELETE", "sobjects/{sobject}/{field}/{value}")
def delete_by_external_id(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    record = _one_by_external_id(org, req, p)
    org.store.delete(record.sobject, record.id, req.user_id)
    return ApiResponse(204)


def _one_by_external_id(org: Org, req: ApiRequest, p: dict[str, str]) -> Record:
    kind = org.store.sobject(p["sobject"])
    ext = kind.field(p["field"])
    if ext is not None and ext.name == "Id":
        return org.store.get(kind.name, p["value"])
    if ext is None or not ext.external_id:
        raise not_found("Provided external ID field does not exist or is not accessible: "
                        f"{p['field']}")
    matches = org.store.find(kind.name, ext.name, p["value"])
    if not matches:
        raise not_found()
    if len(matches) > 1:
        raise ApiError(300, "MULTIPLE_CHOICES", "more than one record", body=[
            f"/services/data/v{req.version}/sobjects/{kind.name}/{r.id}" for r in matches])
    return matches[0]


def _fields(org: Org, record: Record, req: ApiRequest) -> list[str] | None:
    wanted = req.query.get("fields")
    if not wanted:
        return None
    kind = org.store.types[record.sobject]
    names: list[str] = []
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        found = kind.field(name)
        if found is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity "
                           f"'{kind.name}'. If you are attempting to use a custom field, be "
                           "sure to append the '__c' after the custom field name. Please "
                           "reference your WSDL or the describe call for the appropriate "
                           "names.")
        names.append(found.name)
    return names


# -- query ----------------------------------------------------------------------------------

def run_query(org: Org, req: ApiRequest, *, include_deleted: bool) -> ApiResponse:
    text = req.query.get("q")
    if not text:
        raise malformed_query("A query string has to be specified")
    query = soql_parse.parse(text)
    total, rows = soql_eval.execute(org.store, query, include_deleted=include_deleted,
                                    version=req.version)
    batch = org.cursors.batch_size(req.headers.get("sforce-query-options"))
    endpoint = "queryAll" if include_deleted else "query"
    return ApiResponse(200, org.cursors.first(total, rows, batch=batch, version=req.version,
                                              endpoint=endpoint))


def more(org: Org, req: ApiRequest, locator: str, endpoint: str) -> ApiResponse:
    batch = org.cursors.batch_size(req.headers.get("sforce-query-options"))
    return ApiResponse(200, org.cursors.more(locator, batch=batch, version=req.version,
                                             endpoint=endpoint))


@resource("GET", "query")
def query(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    return run_query(org, req, include_deleted=False)


@resource("GET", "queryAll")
def query_all(org: Org, req: ApiRequest, _: dict[str, str]) -> ApiResponse:
    return run_query(org, req, include_deleted=True)


@resource("GET", "query/{locator}")
def query_more(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return more(org, req, p["locator"], "query")


@resource("GET", "queryAll/{locator}")
def query_all_more(org: Org, req: ApiRequest, p: dict[str, str]) -> ApiResponse:
    return more(org, req, p["locator"], "queryAll")
