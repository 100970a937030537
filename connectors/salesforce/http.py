"""The HTTP session simple-salesforce sends through: sending login requests elsewhere.

simple-salesforce builds its login URLs from ``domain``: ``https://{domain}.salesforce.com``
(``/services/Soap/u/<v>`` for username + password + security token,
``/services/oauth2/token`` for the OAuth flows), so no ``domain`` can name another host, such
as a test org behind a proxy or the Salesforce simulator on ``127.0.0.1:PORT``. What it does
accept is a ``requests.Session``. :func:`redirect_logins` mounts a
:class:`LoginRedirectAdapter` on such a session: requests for Salesforce's login hosts go to
the given base URL instead (what a hosts-file entry would do), and the session trusts the
given CA. The login answer names the instance, so data calls then go there directly.
``telecase.bootstrap.salesforce`` applies it when ``TELECASE_SALESFORCE_LOGIN_URL`` is set;
tests use it to point simple-salesforce at the simulator.

:func:`watch_limit_info` hands the ``Sforce-Limit-Info`` header of every answer the session
receives (whichever component made the call) to a callback: the process's
:class:`~connectors.salesforce.limit_guard.LimitGuard`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

#: Paths of the login and token endpoints simple-salesforce calls on ``{domain}.salesforce.com``
#: (SOAP ``login()``, and the OAuth token endpoint of the JWT bearer, client credentials and
#: username-password flows), whatever the domain: login, test or a My Domain.
LOGIN_PATHS = ("/services/Soap/u/", "/services/oauth2/")
LIMIT_INFO = "Sforce-Limit-Info"
SessionT = TypeVar("SessionT", bound=requests.Session)


class LoginRedirectAdapter(HTTPAdapter):
    """Sends login and token requests for any ``*.salesforce.com`` host to ``base_url``."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        if ((parts.hostname or "").endswith(".salesforce.com")
                and parts.path.startswith(LOGIN_PATHS)):
            query = f"?{parts.query}" if parts.query else ""
            request.url = self.base_url + parts.path + query
            # as a hosts-file entry would: the server still sees which host was asked
            request.headers["Host"] = parts.netloc
        return super().send(request, *args, **kwargs)


def redirect_logins(session: requests.Session, base_url: str,
                    ca_file: str | None) -> requests.Session:
    """Set up ``session`` (and return it) to trust ``ca_file``, ignore proxy and CA-bundle
    environment variables, and send the login hosts' requests to ``base_url``."""
    session.trust_env = False
    if ca_file is not None:
        session.verify = ca_file
    session.mount("https://", LoginRedirectAdapter(base_url))
    return session


def watch_limit_info(session: SessionT, observe: Callable[[str], object]) -> SessionT:
    """Set up ``session`` (and return it) to pass the ``Sforce-Limit-Info`` value of every
    answer that carries one to ``observe`` (a response hook: simple-salesforce sends every
    call through ``session.request``)."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        value = response.headers.get(LIMIT_INFO)
        if value:
            observe(value)

    session.hooks["response"].append(hook)
    return session
