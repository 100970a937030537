"""``telecase salesforce check`` and ``setup`` against a strict simulated org (only Salesforce's
standard schema, SOAP login() disabled, client credentials on a My Domain): check lists every
missing piece and exits 1, setup creates them, check then exits 0, and a second setup changes
nothing. The README's field table is the declared schema's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.salesforce.org_schema import (
    CUSTOM_FIELDS,
    OBJECTS,
    PERMISSION_SET,
    readme_table,
)
from connectors.salesforce.org_setup import Status, auth_line
from simulators.salesforce import SalesforceDriver, SalesforceSimulator
from telecase.bootstrap.salesforce import CLIENTS
from telecase.cli.main import app
from telecase.ops.salesforce_org import run_check, run_setup
from telecase.settings import Settings, load_settings
from tests.infra import ROOT

DOMAIN = "acme.my"


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    CLIENTS.forget()


@pytest.fixture
async def org(cert_dir: Path) -> AsyncIterator[SalesforceSimulator]:
    async with SalesforceSimulator(cert_dir=cert_dir, schema="standard", soap_login=False,
                                   my_domain=DOMAIN, client_credentials=True) as simulator:
        yield simulator


def _env(sim: SalesforceSimulator) -> dict[str, str]:
    return {"TELECASE_SALESFORCE_AUTH": "client_credentials",
            "TELECASE_SALESFORCE_CONSUMER_KEY": sim.consumer_key,
            "TELECASE_SALESFORCE_CONSUMER_SECRET": sim.consumer_secret,
            "TELECASE_SALESFORCE_DOMAIN": DOMAIN,
            "TELECASE_SALESFORCE_USERNAME": sim.username,
            "TELECASE_SALESFORCE_LOGIN_URL": sim.base_url,
            "TELECASE_SALESFORCE_CA_FILE": str(sim.ca_file)}


def _settings(sim: SalesforceSimulator) -> Settings:
    return load_settings(_env_file=None, **{k.removeprefix("TELECASE_").lower(): v
                                            for k, v in _env(sim).items()})


async def _cli(sim: SalesforceSimulator, *args: str) -> Any:
    """``telecase salesforce <args>`` in a thread (it runs its own event loop)."""
    CLIENTS.forget()
    return await asyncio.to_thread(CliRunner().invoke, app, ["salesforce", *args],
                                   env=_env(sim))


async def test_check_on_an_empty_strict_org_lists_every_missing_piece(
        org: SalesforceSimulator) -> None:
    result = await run_check(_settings(org))
    assert not result.ok
    missing = {(line.kind, line.item) for line in result.problems()}
    for spec in CUSTOM_FIELDS:
        assert ("field", spec.qualified) in missing
        assert ("access", spec.qualified) in missing
    assert ("picklist", "Case.Origin = Telegram") in missing
    assert all(line.fix for line in result.problems())
    kinds = {line.kind for line in result.lines}
    assert kinds == {"auth", "user", "object", "field", "access", "picklist", "limits",
                     "notification type", "permission"}
    assert {line.item for line in result.lines if line.kind == "object"} == {
        use.name for use in OBJECTS}
    [limits] = [line for line in result.lines if line.kind == "limits"]
    assert limits.status is Status.OK and "API requests left today" in limits.detail

    answer = await _cli(org, "check", "--json")
    assert answer.exit_code == 1, answer.output
    document = json.loads(answer.output)
    assert not document["ok"]
    assert {line["item"] for line in document["lines"] if line["status"] == "missing"} >= {
        spec.qualified for spec in CUSTOM_FIELDS}


async def test_setup_then_check_passes_and_a_second_setup_changes_nothing(
        org: SalesforceSimulator) -> None:
    plan = await _cli(org, "setup", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.output)["steps"]
    assert {s["target"] for s in planned if s["action"] == "create field"} == {
        spec.full_name for spec in CUSTOM_FIELDS}
    assert not (await run_check(_settings(org))).ok  # the dry run changed nothing

    done = await run_setup(_settings(org), dry_run=False)
    assert [s.as_json() for s in done.steps] == planned and not done.conflicts

    answer = await _cli(org, "check")
    assert answer.exit_code == 0, answer.output
    assert "The org is ready for telecase." in answer.output
    again = await _cli(org, "setup")
    assert again.exit_code == 0, again.output
    assert "Nothing to do" in again.output
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        assert await driver.requests(refused=True) == []
        [permission_set] = await driver.records("PermissionSet", Name=PERMISSION_SET)
        assert len(await driver.records("FieldPermissions",
                                        ParentId=permission_set["Id"])) == len(CUSTOM_FIELDS)
        assert len(await driver.records("PermissionSetAssignment",
                                        AssigneeId=org.integration_user_id)) == 1
        [kind] = await driver.records("CustomNotificationType",
                                      DeveloperName="Telecase_SLA_Deadline")
        assert kind["Desktop"] and kind["Mobile"]  # the deadline notifications' type


async def test_a_field_with_the_wrong_flags_is_named_and_left_alone(
        org: SalesforceSimulator) -> None:
    import requests
    from simple_salesforce import Salesforce

    from connectors.salesforce.http import redirect_logins
    session = redirect_logins(requests.Session(), org.base_url, org.ca_file)
    sf = await asyncio.to_thread(Salesforce, consumer_key=org.consumer_key,
                                 consumer_secret=org.consumer_secret, domain=DOMAIN,
                                 session=session)
    await asyncio.to_thread(sf.toolingexecute, "sobjects/CustomField", method="POST", data={
        "FullName": "Case.Telecase_Ticket_Id__c",
        "Metadata": {"type": "Text", "length": 20, "label": "Ticket"}})
    session.close()
    result = await run_setup(_settings(org), dry_run=False)
    [conflict] = result.conflicts
    assert conflict.item == "Case.Telecase_Ticket_Id__c"
    assert "length 20 < 64" in conflict.detail and "not an external id" in conflict.detail
    assert "Setup > Object Manager > Case" in conflict.fix
    checked = await run_check(_settings(org))
    assert [(line.kind, line.item) for line in checked.problems()] == [
        ("field", "Case.Telecase_Ticket_Id__c")]


def test_the_readme_lists_every_field_as_declared() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme_table() in readme, ("README.md's field table differs from "
                                      "connectors/salesforce/org_schema.py: paste "
                                      "readme_table()'s output")


async def test_a_read_only_field_and_a_lost_assignment_are_found_and_repaired(
        org: SalesforceSimulator) -> None:
    await run_setup(_settings(org), dry_run=False)
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        [row] = await driver.records("FieldPermissions", Field="Case.Telecase_Ticket_Id__c")
        await driver.update("FieldPermissions", row["Id"], {"PermissionsEdit": False})
        checked = await run_check(_settings(org))
        assert [(line.kind, line.item, line.status) for line in checked.problems()] == [
            ("access", "Case.Telecase_Ticket_Id__c", Status.WRONG)]
        [assignment] = await driver.records("PermissionSetAssignment",
                                            AssigneeId=org.integration_user_id)
        await driver.delete("PermissionSetAssignment", assignment["Id"])
        CLIENTS.forget()
        repaired = await run_setup(_settings(org), dry_run=False)
        assert [(s.action, s.target) for s in repaired.steps] == [
            ("grant edit", "Case.Telecase_Ticket_Id__c"),
            ("assign permission set", PERMISSION_SET)]
        assert (await run_check(_settings(org))).ok
        assert await driver.requests(refused=True) == []


def test_the_legacy_password_flow_is_a_warning_with_its_fix() -> None:
    line = auth_line("password")
    assert line.status is Status.WARN and "TELECASE_SALESFORCE_AUTH=jwt" in line.fix
    assert auth_line("jwt").status is Status.OK


async def test_setup_for_an_unknown_user_stops_with_the_fix(org: SalesforceSimulator) -> None:
    answer = await _cli(org, "setup", "--assign-to", "nobody@example.com")
    assert answer.exit_code == 2
    assert "no such user" in answer.output and "check --assign-to" in answer.output


async def test_after_setup_an_intake_form_writes_a_lead_and_its_case_with_nothing_refused(
        org: SalesforceSimulator) -> None:
    """The Lead path (intake answers, ``Case.Telecase_Lead__c``) on the fields setup made."""
    from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
    from telecase.bootstrap.salesforce import connect
    from tests.adapters.salesforce.test_case_sync_intake import intake_ticket
    await run_setup(_settings(org), dry_run=False)
    sync = CaseSync(SimpleSalesforceApi(await connect(_settings(org))), customer_object="Lead")
    result = await asyncio.to_thread(sync.apply, intake_ticket("tg:50:p:1", 50))
    assert (result.leads, result.rejected) == (1, [])
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        [lead] = await driver.records("Lead")
        [case] = await driver.records("Case")
        assert case["Telecase_Lead__c"] == lead["Id"] and case["Origin"] == "Telegram"
        assert float(lead["Telecase_Deal_Size__c"]) == 120000.0
        assert await driver.requests(refused=True) == []


async def test_after_setup_messages_as_case_feed_posts_are_written_with_nothing_refused(
        org: SalesforceSimulator) -> None:
    """``message_object`` FeedItem: FeedItem takes no custom field, and none is needed."""
    from connectors.salesforce.case_sync import CaseSync, SimpleSalesforceApi
    from telecase.bootstrap.salesforce import connect
    from tests.adapters.salesforce.test_case_sync import conversation, customer
    await run_setup(_settings(org), dry_run=False)
    sync = CaseSync(SimpleSalesforceApi(await connect(_settings(org))),
                    message_object="FeedItem")
    events = conversation("tg:-100:t7", customer(61, "bo"), 3)
    for _ in range(2):  # a retried batch writes nothing twice
        result = await asyncio.to_thread(sync.apply, events)
        assert result.rejected == []
    async with SalesforceDriver(org.base_url, org.ca_file) as driver:
        [case] = await driver.records("Case")
        assert len(await driver.records("FeedItem", ParentId=case["Id"])) == 3
        assert await driver.requests(refused=True) == []
