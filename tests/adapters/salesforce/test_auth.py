"""Logging in from settings (``telecase.bootstrap.salesforce.connect``) against the simulated
org: the JWT bearer flow and the legacy password flow, one login per process, and settings that
cannot log in named at start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.salesforce.auth import LAST_SOAP_LOGIN_VERSION, AuthFlow
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from telecase.bootstrap.salesforce import CLIENTS, connect, credentials, integration_user_id
from telecase.settings import Settings, SettingsError, load_settings
from tests.simulators.salesforce.conftest import call


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    CLIENTS.forget()


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("jwt") / "telecase.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return path, public


def _settings(sim: SalesforceSimulator, **fields: object) -> Settings:
    return load_settings(_env_file=None, salesforce_login_url=sim.base_url,
                         salesforce_ca_file=str(sim.ca_file), **fields)


async def test_jwt_bearer_login_from_settings(sim: SalesforceSimulator,
                                              driver: SalesforceDriver,
                                              key_pair: tuple[Path, str]) -> None:
    path, public = key_pair
    await driver.register_jwt_key(sim.consumer_key, public)
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_private_key_file=str(path),
                         salesforce_username=sim.username)
    assert settings.salesforce_auth_flow == "jwt"  # inferred from the key file
    sf = await connect(settings)
    assert sf.auth_type == "jwt-bearer"
    assert sf.sf_version == settings.salesforce_api_version
    created = await call(sf.Lead.create, {"LastName": "Ng", "Company": "Acme"})
    assert created["success"]


async def test_one_login_per_process(sim: SalesforceSimulator, driver: SalesforceDriver,
                                     key_pair: tuple[Path, str]) -> None:
    path, public = key_pair
    await driver.register_jwt_key(sim.consumer_key, public)
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_private_key_file=str(path),
                         salesforce_username=sim.username)
    before = await driver.api_usage()
    first, second = await connect(settings), await connect(settings)
    assert first is second
    # the token request is not an API call; the shared session then serves both components
    assert await driver.api_usage() == before


async def test_password_flow_is_legacy_and_capped_at_the_last_soap_login_version(
        sim: SalesforceSimulator) -> None:
    settings = _settings(sim, salesforce_username=sim.username,
                         salesforce_password=sim.password,
                         salesforce_security_token=sim.security_token)
    creds = credentials(settings)
    assert creds.flow is AuthFlow.PASSWORD
    sf = await connect(settings)
    assert sf.sf_version == LAST_SOAP_LOGIN_VERSION


@pytest.mark.parametrize(("fields", "named"), [
    ({"salesforce_auth": "jwt", "salesforce_consumer_key": "k"},
     ["TELECASE_SALESFORCE_PRIVATE_KEY_FILE", "TELECASE_SALESFORCE_USERNAME"]),
    ({"salesforce_auth": "client_credentials", "salesforce_consumer_key": "k"},
     ["TELECASE_SALESFORCE_CONSUMER_SECRET"]),
    ({"salesforce_consumer_key": "k", "salesforce_consumer_secret": "s"},
     ["TELECASE_SALESFORCE_DOMAIN"]),
    ({"salesforce_consumer_key": "k", "salesforce_private_key_file": "/nonexistent.key",
      "salesforce_username": "u"}, ["TELECASE_SALESFORCE_PRIVATE_KEY_FILE"]),
    ({}, ["TELECASE_SALESFORCE_CONSUMER_KEY"]),
])
def test_settings_that_cannot_log_in_are_named(fields: dict[str, object],
                                               named: list[str]) -> None:
    settings = load_settings(_env_file=None, **fields)
    with pytest.raises(SettingsError) as raised:
        credentials(settings)
    for name in named:
        assert name in str(raised.value)


async def test_refused_credentials_stop_with_the_flow_named(sim: SalesforceSimulator,
                                                            key_pair: tuple[Path, str]) -> None:
    path, _ = key_pair  # no certificate uploaded for this consumer key
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_private_key_file=str(path),
                         salesforce_username=sim.username)
    with pytest.raises(SettingsError, match=r"Salesforce login failed .*jwt login refused"):
        await connect(settings)


@pytest.fixture
async def my_domain_org(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir, my_domain="acme.my",
                                   client_credentials=True) as simulator:
        yield simulator


async def test_client_credentials_login_from_settings(my_domain_org: SalesforceSimulator) -> None:
    sim = my_domain_org
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_consumer_secret=sim.consumer_secret,
                         salesforce_domain="acme.my")
    assert settings.salesforce_auth_flow == "client_credentials"
    sf = await connect(settings)
    assert sf.auth_type == "client-credentials"
    created = await call(sf.Lead.create, {"LastName": "Ng", "Company": "Acme"})
    assert created["success"]


async def test_client_credentials_against_the_login_host_is_refused(
        my_domain_org: SalesforceSimulator) -> None:
    sim = my_domain_org
    settings = _settings(sim, salesforce_auth="client_credentials",
                         salesforce_consumer_key=sim.consumer_key,
                         salesforce_consumer_secret=sim.consumer_secret)
    with pytest.raises(SettingsError, match="TELECASE_SALESFORCE_DOMAIN"):
        await connect(settings)


async def test_the_client_credentials_user_is_found_without_a_username(
        my_domain_org: SalesforceSimulator) -> None:
    sim = my_domain_org
    settings = _settings(sim, salesforce_consumer_key=sim.consumer_key,
                         salesforce_consumer_secret=sim.consumer_secret,
                         salesforce_domain="acme.my")
    client = await connect(settings)
    found = await integration_user_id(settings, client)
    assert found is not None and found.startswith("005")
    assert found == (await call(client.query, "SELECT Id FROM User WHERE Username = "
                                f"'{sim.username}'"))["records"][0]["Id"]
