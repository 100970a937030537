"""One simulated Salesforce org: its records, users, sessions, limits, faults and clock.

The org is seeded with two users: the **integration user** telecase logs in as (username,
password, security token, and a connected app's consumer key and secret) and a default
**agent** (``Alex Agent``) in whose name the driver acts when no other user is given; and with
three published Knowledge articles (:data:`KNOWLEDGE_ARTICLES`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from simulators.salesforce import ids
from simulators.salesforce.auth import Auth, Credentials
from simulators.salesforce.cursors import Cursors
from simulators.salesforce.faults import Faults
from simulators.salesforce.limits import ApiLimits
from simulators.salesforce.store import Record, Store
from simulators.salesforce.timefmt import SimClock

MIN_VERSION = 20.0


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
                 login: IntegrationLogin | None = None) -> None:
        if not MIN_VERSION <= float(api_version) <= 99.0:
            raise ValueError(f"unsupported api_version {api_version!r}")
        self.api_version = api_version
        self.clock = SimClock(clock)
        self.faults = Faults()
        self.store = Store(self.clock, gate=self.faults.gate)
        self.limits = ApiLimits(self.clock, daily_api_limit)
        self.cursors = Cursors(self.clock)
        self.org_id = ids.IdFactory(start=3_000_000).new("00D")
        self.auth = Auth(self.clock, self.org_id, session_ttl=session_ttl,
                         require_security_token=require_security_token)
        self.login = login or IntegrationLogin()
        self.instance_url = ""
        self.integration_user_id = self._seed_integration_user()
        self.agent_user_id = self.create_user("Alex", "Agent", "agent@telecase.sim").id
        for title, url_name, summary in KNOWLEDGE_ARTICLES:
            self.store.create("Knowledge__kav", {
                "Title": title, "UrlName": url_name, "Summary": summary,
                "PublishStatus": "Online", "Language": "en_US"}, self.agent_user_id,
                gated=False)

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
