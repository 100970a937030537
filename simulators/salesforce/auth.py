"""Who may call the org: users' credentials, connected apps, sessions, OAuth grants.

``POST /services/oauth2/token`` (form-encoded) answers three grants:

- ``grant_type=password`` with ``client_id``, ``client_secret``, ``username`` and
  ``password`` (the password followed by the user's security token — the simulated org
  treats every caller as outside its trusted IP ranges unless built with
  ``require_security_token=False``). Answer: ``access_token``, ``instance_url``, ``id``,
  ``token_type`` "Bearer", ``issued_at`` (milliseconds, as a string) and ``signature``
  (base64 HMAC-SHA256 of ``id + issued_at`` keyed with the client secret).
- ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with ``assertion`` (see
  ``jwt_bearer``). Answer: ``access_token``, ``scope``, ``instance_url``, ``id``,
  ``token_type``. Audiences: the login hosts, the instance and the org's My Domain URL.
- ``grant_type=client_credentials`` with ``client_id`` and ``client_secret`` (form fields or
  HTTP Basic) on the My Domain host, when the app has a run-as user
  (:meth:`Auth.enable_client_credentials`). Answer: as the password grant, plus ``scope``.

Errors are HTTP 400 ``{"error", "error_description"}``: ``invalid_client_id`` "client
identifier invalid", ``invalid_client`` "invalid client credentials", ``invalid_grant``
"authentication failure", ``unsupported_grant_type`` "grant type not supported".

A session is valid until it has been idle for ``session_ttl`` seconds (Salesforce's session
timeout; 2 hours by default) or until the driver expires every session. An API call with an
unknown or expired session answers 401 ``INVALID_SESSION_ID`` "Session expired or invalid".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from simulators.salesforce import jwt_bearer
from simulators.salesforce.errors import OAuthError, invalid_session
from simulators.salesforce.timefmt import SimClock

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})


@dataclass
class Credentials:
    username: str
    password: str
    security_token: str
    user_id: str


@dataclass
class ConnectedApp:
    consumer_key: str
    consumer_secret: str
    public_key: rsa.RSAPublicKey | None = None
    run_as_user_id: str | None = None
    """The client credentials flow's run-as user (``None``: the flow is not enabled)."""


@dataclass
class Session:
    user_id: str
    last_used: float


class Auth:
    """Credentials, connected apps and live sessions of one org."""

    def __init__(self, clock: SimClock, org_id: str, *, session_ttl: float = 7200.0,
                 require_security_token: bool = True) -> None:
        self.clock = clock
        self.org_id = org_id
        self.session_ttl = session_ttl
        self.require_security_token = require_security_token
        self._users: dict[str, Credentials] = {}
        self._apps: dict[str, ConnectedApp] = {}
        self._sessions: dict[str, Session] = {}

    # -- setup ---------------------------------------------------------------------------

    def add_user(self, credentials: Credentials) -> None:
        self._users[credentials.username.lower()] = credentials

    def add_app(self, consumer_key: str, consumer_secret: str) -> ConnectedApp:
        app = self._apps.setdefault(consumer_key, ConnectedApp(consumer_key, consumer_secret))
        app.consumer_secret = consumer_secret
        return app

    def register_jwt_key(self, consumer_key: str, public_key_pem: str) -> None:
        """Trust ``public_key_pem`` (PEM key or certificate) for assertions from this app."""
        app = self._apps.get(consumer_key) or self.add_app(consumer_key, secrets.token_hex(32))
        app.public_key = jwt_bearer.load_public_key(public_key_pem)

    def enable_client_credentials(self, consumer_key: str, run_as_user_id: str) -> None:
        """Enable the client credentials flow for the app, run as ``run_as_user_id``."""
        self._apps[consumer_key].run_as_user_id = run_as_user_id

    # -- sessions ------------------------------------------------------------------------

    def open_session(self, user_id: str) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        self._sessions[token] = Session(user_id, self.clock.now())
        return token

    def authenticate(self, authorization: str | None) -> str:
        """The user id behind an ``Authorization: Bearer <token>`` header (else 401)."""
        scheme, _, token = (authorization or "").partition(" ")
        session = self._sessions.get(token.strip())
        if scheme.lower() not in {"bearer", "oauth"} or session is None:
            raise invalid_session()
        now = self.clock.now()
        if now - session.last_used > self.session_ttl:
            del self._sessions[token.strip()]
            raise invalid_session()
        session.last_used = now
        return session.user_id

    def expire_sessions(self) -> int:
        """End every session now; returns how many there were."""
        count = len(self._sessions)
        self._sessions.clear()
        return count

    def check_password(self, username: str, secret: str) -> Credentials | None:
        """The user whose password (+ security token) is ``secret``."""
        user = self._users.get(username.lower())
        if user is None:
            return None
        accepted = {user.password + user.security_token}
        if not self.require_security_token:
            accepted.add(user.password)
        return user if any(hmac.compare_digest(secret, a) for a in accepted) else None

    # -- the token endpoint --------------------------------------------------------------

    def token(self, form: Mapping[str, str], instance_url: str, *, host: str = "",
              audiences: set[str] | None = None) -> dict[str, Any]:
        """Answer ``POST /services/oauth2/token`` (raises ``OAuthError``). ``host`` is the
        Host the client addressed; ``audiences`` the org's own URLs a JWT may name besides
        the login hosts (the instance, the My Domain)."""
        grant = form.get("grant_type", "")
        if grant == "password":
            return self._password_grant(form, instance_url)
        if grant == JWT_GRANT:
            return self._jwt_grant(form, instance_url, audiences or {instance_url})
        if grant == "client_credentials":
            return self._client_credentials_grant(form, instance_url, host)
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client_credentials_grant(self, form: Mapping[str, str], instance_url: str,
                                  host: str) -> dict[str, Any]:
        """OAuth 2.0 Client Credentials Flow for Server-to-Server Integration
        (https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_client_credentials_flow.htm):
        ``client_id`` + ``client_secret`` against the org's My Domain; "The client credentials
        flow doesn't support calls to login.salesforce.com or test.salesforce.com" (Migrate
        from OAuth Username-Password to Client Credentials Flow,
        https://help.salesforce.com/s/articleView?id=000886201&type=1). The token is the
        run-as user's. Error texts for a login host and a flow without a run-as user are the
        ones Salesforce answers ("request not supported on this domain", "no client
        credentials user enabled"), from memory of real answers: best guesses."""
        if host.split(":")[0].lower() in LOGIN_HOSTS:
            raise OAuthError("invalid_grant", "request not supported on this domain")
        app = self._apps.get(form.get("client_id", ""))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), app.consumer_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        if app.run_as_user_id is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        return {"access_token": self.open_session(app.run_as_user_id), "scope": "api",
                "instance_url": instance_url,
                **self._signed_identity(app, instance_url, app.run_as_user_id)}

    def _signed_identity(self, app: ConnectedApp, instance_url: str,
                         user_id: str) -> dict[str, str]:
        """``id``, ``token_type``, ``issued_at`` and ``signature`` (base64 HMAC-SHA256 of
        ``id + issued_at`` keyed with the client secret) of a token answer."""
        identity = self.identity_url(instance_url, user_id)
        issued_at = str(int(self.clock.now() * 1000))
        digest = hmac.new(app.consumer_secret.encode(), (identity + issued_at).encode(),
                          hashlib.sha256).digest()
        return {"id": identity, "token_type": "Bearer", "issued_at": issued_at,
                "signature": base64.b64encode(digest).decode()}

    def _password_grant(self, form: Mapping[str, str], instance_url: str) -> dict[str, Any]:
        app = self._apps.get(form.get("client_id", ""))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), app.consumer_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        user = self.check_password(form.get("username", ""), form.get("password", ""))
        if user is None:
            raise OAuthError("invalid_grant", "authentication failure")
        return {"access_token": self.open_session(user.user_id), "instance_url": instance_url,
                **self._signed_identity(app, instance_url, user.user_id)}

    def _jwt_grant(self, form: Mapping[str, str], instance_url: str,
                   audiences: set[str]) -> dict[str, Any]:
        keys = {k: a.public_key for k, a in self._apps.items() if a.public_key is not None}
        _, username = jwt_bearer.verify(
            form.get("assertion", ""), keys=keys,
            audiences=set(jwt_bearer.LOGIN_AUDIENCES) | audiences,
            now=self.clock.now(), user_exists=lambda name: name.lower() in self._users)
        user = self._users[username.lower()]
        return {"access_token": self.open_session(user.user_id), "scope": "api",
                "instance_url": instance_url,
                "id": self.identity_url(instance_url, user.user_id), "token_type": "Bearer"}

    def identity_url(self, instance_url: str, user_id: str) -> str:
        return f"{instance_url}/id/{self.org_id}/{user_id}"
