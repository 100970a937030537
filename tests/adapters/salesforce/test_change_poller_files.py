"""Files agents add to telecase's Cases become ``case_file`` records (issue 16 item 6): the
poller against the Salesforce simulator, through simple-salesforce, into the embedded log."""

from __future__ import annotations

import base64
from typing import Any

from connectors.salesforce.version_data import SalesforceFileDownloads
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from streams.runtime.embedded.log import EmbeddedLog
from streams.schema.salesforce import SalesforceChange
from tests.adapters.salesforce import test_change_poller as base
from tests.adapters.salesforce.test_change_poller import TICKET, changes, opened_case, poller

log = base.log  # the fixture

PDF = b"%PDF-1.4 the price list"


async def add_file(driver: SalesforceDriver, case_id: str, name: str = "prices.pdf",
                   data: bytes = PDF, **kw: Any) -> dict[str, Any]:
    """An agent uploads a File on the Case (Files related list: first publish location)."""
    return await driver.create("ContentVersion", {
        "PathOnClient": name, "VersionData": base64.b64encode(data).decode(),
        "FirstPublishLocationId": case_id}, **kw)


async def the_case_file(log: EmbeddedLog, version: dict[str, Any],
                        case: dict[str, Any]) -> SalesforceChange:
    """The one record in the log: ``version`` on ``case``, keyed by the ticket's chat."""
    [(key, change)] = await changes(log)
    assert key == b"chat:-100"
    assert (change.change, change.ticket_id, change.case_id) == ("case_file", TICKET,
                                                                 case["Id"])
    assert change.change_id == f"file:{version['Id']}:{case['Id']}"
    assert change.file_version_id == version["Id"]
    return change


async def test_an_agents_file_on_a_case_becomes_one_case_file_record(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    version = await add_file(driver, case["Id"])
    first = poller(sf, sim, log)
    assert await first.poll_once() == 1
    assert await first.poll_once() == 0  # the overlap re-read repeats nothing
    change = await the_case_file(log, version, case)
    assert (change.file_title, change.file_type, change.file_size) == ("prices", "PDF",
                                                                       len(PDF))
    assert (change.actor_id, change.actor_name) == (sim.agent_user_id, "Alex Agent")
    assert await poller(sf, sim, log).poll_once() == 0  # a restart resumes from the log


async def test_telecase_own_files_and_files_on_other_records_are_not_read(
        sf: Any, sim: SalesforceSimulator, driver: SalesforceDriver, log: EmbeddedLog) -> None:
    case = await opened_case(sf, driver)
    await add_file(driver, case["Id"], user_id=sim.integration_user_id)  # telecase's own
    await add_file(driver, case["ContactId"])  # an agent's file on the Contact, not the Case
    assert await poller(sf, sim, log).poll_once() == 0
    assert await changes(log) == []


async def test_the_files_bytes_download_from_version_data(
        sf: Any, driver: SalesforceDriver) -> None:
    case = await opened_case(sf, driver)
    version = await add_file(driver, case["Id"])
    assert await SalesforceFileDownloads(sf).version_data(version["Id"]) == PDF
