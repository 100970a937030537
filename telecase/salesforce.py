"""Building the Salesforce client (simple-salesforce) and the sync from settings."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.simulator.client import requests_session
from telecase.settings import Settings, SettingsError


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


async def connect(settings: Settings) -> Any:
    """A logged-in ``simple_salesforce.Salesforce`` (it logs in again by itself when the
    session expires)."""
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    if not settings.has_salesforce_credentials:
        raise SettingsError("TELECASE_SALESFORCE_USERNAME and TELECASE_SALESFORCE_PASSWORD "
                            "are not set")
    kwargs: dict[str, Any] = {"username": settings.salesforce_username,
                              "password": _secret(settings.salesforce_password),
                              "security_token": _secret(settings.salesforce_security_token),
                              "domain": settings.salesforce_domain}
    if settings.salesforce_login_url:
        kwargs["session"] = requests_session(settings.salesforce_login_url,
                                             settings.salesforce_ca_file)
    try:
        return await asyncio.to_thread(Salesforce, **kwargs)
    except SalesforceAuthenticationFailed as exc:
        raise SettingsError(f"Salesforce login failed: {exc.message}") from None


async def case_sync(settings: Settings) -> CaseSync:
    return CaseSync(SimpleSalesforceApi(await connect(settings)))
