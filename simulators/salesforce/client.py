"""Pointing the unmodified simple-salesforce client at the simulator.

simple-salesforce builds its login URLs from ``domain``: ``https://{domain}.salesforce.com``
(``/services/Soap/u/<v>`` for username + password + security token,
``/services/oauth2/token`` for the consumer key/secret and JWT flows), so no ``domain`` can
name ``127.0.0.1:PORT``. What it does accept is a ``requests.Session``. The session from
:func:`requests_session` trusts the simulator's CA and routes ``https://login.salesforce.com``
and ``https://test.salesforce.com`` to the simulator — the same thing a hosts-file entry
would do — so every login flow of simple-salesforce works unchanged, including the automatic
re-login it performs when a call answers 401 ``INVALID_SESSION_ID``::

    session = requests_session(sim.base_url, sim.ca_file)
    sf = Salesforce(username=sim.username, password=sim.password,
                    security_token=sim.security_token, session=session)

The login answers name the simulator as the instance, so data calls go there directly.
Alternatives that need no redirection: ``SalesforceLogin(..., scratch_url=sim.base_url,
session=session)`` (SOAP), or a token from ``POST {base_url}/services/oauth2/token`` and
``Salesforce(instance_url=..., session_id=..., session=session)``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

LOGIN_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")


class LoginRedirectAdapter(HTTPAdapter):
    """Sends requests for Salesforce's login hosts (and a My Domain) to the simulator
    instead, keeping the ``Host`` header the client meant, as a hosts-file entry would (the
    simulator refuses the client credentials flow on ``login.salesforce.com``)."""

    def __init__(self, base_url: str, hosts: tuple[str, ...] = LOGIN_HOSTS) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.hosts = hosts

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for host in self.hosts:
            if url.startswith(host):
                request.url = self.base_url + url[len(host):]
                request.headers["Host"] = urlsplit(host).netloc
                break
        return super().send(request, *args, **kwargs)


def requests_session(base_url: str, ca_file: str | None, *,
                     my_domain: str | None = None) -> requests.Session:
    """A ``requests.Session`` for simple-salesforce: trusts ``ca_file``, ignores proxy and
    CA-bundle environment variables, and sends login-host requests (and those for
    ``https://{my_domain}.salesforce.com``, e.g. ``my_domain="acme.my"``) to ``base_url``."""
    session = requests.Session()
    session.trust_env = False
    if ca_file is not None:
        session.verify = ca_file
    hosts = LOGIN_HOSTS + ((f"https://{my_domain}.salesforce.com",) if my_domain else ())
    adapter = LoginRedirectAdapter(base_url, hosts)
    for host in hosts:
        session.mount(host + "/", adapter)
    return session
