"""Checking an OAuth 2.0 JWT bearer assertion (RFC 7523) the way Salesforce does.

The assertion is ``base64url(header).base64url(claims).base64url(signature)``. Salesforce
wants ``alg`` RS256, ``iss`` = the connected app's consumer key, ``sub`` = the username,
``aud`` = ``https://login.salesforce.com`` or ``https://test.salesforce.com`` (the simulator
also accepts its own base URL), ``exp`` in the future (simple-salesforce sends it as a
numeric string, which is accepted). The signature is verified with the certificate or public
key registered for the consumer key (PEM), using ``cryptography``.

Errors, as ``OAuthError``: an unknown or key-less consumer key → ``invalid_client_id``
"client identifier invalid"; a bad audience → ``invalid_grant`` "audience is invalid";
anything else wrong (shape, algorithm, signature, expiry, unknown user) → ``invalid_grant``
"invalid assertion".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simulators.salesforce.errors import OAuthError

LOGIN_AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM public key or X.509 certificate."""
    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        key: Any = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the JWT bearer flow needs an RSA key (RS256)")
    return key


def verify(assertion: str, *, keys: Mapping[str, rsa.RSAPublicKey], audiences: set[str],
           now: float, user_exists: Callable[[str], bool]) -> tuple[str, str]:
    """``(consumer_key, username)`` of a valid assertion, else the OAuth error."""
    invalid = OAuthError("invalid_grant", "invalid assertion")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise invalid
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise invalid from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise invalid
    if header.get("alg") != "RS256":
        raise invalid
    issuer = claims.get("iss")
    key = keys.get(issuer) if isinstance(issuer, str) else None
    if key is None or not isinstance(issuer, str):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    signed = f"{parts[0]}.{parts[1]}".encode()
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise invalid from exc
    audience = claims.get("aud")
    wanted = {audience} if isinstance(audience, str) else set(audience or [])
    if not wanted & {a.rstrip("/") for a in audiences} and not wanted & audiences:
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        expires = float(claims["exp"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid from exc
    if expires <= now:
        raise invalid
    subject = claims.get("sub")
    if not isinstance(subject, str) or not user_exists(subject):
        raise invalid
    return issuer, subject


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
