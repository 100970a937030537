"""The daily API allocation, its header, and the faults the driver injects."""

from __future__ import annotations

import time

import httpx
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from simulators.salesforce.tls import client_context
from tests.simulators.salesforce.conftest import call


async def test_every_call_carries_the_usage_header(sf: Salesforce,
                                                   driver: SalesforceDriver) -> None:
    cases = sf.Case  # each attribute access builds a new SFType with its own api_usage
    await call(cases.create, {"Subject": "s"})
    used = cases.api_usage["api-usage"]
    await call(sf.query, "SELECT Id FROM Case")
    assert sf.api_usage["api-usage"].used == used.used + 1
    assert sf.api_usage["api-usage"].total == 15000
    limits = await call(sf.limits)
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - used.used - 2}
    assert (await driver.api_usage())["used"] == used.used + 2


async def test_limit_exceeded(sim: SalesforceSimulator, sf: Salesforce,
                              driver: SalesforceDriver) -> None:
    await driver.set_api_usage(14999)
    cases = sf.Case
    await call(cases.create, {"Subject": "the last one"})
    assert cases.api_usage["api-usage"].used == 15000
    with pytest.raises(SalesforceRefusedRequest) as failure:
        await call(sf.query, "SELECT Id FROM Case")
    assert failure.value.status == 403
    assert failure.value.content == [{"message": "TotalRequests Limit exceeded.",
                                      "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    async with httpx.AsyncClient(verify=client_context(sim.ca_file), trust_env=False) as http:
        refused = await http.get(f"{sim.base_url}/services/data/v59.0/limits",
                                 headers={"Authorization": f"Bearer {sf.session_id}"})
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"
    await driver.reset_api_usage()
    assert (await call(sf.query, "SELECT COUNT() FROM Case"))["totalSize"] == 1


async def test_exhaust_and_a_new_day(sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.exhaust_api_limit()
    with pytest.raises(SalesforceRefusedRequest):
        await call(sf.query, "SELECT Id FROM Case")
    await driver.advance_clock(24 * 3600)
    await call(sf.query, "SELECT Id FROM Case")
    assert sf.api_usage["api-usage"].used == 1


async def test_outage_for_some_calls(sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.start_outage(count=2)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as failure:
            await call(sf.Case.create, {"Subject": "s"})
        assert failure.value.status == 503
        assert failure.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert (await call(sf.Case.create, {"Subject": "s"}))["success"]
    assert len(await driver.records("Case")) == 1


async def test_outage_until_cleared(sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.start_outage(status=500)
    for _ in range(3):
        with pytest.raises(SalesforceGeneralError) as failure:
            await call(sf.query, "SELECT Id FROM Case")
        assert failure.value.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    await driver.clear_faults()
    await call(sf.query, "SELECT Id FROM Case")


async def test_latency(sf: Salesforce, driver: SalesforceDriver) -> None:
    await driver.set_latency(0.2)
    started = time.monotonic()
    await call(sf.query, "SELECT Id FROM Case")
    assert time.monotonic() - started >= 0.2
    await driver.clear_faults()


async def test_unable_to_lock_row(sf: Salesforce, driver: SalesforceDriver) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "s"}))["id"]
    await driver.lock_rows(2)
    with pytest.raises(SalesforceMalformedRequest) as failure:
        await call(sf.Case.update, case_id, {"Status": "Working"})
    assert failure.value.content == [{
        "message": f"unable to obtain exclusive access to this record or 1 records: {case_id}",
        "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}]
    comment = await driver.post_case_comment(case_id, "agents are never locked out")
    assert comment["CommentBody"] == "agents are never locked out"
    with pytest.raises(SalesforceMalformedRequest):
        await call(sf.CaseComment.create, {"ParentId": case_id, "CommentBody": "x"})
    assert await call(sf.Case.update, case_id, {"Status": "Working"}) == 204
    assert (await driver.faults())["lock_failures"] == 0


async def test_a_retired_api_version_is_gone_and_an_unknown_one_not_found(
        sf: Salesforce, sim: SalesforceSimulator) -> None:
    """21.0 through 30.0 are retired (410 GONE); a version the org does not have yet: 404."""
    async with httpx.AsyncClient(verify=client_context(sim.ca_file), trust_env=False) as http:
        auth = {"Authorization": f"Bearer {sf.session_id}"}
        answers = {v: (await http.get(f"{sim.base_url}/services/data/v{v}/limits",
                                      headers=auth)).status_code
                   for v in ("30.0", "31.0", "68.0", "69.0")}
        listed = (await http.get(f"{sim.base_url}/services/data")).json()
    assert answers == {"30.0": 410, "31.0": 200, "68.0": 200, "69.0": 404}
    assert listed[0]["version"] == "31.0" and listed[-1]["version"] == "68.0"
