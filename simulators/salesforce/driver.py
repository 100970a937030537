"""A Python client (httpx, async) for the simulator's ``/sim`` endpoints.

Tests, the demo and benchmarks use it to act as Salesforce agents and to observe and disturb
the org::

    async with SalesforceDriver(sim.base_url, sim.ca_file) as sf:
        queue = await sf.create_group("Tier 2")
        await sf.set_case_owner(case_id, queue["Id"])
        await sf.post_case_comment(case_id, "We are on it")        # as the seeded agent
        comments = await sf.records("CaseComment", ParentId=case_id)
        await sf.start_outage(count=3)                             # next 3 API calls: 503

Records come back as the REST API shows them (``attributes`` + every field). A refused call
raises :class:`DriverError` with the simulator's description.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from simulators.salesforce.errors import DriverError
from simulators.salesforce.tls import client_context


class SalesforceDriver:
    """Async client of one simulator's ``/sim`` API."""

    def __init__(self, base_url: str, ca_file: str | Path | None = None, *,
                 timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        verify: Any = client_context(ca_file) if ca_file is not None else True
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                         transport=transport, verify=verify, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SalesforceDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _call(self, verb: str, path: str, body: dict[str, Any] | None = None,
                    query: dict[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        response = await self._client.request(verb, f"/sim/{path}", params=params,
                                              json=body)
        data = response.json()
        if not data.get("ok"):
            raise DriverError(response.status_code, str(data.get("description", "")))
        return data["result"]

    # -- the org ---------------------------------------------------------------------------

    async def org(self) -> dict[str, Any]:
        """Org id, instance URL, the integration login and the seeded users' ids."""
        return dict(await self._call("GET", "org"))

    async def create_user(self, name: str, *, email: str | None = None,
                          username: str | None = None,
                          password: str | None = None) -> dict[str, Any]:
        """A new active user (an agent); ``name`` is "First Last" or just a last name."""
        first, _, last = name.strip().rpartition(" ")
        return dict(await self._call("POST", "users", {
            "first_name": first or None, "last_name": last, "email": email,
            "username": username, "password": password}))

    async def create_group(self, name: str, *, group_type: str = "Queue",
                           email: str | None = None) -> dict[str, Any]:
        """A Group; by default a queue that can own Cases."""
        return dict(await self._call("POST", "groups", {"name": name, "type": group_type,
                                                        "email": email}))

    async def restrict_picklist(self, sobject: str, field: str,
                                values: list[str] | None = None) -> dict[str, Any]:
        """Restrict a picklist (to ``values``, else its current values), as an admin does;
        API writes of other values are then refused. Returns the field's describe."""
        return dict(await self._call("POST", f"picklists/{sobject}/{field}",
                                     {"values": values}))

    # -- agents act ------------------------------------------------------------------------

    async def post_case_comment(self, case_id: str, body: str, *, user_id: str | None = None,
                                is_published: bool = True) -> dict[str, Any]:
        """An agent comments on a Case (a CaseComment created by ``user_id``)."""
        return dict(await self._call("POST", f"cases/{case_id}/comments", {
            "body": body, "user_id": user_id, "is_published": is_published}))

    async def set_case_status(self, case_id: str, status: str, *,
                              user_id: str | None = None) -> dict[str, Any]:
        return dict(await self._call("POST", f"cases/{case_id}/status",
                                     {"status": status, "user_id": user_id}))

    async def set_case_owner(self, case_id: str, owner_id: str, *,
                             user_id: str | None = None) -> dict[str, Any]:
        """Assign a Case to a user or a queue."""
        return dict(await self._call("POST", f"cases/{case_id}/owner",
                                     {"owner_id": owner_id, "user_id": user_id}))

    async def create(self, sobject: str, fields: dict[str, Any], *,
                     user_id: str | None = None) -> dict[str, Any]:
        """Any record, created by an agent (not counted, never refused by faults)."""
        return dict(await self._call("POST", f"records/{sobject}",
                                     {"fields": fields, "user_id": user_id}))

    async def update(self, sobject: str, record_id: str, fields: dict[str, Any], *,
                     user_id: str | None = None) -> dict[str, Any]:
        return dict(await self._call("PATCH", f"records/{sobject}/{record_id}",
                                     {"fields": fields, "user_id": user_id}))

    async def delete(self, sobject: str, record_id: str, *,
                     user_id: str | None = None) -> dict[str, Any]:
        return dict(await self._call("DELETE", f"records/{sobject}/{record_id}",
                                     query={"user_id": user_id}))

    async def create_article(self, title: str, summary: str = "", *,
                             url_name: str | None = None, language: str = "en_US",
                             publish: bool = True,
                             user_id: str | None = None) -> dict[str, Any]:
        """A Knowledge article (a ``Knowledge__kav`` version 1, and its master
        ``KnowledgeArticle``), published (``PublishStatus`` Online) unless told not to."""
        slug = url_name or "-".join("".join(c if c.isalnum() else " " for c in title.lower())
                                    .split())
        return await self.create("Knowledge__kav", {
            "Title": title, "Summary": summary, "UrlName": slug, "Language": language,
            "PublishStatus": "Online" if publish else "Draft"}, user_id=user_id)

    async def create_quick_text(self, name: str, message: str, *,
                                user_id: str | None = None) -> dict[str, Any]:
        """A Quick Text (canned response) as an admin or agent writes it."""
        return await self.create("QuickText", {"Name": name, "Message": message},
                                 user_id=user_id)

    # -- observe ---------------------------------------------------------------------------

    async def records(self, sobject: str, *, include_deleted: bool = False,
                      **filters: Any) -> list[dict[str, Any]]:
        """Every record of ``sobject`` whose fields equal ``filters`` (creation order)."""
        return list(await self._call("GET", f"records/{sobject}", query={
            "filters": json.dumps(filters), "include_deleted": str(include_deleted).lower()}))

    async def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """One record, deleted or not."""
        return dict(await self._call("GET", f"records/{sobject}/{record_id}"))

    async def api_calls(self) -> int:
        """REST calls counted since start (or the last :meth:`reset_api_usage`)."""
        return int((await self.api_usage())["calls"])

    async def api_usage(self) -> dict[str, int]:
        """``{used, max, remaining, calls}`` of the daily allocation."""
        return dict(await self._call("GET", "api_usage"))

    # -- disturb ---------------------------------------------------------------------------

    async def set_api_usage(self, used: int) -> dict[str, int]:
        return dict(await self._call("POST", "api_usage", {"used": used}))

    async def exhaust_api_limit(self) -> dict[str, int]:
        """Use up the daily allocation: REST calls answer 403 REQUEST_LIMIT_EXCEEDED."""
        return dict(await self._call("POST", "api_usage/exhaust", {}))

    async def reset_api_usage(self) -> dict[str, int]:
        return dict(await self._call("DELETE", "api_usage"))

    async def start_outage(self, count: int | None = None, *, status: int = 503,
                           scope: str = "api") -> dict[str, Any]:
        """The next ``count`` calls (``None``: until cleared) answer ``status``."""
        return dict(await self._call("POST", "faults/outage",
                                     {"count": count, "status": status, "scope": scope}))

    async def set_latency(self, seconds: float) -> dict[str, Any]:
        return dict(await self._call("POST", "faults/latency", {"seconds": seconds}))

    async def lock_rows(self, count: int) -> dict[str, Any]:
        """The next ``count`` API writes answer 400 UNABLE_TO_LOCK_ROW."""
        return dict(await self._call("POST", "faults/lock_rows", {"count": count}))

    async def clear_faults(self) -> dict[str, Any]:
        return dict(await self._call("DELETE", "faults"))

    async def faults(self) -> dict[str, Any]:
        return dict(await self._call("GET", "faults"))

    async def expire_sessions(self) -> int:
        """End every session now (API calls answer 401 INVALID_SESSION_ID)."""
        return int((await self._call("POST", "sessions/expire", {}))["expired"])

    async def register_jwt_key(self, consumer_key: str, public_key_pem: str) -> None:
        """Trust this PEM public key or certificate for JWT bearer logins of the app."""
        await self._call("POST", "jwt_keys", {"consumer_key": consumer_key,
                                              "public_key_pem": public_key_pem})

    async def requests(self, *, refused: bool = False) -> list[dict[str, Any]]:
        """The org's request log (only the refused calls when ``refused``)."""
        return list(await self._call("GET", "requests", query={"refused": refused or None}))

    async def clear_requests(self) -> None:
        await self._call("DELETE", "requests")

    async def set_assignment_rule(self, owner_id: str | None) -> None:
        """Activate a Case assignment rule giving Cases to ``owner_id`` (``None``: none)."""
        await self._call("POST", "assignment_rule", {"owner_id": owner_id})

    async def define_entitlement_process(self, name: str,
                                         milestones: dict[str, int]) -> dict[str, Any]:
        """An active entitlement process with milestones (MilestoneType name -> minutes):
        ``{id, milestone_types: {name: id}}``."""
        answer: dict[str, Any] = await self._call("POST", "entitlement_process",
                                                  {"name": name, "milestones": milestones})
        return answer

    async def notifications(self) -> list[dict[str, Any]]:
        """The custom notifications the org sent (``customNotificationAction``), oldest first:
        ``{type_id, recipient_ids, delivered_to, title, body, target_id, ...}``."""
        answer: list[dict[str, Any]] = await self._call("GET", "notifications")
        return answer

    async def set_case_field_history(self, enabled: bool) -> None:
        """Turn field history tracking of the Case's Status and Owner on or off."""
        await self._call("POST", "field_history", {"enabled": enabled})

    async def enable_soap_login(self, enabled: bool) -> None:
        await self._call("POST", "soap_login", {"enabled": enabled})

    async def set_page_size(self, size: int | None) -> None:
        """Force the query batch size (``None``: back to Salesforce's 2000)."""
        await self._call("POST", "page_size", {"size": size})

    async def now(self) -> str:
        """The org's current time, as a Salesforce datetime."""
        return str((await self._call("GET", "clock"))["now"])

    async def advance_clock(self, seconds: float) -> str:
        """Move the org's clock forward; returns the new now."""
        return str((await self._call("POST", "clock/advance", {"seconds": seconds}))["now"])
