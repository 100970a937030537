"""Logging in the ways simple-salesforce does, and sessions that end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from simulators.salesforce.tls import client_context
from tests.simulators.salesforce.conftest import call

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return _rsa_pair()


async def _token(sim: SalesforceSimulator, **form: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=client_context(sim.ca_file), trust_env=False) as http:
        return await http.post(f"{sim.base_url}/services/oauth2/token", data=form)


def _assertion(sim: SalesforceSimulator, private_pem: str, **overrides: Any) -> str:
    claims = {"iss": sim.consumer_key, "sub": sim.username,
              "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180}
    claims.update(overrides)
    return jwt.encode(claims, private_pem, algorithm="RS256")


async def test_soap_login_with_security_token(sf: Salesforce, sim: SalesforceSimulator) -> None:
    assert sf.sf_instance == f"127.0.0.1:{sim.port}"
    assert sf.base_url == f"{sim.base_url}/services/data/v59.0/"
    created = await call(sf.Case.create, {"Subject": "Hello"})
    assert created["success"] is True


async def test_soap_login_direct_to_the_simulator(sim: SalesforceSimulator,
                                                  http_session: requests.Session) -> None:
    session_id, instance = await call(
        SalesforceLogin, username=sim.username, password=sim.password,
        security_token=sim.security_token, scratch_url=sim.base_url, session=http_session)
    sf = Salesforce(instance=instance, session_id=session_id, session=http_session)
    assert (await call(sf.query, "SELECT COUNT() FROM User"))["totalSize"] == 2


async def test_wrong_password_is_invalid_login(sim: SalesforceSimulator,
                                               http_session: requests.Session) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, username=sim.username, password="nope",
                   security_token=sim.security_token, session=http_session)
    assert failure.value.code == "INVALID_LOGIN"


async def test_oauth_password_flow_through_simple_salesforce(
        sim: SalesforceSimulator, http_session: requests.Session) -> None:
    sf = await call(Salesforce, username=sim.username,
                    password=sim.password + sim.security_token, consumer_key=sim.consumer_key,
                    consumer_secret=sim.consumer_secret, session=http_session)
    assert sf.sf_instance == f"127.0.0.1:{sim.port}"
    assert (await call(sf.Contact.create, {"LastName": "Doe"}))["success"]


async def test_oauth_token_answer_and_direct_session(sim: SalesforceSimulator,
                                                     http_session: requests.Session) -> None:
    response = await _token(sim, grant_type="password", client_id=sim.consumer_key,
                            client_secret=sim.consumer_secret, username=sim.username,
                            password=sim.password + sim.security_token)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at",
                         "signature"}
    assert body["instance_url"] == sim.base_url and body["token_type"] == "Bearer"
    assert body["id"].endswith(f"/{sim.integration_user_id}")
    expected = hmac.new(sim.consumer_secret.encode(),
                        (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"],
                    session=http_session)
    assert (await call(sf.query, "SELECT Id FROM User WHERE Username = "
                       f"'{sim.username}'"))["totalSize"] == 1


@pytest.mark.parametrize(("form", "error", "description"), [
    ({"password": "Telecase-Sim-1"}, "invalid_grant", "authentication failure"),
    ({"client_id": "nobody"}, "invalid_client_id", "client identifier invalid"),
    ({"client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
    ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant type not supported"),
])
async def test_oauth_errors(sim: SalesforceSimulator, form: dict[str, str], error: str,
                            description: str) -> None:
    base = {"grant_type": "password", "client_id": sim.consumer_key,
            "client_secret": sim.consumer_secret, "username": sim.username,
            "password": sim.password + sim.security_token}
    response = await _token(sim, **{**base, **form})
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


async def test_jwt_bearer_flow_through_simple_salesforce(
        sim: SalesforceSimulator, driver: SalesforceDriver, http_session: requests.Session,
        rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    await driver.register_jwt_key(sim.consumer_key, public_pem)
    sf = await call(Salesforce, username=sim.username, consumer_key=sim.consumer_key,
                    privatekey=private_pem, session=http_session)
    assert sf.sf_instance == f"127.0.0.1:{sim.port}"
    assert (await call(sf.Lead.create, {"LastName": "Ng", "Company": "Acme"}))["success"]


async def test_jwt_bearer_answer(sim: SalesforceSimulator, driver: SalesforceDriver,
                                 rsa_pair: tuple[str, str]) -> None:
    private_pem, public_pem = rsa_pair
    await driver.register_jwt_key(sim.consumer_key, public_pem)
    response = await _token(sim, grant_type=JWT_GRANT,
                            assertion=_assertion(sim, private_pem, aud=sim.base_url))
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "scope", "instance_url", "id",
                                    "token_type"}


@pytest.mark.parametrize(("claims", "other_key", "error", "description"), [
    ({"aud": "https://example.com"}, False, "invalid_grant", "audience is invalid"),
    ({"exp": 1_000_000}, False, "invalid_grant", "invalid assertion"),
    ({"sub": "ghost@example.com"}, False, "invalid_grant", "invalid assertion"),
    ({"iss": "unknown-app"}, False, "invalid_client_id", "client identifier invalid"),
    ({}, True, "invalid_grant", "invalid assertion"),
])
async def test_jwt_bearer_errors(sim: SalesforceSimulator, driver: SalesforceDriver,
                                 rsa_pair: tuple[str, str], claims: dict[str, Any],
                                 other_key: bool, error: str, description: str) -> None:
    private_pem, public_pem = rsa_pair
    await driver.register_jwt_key(sim.consumer_key, public_pem)
    signing_key = _rsa_pair()[0] if other_key else private_pem
    response = await _token(sim, grant_type=JWT_GRANT,
                            assertion=_assertion(sim, signing_key, **claims))
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


async def test_expired_session_raises_for_a_direct_session(
        sim: SalesforceSimulator, driver: SalesforceDriver,
        http_session: requests.Session) -> None:
    token = (await _token(sim, grant_type="password", client_id=sim.consumer_key,
                          client_secret=sim.consumer_secret, username=sim.username,
                          password=sim.password + sim.security_token)).json()
    sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                    session=http_session)
    assert await driver.expire_sessions() >= 1
    with pytest.raises(SalesforceExpiredSession) as failure:
        await call(sf.query, "SELECT Id FROM Case")
    assert failure.value.content == [{"message": "Session expired or invalid",
                                      "errorCode": "INVALID_SESSION_ID"}]


async def test_password_login_logs_in_again_after_expiry(sf: Salesforce,
                                                         driver: SalesforceDriver) -> None:
    first_session = sf.session_id
    await driver.expire_sessions()
    assert (await call(sf.Case.create, {"Subject": "after expiry"}))["success"]
    assert sf.session_id != first_session


async def test_idle_sessions_time_out(sim: SalesforceSimulator, driver: SalesforceDriver,
                                      http_session: requests.Session) -> None:
    session_id, instance = await call(
        SalesforceLogin, username=sim.username, password=sim.password,
        security_token=sim.security_token, scratch_url=sim.base_url, session=http_session)
    sf = Salesforce(instance=instance, session_id=session_id, session=http_session)
    await driver.advance_clock(7000)
    await call(sf.query, "SELECT Id FROM Case")  # still valid, and active again
    await driver.advance_clock(7201)
    with pytest.raises(SalesforceExpiredSession):
        await call(sf.query, "SELECT Id FROM Case")
