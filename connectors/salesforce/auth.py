"""Logging in to Salesforce: which OAuth 2.0 flow, with what, and one login per process.

Three flows, all through simple-salesforce's own parameters:

- ``jwt``: the OAuth 2.0 JWT bearer flow of an External Client App or Connected App: the
  consumer key, the private key whose certificate the admin uploaded to the app, and the
  username of a pre-authorised integration user. No password, no secret, nothing interactive.
  ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration",
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm)
- ``client_credentials``: the consumer key and secret of an app with the client credentials
  flow enabled and a run-as user; the token request must go to the org's My Domain, never to
  ``login``/``test``. ("OAuth 2.0 Client Credentials Flow for Server-to-Server Integration",
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm)
- ``password``: legacy SOAP ``login()`` with username, password and security token. Orgs
  created from Winter '26 have it disabled by default, it is not available from API version
  65.0 on, and it is retired in Summer '27 ("SOAP API End-of-Life Policy",
  https://developer.salesforce.com/docs/platform/api/guide/api-eol-soap.html), so this flow
  logs in and calls the API at version 64.0 at most, and the process warns at start.

simple-salesforce logs in again by itself when a call answers 401 ``INVALID_SESSION_ID``, with
whichever flow it was built with. :func:`shared_client` keeps one logged-in client per set of
credentials in the process, so the case sync, the change poller and the agents' commands share
one session instead of logging in three times at start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from connectors.errors import ConnectorError

#: The last API version whose SOAP ``login()`` exists (see the module docstring).
LAST_SOAP_LOGIN_VERSION = "64.0"


class AuthFlow(StrEnum):
    JWT = "jwt"
    CLIENT_CREDENTIALS = "client_credentials"
    PASSWORD = "password"


class SalesforceAuthError(ConnectorError):
    """The credentials cannot log in (wrong, missing, or refused by the org)."""


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.removeprefix("v").split("."))


@dataclass(frozen=True)
class Credentials:
    """What one flow needs; :meth:`client_kwargs` turns it into simple-salesforce's."""

    flow: AuthFlow
    domain: str = "login"
    api_version: str = "68.0"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    private_key_file: str | None = None

    @property
    def effective_version(self) -> str:
        """The API version the client speaks: SOAP ``login()`` caps the legacy flow."""
        if (self.flow is AuthFlow.PASSWORD and _version_tuple(self.api_version)
                > _version_tuple(LAST_SOAP_LOGIN_VERSION)):
            return LAST_SOAP_LOGIN_VERSION
        return self.api_version.removeprefix("v")

    def client_kwargs(self) -> dict[str, Any]:
        common: dict[str, Any] = {"domain": self.domain, "version": self.effective_version}
        if self.flow is AuthFlow.JWT:
            return {**common, "username": self.username, "consumer_key": self.consumer_key,
                    "privatekey_file": self.private_key_file}
        if self.flow is AuthFlow.CLIENT_CREDENTIALS:
            return {**common, "consumer_key": self.consumer_key,
                    "consumer_secret": self.consumer_secret}
        return {**common, "username": self.username, "password": self.password,
                "security_token": self.security_token or ""}

    def key(self) -> tuple[str, ...]:
        """What identifies one login (never a secret)."""
        return (self.flow.value, self.domain, self.effective_version, self.username or "",
                self.consumer_key or "")


class SharedClients:
    """One logged-in simple-salesforce client per credentials and login address, for the
    whole process. Thread-safe: components log in from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, ...], Any] = {}

    def get(self, credentials: Credentials, route: str, login: Callable[[], Any]) -> Any:
        key = (*credentials.key(), route)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = login()
                self._clients[key] = client
            return client

    def forget(self) -> None:
        with self._lock:
            self._clients.clear()


def login(credentials: Credentials, session: Any) -> Any:
    """A logged-in ``simple_salesforce.Salesforce`` (blocking: call it from a thread).
    Raises :class:`SalesforceAuthError` with Salesforce's own reason when the org refuses."""
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    try:
        return Salesforce(session=session, **credentials.client_kwargs())
    except SalesforceAuthenticationFailed as exc:
        raise SalesforceAuthError(f"{credentials.flow.value} login refused: "
                                  f"{exc.code} {exc.message}") from None


def current_user_id(client: Any, domain: str) -> str:
    """The Id of the user the client's token belongs to (the JWT subject, or the client
    credentials flow's run-as user), from the OpenID Connect UserInfo endpoint ("Query for
    User Information",
    https://help.salesforce.com/HTViewHelpDoc?id=remoteaccess_using_userinfo_endpoint.htm).
    Blocking: call it from a thread."""
    response = client.session.get(
        f"https://{domain}.salesforce.com/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {client.session_id}"}, timeout=30)
    if response.status_code != 200:
        raise SalesforceAuthError(f"userinfo answered {response.status_code}: "
                                  f"{response.text[:200]}")
    return str(response.json()["user_id"])
