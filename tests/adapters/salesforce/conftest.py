"""The Salesforce simulator fixtures, shared with the simulator's own tests; the adapter tests'
``requests`` session is set up by telecase's own adapter
(:func:`connectors.salesforce.http.redirect_logins`), the way production reaches a test org."""

from collections.abc import Iterator

import pytest
import requests

from connectors.salesforce.http import redirect_logins
from simulators.salesforce import SalesforceSimulator
from tests.simulators.salesforce.conftest import cert_dir, driver, sf, sim

__all__ = ["cert_dir", "driver", "http_session", "sf", "sim"]


@pytest.fixture
def http_session(sim: SalesforceSimulator) -> Iterator[requests.Session]:
    session = redirect_logins(requests.Session(), sim.base_url, sim.ca_file)
    yield session
    session.close()
