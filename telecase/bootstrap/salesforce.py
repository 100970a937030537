"""Building the Salesforce client (simple-salesforce) and the sync from settings.

Every client sends its requests through a :class:`~connectors.api_calls.MeteredSession`, so
each Salesforce call telecase makes is counted in ``telecase_salesforce_api_calls_total``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.api_calls import MeteredSession
from connectors.raw_log import RawLog
from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
from connectors.salesforce.change_poller import ChangePoller, LogWatermarks, SalesforceChangeApi
from connectors.salesforce.http import redirect_logins
from streams.runtime.bus import Bus
from streams.runtime.topics import TopicNames
from telecase.settings import Settings, SettingsError


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def http_session(settings: Settings) -> MeteredSession:
    """The session simple-salesforce sends through. With ``salesforce_login_url`` it trusts
    ``salesforce_ca_file``, ignores proxy and CA-bundle variables, and sends the login hosts'
    requests to that URL (:func:`connectors.salesforce.http.redirect_logins`)."""
    session = MeteredSession()
    if settings.salesforce_login_url:
        redirect_logins(session, settings.salesforce_login_url, settings.salesforce_ca_file)
    return session


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
                              "domain": settings.salesforce_domain,
                              "session": http_session(settings)}
    try:
        return await asyncio.to_thread(Salesforce, **kwargs)
    except SalesforceAuthenticationFailed as exc:
        raise SettingsError(f"Salesforce login failed: {exc.message}") from None


async def case_sync(settings: Settings) -> CaseSync:
    return CaseSync(SimpleSalesforceApi(await connect(settings)),
                    customer_object=settings.salesforce_customer_object,
                    message_object=settings.salesforce_message_object,
                    lead_source=settings.salesforce_lead_source)


async def change_poller(settings: Settings, raw_log: RawLog, bus: Bus,
                        names: TopicNames) -> ChangePoller:
    """The poller for agents' changes, appending to ``salesforce.changes`` through
    ``raw_log`` and recovering its watermark from that topic on ``bus``."""
    overlap = settings.salesforce_poll_overlap
    return ChangePoller(
        SalesforceChangeApi(await connect(settings)), raw_log,
        integration_user_id=settings.salesforce_integration_user_id,
        integration_username=None if settings.salesforce_integration_user_id
        else settings.salesforce_username,
        watermarks=LogWatermarks(bus, names.salesforce_changes, overlap=overlap),
        interval=settings.salesforce_poll_interval, overlap=overlap,
        lookback=settings.salesforce_poll_lookback,
        max_backoff=settings.salesforce_poll_max_backoff)
