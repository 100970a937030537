"""An existing File an agent shares onto a telecase Case (a new ContentDocumentLink, no new
ContentVersion) becomes one ``case_file`` record, dated when it was shared; a File uploaded
onto the Case (a version and a link) stays one record (``connectors.salesforce.file_shares``;
the poller against the simulator, which refuses link queries Salesforce refuses)."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.change_poller import parse_datetime
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.embedded.log import EmbeddedLog
from tests.adapters.salesforce import test_change_poller as base
from tests.adapters.salesforce.test_change_poller import opened_case, poller
from tests.adapters.salesforce.test_change_poller_files import add_file, the_case_file

log = base.log  # the fixture


async def test_an_existing_file_shared_onto_the_case_is_read_once(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    version = await add_file(driver, case["ContactId"], "brochure.pdf")  # on another record
    first = poller(sf, sim, log)
    assert await first.poll_once() == 0
    link = await driver.create("ContentDocumentLink", {
        "ContentDocumentId": version["ContentDocumentId"], "LinkedEntityId": case["Id"]})
    assert await first.poll_once() == 1
    assert await first.poll_once() == 0  # the overlap re-read repeats nothing
    change = await the_case_file(log, version, case)
    assert change.file_title == "brochure"
    assert change.occurred_at == parse_datetime(link["SystemModstamp"])
    assert await poller(sf, sim, log).poll_once() == 0  # a restart resumes from the log


async def test_a_file_uploaded_onto_the_case_is_one_record(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    version = await add_file(driver, case["Id"])  # a version and its link
    assert await poller(sf, sim, log).poll_once() == 1
    await the_case_file(log, version, case)
