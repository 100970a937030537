"""Case field history: with tracking on, every Case write adds its ``CaseHistory`` rows (who,
when, old and new value), queryable by SOQL and read-only through the API; tracking off, none.
"""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from tests.simulators.salesforce.conftest import call

HISTORY = ("SELECT CaseId, Field, OldValue, NewValue, CreatedById, CreatedDate "
           "FROM CaseHistory WHERE CaseId = '{}' ORDER BY CreatedDate ASC")


async def _history(sf: Salesforce, case_id: str) -> list[tuple[Any, ...]]:
    rows = (await call(sf.query_all, HISTORY.format(case_id)))["records"]
    return [(r["Field"], r["OldValue"], r["NewValue"], r["CreatedById"]) for r in rows]


async def test_status_and_owner_changes_are_kept_with_who_made_them(
        sim: SalesforceSimulator, driver: SalesforceDriver, sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "help"}))["id"]
    me, agent = sim.integration_user_id, sim.agent_user_id
    await driver.set_case_status(case_id, "On Hold")
    queue = await driver.create_group("Tier 2")
    await driver.set_case_owner(case_id, queue["Id"])
    await call(sf.Case.update, case_id, {"Subject": "help!"})  # not tracked: no row
    assert await _history(sf, case_id) == [
        ("created", None, None, me),
        ("Status", "New", "On Hold", agent),
        ("Owner", "Telecase Integration", "Tier 2", agent),
        ("Owner", me, queue["Id"], agent)]


async def test_the_assignment_rule_writes_owner_assignment_rows_as_the_writer(
        sim: SalesforceSimulator, driver: SalesforceDriver, sf: Salesforce) -> None:
    queue = await driver.create_group("Support Queue")
    await driver.set_assignment_rule(queue["Id"])
    case_id = (await call(sf.Case.create, {"Subject": "help"}))["id"]
    me = sim.integration_user_id
    assert await _history(sf, case_id) == [
        ("created", None, None, me),
        ("ownerAssignment", "Telecase Integration", "Support Queue", me),
        ("ownerAssignment", me, queue["Id"], me)]


async def test_tracking_off_keeps_no_rows(sim: SalesforceSimulator, driver: SalesforceDriver,
                                          sf: Salesforce) -> None:
    await driver.set_case_field_history(False)
    case_id = (await call(sf.Case.create, {"Subject": "help"}))["id"]
    await driver.set_case_status(case_id, "Working")
    assert await _history(sf, case_id) == []


async def test_history_is_read_only(sim: SalesforceSimulator, sf: Salesforce) -> None:
    case_id = (await call(sf.Case.create, {"Subject": "help"}))["id"]
    with pytest.raises(SalesforceError) as refused:
        await call(sf.CaseHistory.create, {"CaseId": case_id, "Field": "Status"})
    assert "INVALID_TYPE_FOR_OPERATION" in str(refused.value)
