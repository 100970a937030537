"""The logins an org of 2027 allows, through the real simple-salesforce: SOAP login() only when
enabled (and never from API version 65.0 in a standard org), the JWT bearer flow against the
certificate the admin uploaded (My Domain audience), the client credentials flow on the My
Domain host."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from simulators.salesforce import SalesforceDriver, SalesforceSimulator, requests_session
from tests.simulators.salesforce.conftest import call

DOMAIN = "acme.my"


def _key_and_certificate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telecase-integration")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return private, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    return _key_and_certificate()


@pytest.fixture
async def org(cert_dir: Path, key_pair: tuple[str, str]) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir, schema="standard", soap_login=False,
                                   my_domain=DOMAIN, jwt_certificate=key_pair[1],
                                   client_credentials=True) as simulator:
        yield simulator


@pytest.fixture
def session(org: SalesforceSimulator) -> AsyncIterator[requests.Session]:
    http = requests_session(org.base_url, org.ca_file, my_domain=DOMAIN)
    yield http  # type: ignore[misc]
    http.close()


async def test_soap_login_refused_unless_enabled(org: SalesforceSimulator,
                                                 session: requests.Session) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, username=org.username, password=org.password,
                   security_token=org.security_token, session=session, version="59.0")
    assert failure.value.code == "INVALID_OPERATION"
    assert "SOAP API login() is disabled" in str(failure.value)
    refused = org.refused_calls()
    assert refused[-1]["error_code"] == "INVALID_OPERATION"
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        await driver.enable_soap_login(True)
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, username=org.username, password=org.password,
                   security_token=org.security_token, session=session, version="65.0")
    assert "not available in the API version specified (65.0)" in str(failure.value)
    sf = await call(Salesforce, username=org.username, password=org.password,
                    security_token=org.security_token, session=session, version="64.0")
    assert (await call(sf.query, "SELECT Id FROM Case"))["totalSize"] == 0


async def test_jwt_bearer_with_the_uploaded_certificate(
        org: SalesforceSimulator, session: requests.Session,
        key_pair: tuple[str, str]) -> None:
    sf = await call(Salesforce, username=org.username, consumer_key=org.consumer_key,
                    privatekey=key_pair[0], domain=DOMAIN, session=session)
    created = await call(sf.Case.create, {"Subject": "JWT"})
    case = await call(sf.Case.get, created["id"])
    assert case["CreatedById"] == org.integration_user_id
    other_key, _ = _key_and_certificate()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, username=org.username, consumer_key=org.consumer_key,
                   privatekey=other_key, domain=DOMAIN, session=session)
    assert failure.value.code == "invalid_grant"
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, username=org.username, consumer_key="unknown-app",
                   privatekey=key_pair[0], domain=DOMAIN, session=session)
    assert failure.value.code == "invalid_client_id"


async def test_client_credentials_on_my_domain(org: SalesforceSimulator,
                                               session: requests.Session) -> None:
    sf = await call(Salesforce, consumer_key=org.consumer_key,
                    consumer_secret=org.consumer_secret, domain=DOMAIN, session=session)
    created = await call(sf.Case.create, {"Subject": "run as"})
    assert (await call(sf.Case.get, created["id"]))["CreatedById"] == org.integration_user_id
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        await call(Salesforce, consumer_key=org.consumer_key, consumer_secret="wrong",
                   domain=DOMAIN, session=session)
    assert failure.value.code == "invalid_client"


async def test_client_credentials_refused_on_the_login_host(
        org: SalesforceSimulator, session: requests.Session) -> None:
    answer = await call(session.post, "https://login.salesforce.com/services/oauth2/token",
                        data={"grant_type": "client_credentials",
                              "client_id": org.consumer_key,
                              "client_secret": org.consumer_secret})
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant",
                             "error_description": "request not supported on this domain"}


async def test_client_credentials_needs_a_run_as_user(cert_dir: Path) -> None:
    async with SalesforceSimulator(cert_dir=cert_dir, my_domain=DOMAIN) as sim:
        http = requests_session(sim.base_url, sim.ca_file, my_domain=DOMAIN)
        with pytest.raises(SalesforceAuthenticationFailed) as failure:
            await call(Salesforce, consumer_key=sim.consumer_key,
                       consumer_secret=sim.consumer_secret, domain=DOMAIN, session=http)
        http.close()
    assert "no client credentials user enabled" in str(failure.value)


async def test_limits_and_usage_header(org: SalesforceSimulator,
                                       session: requests.Session) -> None:
    sf = await call(Salesforce, consumer_key=org.consumer_key,
                    consumer_secret=org.consumer_secret, domain=DOMAIN, session=session)
    limits = await call(sf.limits)
    assert limits["DailyApiRequests"]["Max"] == 15000
    answer = await call(sf.toolingexecute, "query", params={
        "q": "SELECT Id FROM CustomField"})
    assert answer["size"] == 0
    assert sf.api_usage["api-usage"].used >= 2
