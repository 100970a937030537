"""The Salesforce simulator fixtures, shared with the simulator's own tests."""

from tests.simulators.salesforce.conftest import cert_dir, driver, http_session, sf, sim

__all__ = ["cert_dir", "driver", "http_session", "sf", "sim"]
