"""One simulated Salesforce org: its records, users, sessions, limits, faults and clock.

The org is seeded with two users: the **integration user** telecase logs in as (username,
password, security token, and a connected app's consumer key and secret) and a default
**agent** (``Alex Agent``) in whose name the driver acts when no other user is given; and with
three published Knowledge articles (:data:`KNOWLEDGE_ARTICLES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simulators.salesforce import ids, sales, security
from simulators.salesforce.auth import Auth, Credentials
from simulators.salesforce.cursors import Cursors
from simulators.salesforce.faults import Faults
from simulators.salesforce.limits import ApiLimits
from simulators.salesforce.notifications import Notifications
from simulators.salesforce.request_log import RequestLog
from simulators.salesforce.schema import build_types
from simulators.salesforce.store import Record, Store
from simulators.salesforce.timefmt import SimClock
from simulators.salesforce.tooling import Tooling

MIN_VERSION = 31.0
"""The oldest API version an org still serves: 21.0 through 30.0 are retired and unavailable as
of Summer '25, 7.0 through 20.0 as of Summer '22, and "if you request any resource or use an
operation from a retired API version, REST API returns the 410:GONE error code" (REST API
Developer Guide, "API End-of-Life Policy",
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/api_rest_eol.htm)."""
SCHEMAS = frozenset({"telecase", "standard"})
"""``telecase``: telecase's custom fields pre-created and any ``__c`` accepted (the default
for now); ``standard``: only Salesforce's standard schema, everything else created at runtime
through the Tooling API and granted by permission sets, field lengths enforced."""


@dataclass(frozen=True)
class IntegrationLogin:
    """The seeded integration user's credentials and connected app."""

    username: str = "integration@telecase.sim"
    password: str = "Telecase-Sim-1"
    security_token: str = "SimSecurityToken0000000"
    consumer_key: str = "3MVG9telecase.simulator.integration.app"
    consumer_secret: str = "7E1ECA5E0000000000000000000000000000000000000000000000000000000000"


KNOWLEDGE_ARTICLES: tuple[tuple[str, str, str], ...] = (
    ("Refund policy", "refund-policy",
     "Annual plans can be refunded in full within 30 days of purchase, and pro rata after "
     "that. Monthly plans are not refunded but can be cancelled at any time."),
    ("Pricing and plans", "pricing-and-plans",
     "Team costs $10 per seat a month, Business $25 per seat a month billed annually; volume "
     "discounts start at 50 seats."),
    ("Reset your password", "reset-your-password",
     "Use 'Forgot password' on the sign-in page; the link in the email is valid for one hour."),
)
"""The published articles (``Knowledge__kav``, ``PublishStatus`` Online, ``en_US``) every
simulated org starts with."""


class Org:
    """Everything one simulated org knows."""

    def __init__(self, *, api_version: str = "68.0", daily_api_limit: int = 15000,
                 clock: Callable[[], float] = time.time, session_ttl: float = 7200.0,
                 require_security_token: bool = True,
                 login: IntegrationLogin | None = None, schema: str = "telecase",
                 soap_login: bool = True, my_domain: str | None = None,
                 jwt_certificate: str | None = None, client_credentials: bool = False,
                 case_assignment_queue: str | None = None,
                 case_field_history: bool = True) -> None:
        """See :class:`SalesforceSimulator` for the options."""
        if not MIN_VERSION <= float(api_version) <= 99.0:
            raise ValueError(f"unsupported api_version {api_version!r}")
        if schema not in SCHEMAS:
            raise ValueError(f"schema must be one of {sorted(SCHEMAS)}, not {schema!r}")
        self.api_version = api_version
        self.schema = schema
        self.soap_login = soap_login
        self.my_domain_url = f"https://{my_domain}.salesforce.com" if my_domain else None
        self.clock = SimClock(clock)
        self.faults = Faults()
        self.log = RequestLog()
        strict = schema == "standard"
        self.store = Store(self.clock, gate=self.faults.gate,
                           types=build_types(standard=strict), strict=strict)
        self.store.case_field_history = case_field_history
        self.tooling = Tooling(self.store, self.clock)
        self.notifications = Notifications(self.store)
        self.limits = ApiLimits(self.clock, daily_api_limit)
        self.cursors = Cursors(self.clock)
        self.org_id = ids.IdFactory(start=3_000_000).new("00D")
        self.auth = Auth(self.clock, self.org_id, session_ttl=session_ttl,
                         require_security_token=require_security_token)
        self.login = login or IntegrationLogin()
        self.instance_url = ""
        self.integration_user_id = self._seed_integration_user()
        self.agent_user_id = self.create_user("Alex", "Agent", "agent@telecase.sim").id
        sales.seed(self.store, self.integration_user_id)
        if jwt_certificate is not None:
            self.auth.register_jwt_key(self.login.consumer_key, jwt_certificate)
        if client_credentials:
            self.auth.enable_client_credentials(self.login.consumer_key,
                                                self.integration_user_id)
        if case_assignment_queue is not None:
            queue = self.store.create("Group", {"Name": case_assignment_queue,
                                                "Type": "Queue"}, self.integration_user_id,
                                      gated=False)
            self.store.case_assignment_owner = queue.id
        for title, url_name, summary in KNOWLEDGE_ARTICLES:
            self.store.create("Knowledge__kav", {
                "Title": title, "UrlName": url_name, "Summary": summary,
                "PublishStatus": "Online", "Language": "en_US"}, self.agent_user_id,
                gated=False)

    def retired(self, version: str) -> bool:
        """Whether ``version`` names a retired API version (below :data:`MIN_VERSION`)."""
        try:
            number = float(version)
        except ValueError:
            return False
        return 7.0 <= number < MIN_VERSION and version.count(".") == 1

    def supports(self, version: str) -> bool:
        """Whether ``/services/data/v<version>`` exists on this org."""
        try:
            number = float(version)
        except ValueError:
            return False
        return MIN_VERSION <= number <= float(self.api_version) and version.count(".") == 1

    def versions(self) -> list[dict[str, str]]:
        top = int(float(self.api_version))
        return [{"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(int(MIN_VERSION), top + 1)]

    @property
    def strict(self) -> bool:
        """Whether the org holds only Salesforce's standard schema (``schema="standard"``)."""
        return self.schema == "standard"

    def access(self, user_id: str, headers: Mapping[str, str]) -> security.Access:
        """What ``user_id`` may see and write in one request (``headers`` lower-cased)."""
        auto_assign = headers.get("sforce-auto-assign", "TRUE").strip().upper() != "FALSE"
        if not self.strict:
            return security.Access(auto_assign=auto_assign)
        readable, editable = self._granted(user_id)
        hidden: set[tuple[str, str]] = set()
        read_only: set[tuple[str, str]] = set()
        for kind in self.store.types.values():
            for one in kind.fields.values():
                key = (kind.name.lower(), one.name.lower())
                if not one.custom:
                    continue
                if key not in readable:
                    hidden.add(key)
                elif key not in editable:
                    read_only.add(key)
        return security.Access(frozenset(hidden), frozenset(read_only), auto_assign)

    def _granted(self, user_id: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """Fields the user's permission sets grant: ``(readable, editable)``."""
        store = self.store
        sets = {a.fields.get("PermissionSetId") for a in store.all("PermissionSetAssignment")
                if a.fields.get("AssigneeId") == user_id}
        readable: set[tuple[str, str]] = set()
        editable: set[tuple[str, str]] = set()
        for grant in store.all("FieldPermissions"):
            if grant.fields.get("ParentId") not in sets or not grant.fields.get(
                    "PermissionsRead"):
                continue
            object_name, _, field_name = str(grant.fields.get("Field", "")).partition(".")
            key = (object_name.lower(), field_name.lower())
            readable.add(key)
            if grant.fields.get("PermissionsEdit"):
                editable.add(key)
        return readable, editable

    def create_user(self, first_name: str | None, last_name: str, email: str, *,
                    username: str | None = None, password: str | None = None,
                    created_by: str | None = None) -> Record:
        """A new active user (able to log in when ``password`` is given)."""
        record = self.store.create("User", {
            "FirstName": first_name, "LastName": last_name, "Email": email,
            "Username": username or email, "Alias": (last_name or "user")[:8].lower()},
            created_by or self.integration_user_id, gated=False)
        if password is not None:
            self.auth.add_user(Credentials(record.fields["Username"], password, "",
                                           record.id))
        return record

    def display_name(self, user_id: str) -> tuple[str, str]:
        record = self.store.by_id(user_id)
        fields = record.fields if record else {}
        return str(fields.get("Name", "")), str(fields.get("Email", ""))

    def _seed_integration_user(self) -> str:
        login = self.login
        record = self.store.create("User", {
            "FirstName": "Telecase", "LastName": "Integration", "Email": login.username,
            "Username": login.username, "Alias": "tcint"}, "005000000000000AAA", gated=False)
        record.fields.update({"CreatedById": record.id, "LastModifiedById": record.id})
        self.auth.add_user(Credentials(login.username, login.password, login.security_token,
                                       record.id))
        self.auth.add_app(login.consumer_key, login.consumer_secret)
        return record.id
