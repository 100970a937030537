"""Fixtures for the Salesforce simulator's behaviour tests: a running simulator over HTTPS,
its driver, a ``requests`` session simple-salesforce can use, and a logged-in client.

simple-salesforce is synchronous; tests call it through :func:`call` (a worker thread) so
the simulator keeps serving on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from simulators.salesforce import (
    SalesforceDriver,
    SalesforceSimulator,
    requests_session,
)


async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking simple-salesforce call off the event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA and server certificate for the whole run."""
    return tmp_path_factory.mktemp("sf-simulator-certs")


@pytest.fixture
async def sim(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir) as simulator:
        yield simulator


@pytest.fixture
async def driver(sim: SalesforceSimulator) -> AsyncIterator[SalesforceDriver]:
    async with SalesforceDriver(sim.base_url, sim.ca_file) as client:
        yield client


@pytest.fixture
def http_session(sim: SalesforceSimulator) -> Iterator[requests.Session]:
    session = requests_session(sim.base_url, sim.ca_file)
    yield session
    session.close()


@pytest.fixture
async def sf(sim: SalesforceSimulator, http_session: requests.Session) -> Salesforce:
    """simple-salesforce logged in as the integration user (SOAP username/password/token)."""
    return await call(Salesforce, username=sim.username, password=sim.password,
                      security_token=sim.security_token, session=http_session)
