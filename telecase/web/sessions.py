"""Dashboard sessions: an audit API key, exchanged once for a signed cookie.

The dashboard reads with the audit API's keys and roles (``telecase.web.audit_api``: the keys file,
SHA-256 hashes compared in constant time). A browser should not keep a long-lived API key where
scripts can read it, so the login form posts the key once; the server finds it in the key ring
and answers with a session cookie that names the key and is signed by the server:

    telecase_session = <payload>.<mac>
    payload = base64url(JSON {"k": key name, "exp": expiry, Unix seconds})
    mac     = base64url(HMAC-SHA256(secret, payload + "\\0" + the key's stored SHA-256))

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page makes
the browser send it, which with read-only GETs and an ``Origin`` check on the two POSTs is the
CSRF defence), ``Path=/dashboard``, and ``Secure`` when the request came over HTTPS (directly or
through a proxy that says ``X-Forwarded-Proto: https``). Because the MAC covers the key's stored
hash, removing or changing a key in the keys file (re-read when it changes) ends that key's
sessions at the next request. Sessions last :data:`SESSION_TTL`; logging out clears the cookie.

The secret is ``TELECASE_DASHBOARD_SECRET`` (needed when several dashboard processes serve one
site) or, unset, random for each process: restarting the dashboard ends every session.
Scripts and tests may skip the cookie and send ``Authorization: Bearer <key>``, as to the API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

from telecase.web.audit_api import ApiKey, KeyRing

COOKIE = "telecase_session"
SESSION_TTL = timedelta(hours=12)


class Sessions:
    """Issues and checks session tokens with one secret."""

    def __init__(self, secret: bytes | None = None, ttl: timedelta = SESSION_TTL) -> None:
        self._secret = secret if secret else secrets.token_bytes(32)
        self.ttl = ttl

    def issue(self, name: str, key: ApiKey, now: datetime) -> str:
        payload = _b64(json.dumps({"k": name, "exp": int((now + self.ttl).timestamp())},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload, key)}"

    def verify(self, token: str, ring: KeyRing, now: datetime) -> tuple[str, ApiKey] | None:
        """The key a valid, unexpired token names, if it is still in ``ring`` unchanged."""
        payload, dot, mac = token.partition(".")
        if not dot or len(token) > 1024:
            return None
        try:
            claims = json.loads(_unb64(payload))
            name, expires = claims["k"], claims["exp"]
        except (ValueError, KeyError, TypeError):
            return None
        key = ring.keys.get(name) if isinstance(name, str) else None
        if key is None or not isinstance(expires, int) or expires <= now.timestamp():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(payload, key).encode()):
            return None
        return name, key

    def _mac(self, payload: str, key: ApiKey) -> str:
        message = payload.encode() + b"\0" + key.key_sha256.lower().encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
