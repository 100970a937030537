"""Dashboard sessions: an audit API key, exchanged once for a signed cookie.

The dashboard reads with the audit API's keys and roles (``telecase.web.audit_api``: the keys file,
SHA-256 hashes compared in constant time). A browser should not keep a long-lived API key where
scripts can read it, so the login form posts the key once; the server finds it in the key ring
and answers with a session cookie that names the key and is signed by the server with
itsdangerous (``URLSafeSerializer``, HMAC-SHA256):

    telecase_session = <payload>.<signature>
    payload   = base64url(JSON {"k": key name, "exp": expiry, Unix seconds})
    signature = itsdangerous' HMAC-SHA256 over the payload, its key derived from the secret
                and a salt that holds the key's stored SHA-256

The expiry is a claim in the payload, checked against the dashboard's clock (itsdangerous' own
timestamps read the system clock, which tests cannot move).

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page makes
the browser send it, which with read-only GETs and an ``Origin`` check on the two POSTs is the
CSRF defence), ``Path=/dashboard``, and ``Secure`` when the request came over HTTPS (directly or
through a proxy that says ``X-Forwarded-Proto: https``). Because the signature covers the key's
stored hash (its salt), removing or changing a key in the keys file (re-read when it changes)
ends that key's sessions at the next request. Sessions last :data:`SESSION_TTL`; logging out
clears the cookie.

The secret is ``TELECASE_DASHBOARD_SECRET`` (needed when several dashboard processes serve one
site) or, unset, random for each process: restarting the dashboard ends every session.
Scripts and tests may skip the cookie and send ``Authorization: Bearer <key>``, as to the API.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from telecase.web.audit_api import ApiKey, KeyRing

COOKIE = "telecase_session"
SESSION_TTL = timedelta(hours=12)
MAX_TOKEN = 1024
"""Longer cookies are refused unread."""


class Sessions:
    """Issues and checks session tokens with one secret."""

    def __init__(self, secret: bytes | None = None, ttl: timedelta = SESSION_TTL) -> None:
        self._serializer = URLSafeSerializer(
            secret if secret else secrets.token_bytes(32),
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})
        self.ttl = ttl

    def issue(self, name: str, key: ApiKey, now: datetime) -> str:
        claims = {"k": name, "exp": int((now + self.ttl).timestamp())}
        return self._serializer.dumps(claims, salt=_salt(key))

    def verify(self, token: str, ring: KeyRing, now: datetime) -> tuple[str, ApiKey] | None:
        """The key a valid, unexpired token names, if it is still in ``ring`` unchanged."""
        if len(token) > MAX_TOKEN:
            return None
        _, unverified = self._serializer.loads_unsafe(token)  # only to find the key
        name = unverified.get("k") if isinstance(unverified, dict) else None
        if not isinstance(name, str) or (key := ring.keys.get(name)) is None:
            return None
        try:
            claims: dict[str, Any] = self._serializer.loads(token, salt=_salt(key))
        except BadData:  # a bad signature, or a payload that is not ours
            return None
        expires = claims.get("exp")  # the payload read above, now verified
        if not isinstance(expires, int) or expires <= now.timestamp():
            return None
        return name, key


def _salt(key: ApiKey) -> bytes:
    """Binds a session to the key as the keys file has it now."""
    return b"telecase.dashboard.session\0" + key.key_sha256.lower().encode()
