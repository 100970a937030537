"""The driver's HTTP face, under ``/sim``: agents act, tests observe, faults are armed.

Answers are ``{"ok": true, "result": ...}`` or ``{"ok": false, "status", "description",
"errors"}``. Parameters are a JSON body (POST/PATCH) or the query string (GET/DELETE). Agent
actions write as a Salesforce user (``user_id``, default the seeded agent), never count
against the API limit and are never refused by injected faults; like any write they move
``LastModifiedDate``/``SystemModstamp`` and set ``LastModifiedById`` to that user.

=======  ===============================  ====================================================
method   path                             what
=======  ===============================  ====================================================
GET      /sim/health                      -> true
GET      /sim/org                         -> org id, instance URL, integration login, user ids
POST     /sim/users                       first_name?, last_name, email?, username?,
                                          password? -> User
POST     /sim/groups                      name, type? ("Queue"), email? -> Group
POST     /sim/picklists/{T}/{field}       values? -> field (restricted to values, else
                                          its current ones), as an admin would
GET      /sim/records/{T}                 filters? (JSON object), include_deleted? -> [record]
GET      /sim/records/{T}/{id}            -> record (deleted ones too)
POST     /sim/records/{T}                 fields, user_id? -> record (created as that user)
PATCH    /sim/records/{T}/{id}            fields, user_id? -> record
DELETE   /sim/records/{T}/{id}            user_id? -> record
POST     /sim/cases/{id}/comments         body, user_id?, is_published? -> CaseComment
POST     /sim/cases/{id}/status           status, user_id? -> Case
POST     /sim/cases/{id}/owner            owner_id, user_id? -> Case
GET      /sim/api_usage                   -> {used, max, remaining, calls}
POST     /sim/api_usage                   used -> usage (pretend that many calls today)
POST     /sim/api_usage/exhaust           -> usage (used = max)
DELETE   /sim/api_usage                   -> usage (reset)
GET      /sim/faults                      -> armed faults
POST     /sim/faults/outage               count? (null: until cleared), status? (503),
                                          scope? ("api" | "all")
POST     /sim/faults/latency              seconds
POST     /sim/faults/lock_rows            count (next N API writes: UNABLE_TO_LOCK_ROW)
DELETE   /sim/faults                      clear every fault and the latency
POST     /sim/jwt_keys                    consumer_key, public_key_pem (PEM key or cert)
GET      /sim/requests                    refused? -> [call] (the request log: method, path,
                                          status, error_code, message, refused)
DELETE   /sim/requests                    empty the request log
POST     /sim/assignment_rule             owner_id (null: no active rule) -> the active Case
                                          assignment rule's owner
POST     /sim/soap_login                  enabled -> whether SOAP login() is enabled
POST     /sim/entitlement_process         name, milestones ({MilestoneType name: minutes})
                                          -> {id, milestone_types} (see ``entitlements``)
GET      /sim/notifications               -> custom notifications sent (see ``notifications``)
POST     /sim/field_history               enabled -> whether Case field history (Status,
                                          Owner: CaseHistory rows) is tracked
POST     /sim/page_size                   size (null: back to 2000 / the request's header)
POST     /sim/sessions/expire             -> {expired: n}
GET      /sim/clock                       -> {now, epoch}
POST     /sim/clock/advance               seconds -> {now, epoch}
=======  ===============================  ====================================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulators.salesforce import entitlements, ids
from simulators.salesforce.errors import ApiError
from simulators.salesforce.notifications import sent_json
from simulators.salesforce.org import Org
from simulators.salesforce.rest_api import record_json
from simulators.salesforce.store import Record
from simulators.salesforce.timefmt import format_datetime

Params = dict[str, Any]
SimHandler = Callable[[Org, Params, dict[str, str]], Any]
ROUTES: dict[tuple[str, str], SimHandler] = {}


def route(verb: str, path: str) -> Callable[[SimHandler], SimHandler]:
    """Register a ``/sim`` endpoint; registering one twice is an error."""
    def register(handler: SimHandler) -> SimHandler:
        if (verb, path) in ROUTES:
            raise ValueError(f"{verb} {path} registered twice")
        ROUTES[(verb, path)] = handler
        return handler
    return register


def add_routes(app: web.Application, org: Org) -> None:
    for (verb, path), handler in ROUTES.items():
        app.router.add_route(verb, path, _wrap(org, handler))


def _wrap(org: Org, handler: SimHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            params: Params = dict(request.query)
            if request.can_read_body:
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                params.update(body)
            result = handler(org, params, dict(request.match_info))
        except ApiError as exc:
            return web.json_response({"ok": False, "status": exc.status,
                                      "description": exc.message, "errors": exc.body()},
                                     status=exc.status)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "status": 400, "description": str(exc),
                                      "errors": []}, status=400)
        return web.json_response({"ok": True, "result": result})
    return handle


def _json(org: Org, record: Record) -> dict[str, Any]:
    return record_json(org, record, org.api_version)


def _actor(org: Org, params: Params) -> str:
    user_id = params.get("user_id") or org.agent_user_id
    user = org.store.by_id(str(user_id))
    if user is None or user.sobject != "User":
        raise ValueError(f"user_id {user_id} is not a user of this org")
    return user.id


# -- org, users, groups ---------------------------------------------------------------------

@route("GET", "/sim/health")
def health(org: Org, p: Params, m: dict[str, str]) -> Any:
    return True


@route("GET", "/sim/org")
def org_info(org: Org, p: Params, m: dict[str, str]) -> Any:
    login = org.login
    return {"org_id": org.org_id, "instance_url": org.instance_url,
            "api_version": org.api_version, "username": login.username,
            "password": login.password, "security_token": login.security_token,
            "consumer_key": login.consumer_key, "consumer_secret": login.consumer_secret,
            "integration_user_id": org.integration_user_id,
            "agent_user_id": org.agent_user_id}


@route("POST", "/sim/users")
def create_user(org: Org, p: Params, m: dict[str, str]) -> Any:
    last_name = str(p.get("last_name") or "User")
    email = p.get("email") or f"{last_name.lower()}.{len(org.store.all('User'))}@telecase.sim"
    return _json(org, org.create_user(p.get("first_name"), last_name, str(email),
                                      username=p.get("username"), password=p.get("password")))


@route("POST", "/sim/groups")
def create_group(org: Org, p: Params, m: dict[str, str]) -> Any:
    record = org.store.create("Group", {"Name": p["name"], "Type": p.get("type") or "Queue",
                                        "Email": p.get("email")},
                              org.integration_user_id, gated=False)
    return _json(org, record)


@route("POST", "/sim/picklists/{sobject}/{field}")
def restrict_picklist(org: Org, p: Params, m: dict[str, str]) -> Any:
    values = p.get("values")
    if values is not None and (not isinstance(values, list)
                               or not all(isinstance(v, str) for v in values)):
        raise ValueError("values must be a list of strings")
    kind = org.store.sobject(m["sobject"])
    restricted = kind.restrict_picklist(m["field"], None if values is None else tuple(values))
    return restricted.describe()


# -- records --------------------------------------------------------------------------------

@route("GET", "/sim/records/{sobject}")
def records(org: Org, p: Params, m: dict[str, str]) -> Any:
    filters = p.get("filters") or {}
    if isinstance(filters, str):
        filters = json.loads(filters)
    include_deleted = str(p.get("include_deleted", "")).lower() in {"1", "true"}
    kind = org.store.sobject(m["sobject"])
    wanted = {}
    for name, value in filters.items():
        found = kind.field(name)
        if found is None:
            raise ValueError(f"{kind.name} has no field {name}")
        wanted[found.name] = ids.normalize(value) or value
    return [_json(org, r) for r in org.store.all(kind.name, include_deleted=include_deleted)
            if all(r.fields.get(k) == v for k, v in wanted.items())]


@route("GET", "/sim/records/{sobject}/{record_id}")
def record(org: Org, p: Params, m: dict[str, str]) -> Any:
    kind = org.store.sobject(m["sobject"])
    found = org.store.by_id(m["record_id"])
    if found is None or found.sobject != kind.name:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return _json(org, found)


@route("POST", "/sim/records/{sobject}")
def agent_create(org: Org, p: Params, m: dict[str, str]) -> Any:
    created = org.store.create(m["sobject"], p.get("fields") or {}, _actor(org, p), gated=False)
    return _json(org, created)


@route("PATCH", "/sim/records/{sobject}/{record_id}")
def agent_update(org: Org, p: Params, m: dict[str, str]) -> Any:
    updated = org.store.update(m["sobject"], m["record_id"], p.get("fields") or {},
                               _actor(org, p), gated=False)
    return _json(org, updated)


@route("DELETE", "/sim/records/{sobject}/{record_id}")
def agent_delete(org: Org, p: Params, m: dict[str, str]) -> Any:
    target = org.store.get(m["sobject"], m["record_id"])
    org.store.delete(target.sobject, target.id, _actor(org, p), gated=False)
    return _json(org, target)


@route("POST", "/sim/cases/{case_id}/comments")
def post_case_comment(org: Org, p: Params, m: dict[str, str]) -> Any:
    case = org.store.get("Case", m["case_id"])
    published = p.get("is_published")
    comment = org.store.create("CaseComment", {
        "ParentId": case.id, "CommentBody": p["body"],
        "IsPublished": True if published is None else bool(published)},
        _actor(org, p), gated=False)
    return _json(org, comment)


@route("POST", "/sim/cases/{case_id}/status")
def set_case_status(org: Org, p: Params, m: dict[str, str]) -> Any:
    case = org.store.update("Case", m["case_id"], {"Status": p["status"]}, _actor(org, p),
                            gated=False)
    return _json(org, case)


@route("POST", "/sim/cases/{case_id}/owner")
def set_case_owner(org: Org, p: Params, m: dict[str, str]) -> Any:
    case = org.store.update("Case", m["case_id"], {"OwnerId": p["owner_id"]}, _actor(org, p),
                            gated=False)
    return _json(org, case)


# -- limits, faults, sessions, clock --------------------------------------------------------

@route("GET", "/sim/api_usage")
def api_usage(org: Org, p: Params, m: dict[str, str]) -> Any:
    return org.limits.state()


@route("POST", "/sim/api_usage")
def set_api_usage(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.limits.set_used(int(p["used"]))
    return org.limits.state()


@route("POST", "/sim/api_usage/exhaust")
def exhaust_api_limit(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.limits.set_used(org.limits.max)
    return org.limits.state()


@route("DELETE", "/sim/api_usage")
def reset_api_usage(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.limits.reset()
    return org.limits.state()


@route("GET", "/sim/faults")
def faults(org: Org, p: Params, m: dict[str, str]) -> Any:
    return org.faults.state()


@route("POST", "/sim/faults/outage")
def outage(org: Org, p: Params, m: dict[str, str]) -> Any:
    count = p.get("count")
    org.faults.start_outage(None if count is None else int(count), int(p.get("status") or 503),
                            str(p.get("scope") or "api"))
    return org.faults.state()


@route("POST", "/sim/faults/latency")
def latency(org: Org, p: Params, m: dict[str, str]) -> Any:
    seconds = float(p["seconds"])
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    org.faults.latency = seconds
    return org.faults.state()


@route("POST", "/sim/faults/lock_rows")
def lock_rows(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.faults.lock_rows(int(p["count"]))
    return org.faults.state()


@route("DELETE", "/sim/faults")
def clear_faults(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.faults.clear()
    return org.faults.state()


@route("POST", "/sim/jwt_keys")
def register_jwt_key(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.auth.register_jwt_key(str(p["consumer_key"]), str(p["public_key_pem"]))
    return True


@route("GET", "/sim/requests")
def requests_log(org: Org, p: Params, m: dict[str, str]) -> Any:
    refused = str(p.get("refused", "")).lower() in {"1", "true", "yes"}
    calls = org.log.refused() if refused else org.log.calls
    return [c.as_dict() for c in calls]


@route("DELETE", "/sim/requests")
def clear_requests(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.log.clear()
    return True


@route("POST", "/sim/assignment_rule")
def assignment_rule(org: Org, p: Params, m: dict[str, str]) -> Any:
    owner_id = p.get("owner_id")
    if owner_id is not None:
        owner = org.store.by_id(str(owner_id))
        if owner is None or owner.sobject not in {"User", "Group"}:
            raise ValueError(f"no user or queue {owner_id}")
        owner_id = owner.id
    org.store.case_assignment_owner = owner_id
    return {"owner_id": owner_id}


@route("POST", "/sim/entitlement_process")
def entitlement_process(org: Org, p: Params, m: dict[str, str]) -> Any:
    """An active entitlement process (SlaProcess) and its milestones, the MilestoneTypes
    made or found by name: what an admin sets up in Setup > Entitlement Processes."""
    user = org.integration_user_id
    process = org.store.create("SlaProcess", {"Name": str(p["name"])}, user, gated=False)
    types: dict[str, str] = {}
    for name in p["milestones"]:
        found = org.store.find("MilestoneType", "Name", name)
        types[name] = found[0].id if found else org.store.create(
            "MilestoneType", {"Name": name}, user, gated=False).id
    entitlements.define_process(org.store, process.id, {
        types[name]: int(minutes) for name, minutes in p["milestones"].items()})
    return {"id": process.id, "milestone_types": types}


@route("GET", "/sim/notifications")
def notifications_sent(org: Org, p: Params, m: dict[str, str]) -> Any:
    return [sent_json(n) for n in org.notifications.sent]


@route("POST", "/sim/field_history")
def field_history(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.store.case_field_history = bool(p["enabled"])
    return {"enabled": org.store.case_field_history}


@route("POST", "/sim/soap_login")
def soap_login(org: Org, p: Params, m: dict[str, str]) -> Any:
    org.soap_login = bool(p["enabled"])
    return {"enabled": org.soap_login}


@route("POST", "/sim/page_size")
def page_size(org: Org, p: Params, m: dict[str, str]) -> Any:
    size = p.get("size")
    if size is not None and int(size) < 1:
        raise ValueError("size must be >= 1")
    org.cursors.page_size = None if size is None else int(size)
    return org.cursors.page_size


@route("POST", "/sim/sessions/expire")
def expire_sessions(org: Org, p: Params, m: dict[str, str]) -> Any:
    return {"expired": org.auth.expire_sessions()}


@route("GET", "/sim/clock")
def clock(org: Org, p: Params, m: dict[str, str]) -> Any:
    now = org.clock.now()
    return {"now": format_datetime(now), "epoch": now}


@route("POST", "/sim/clock/advance")
def advance_clock(org: Org, p: Params, m: dict[str, str]) -> Any:
    now = org.clock.advance(float(p["seconds"]))
    return {"now": format_datetime(now), "epoch": now}
