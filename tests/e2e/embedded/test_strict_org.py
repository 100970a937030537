"""``telecase run`` against a strict simulated org: only Salesforce's standard schema plus what
``telecase salesforce setup`` created, SOAP ``login()`` disabled, an active Case assignment
rule, logging in with the JWT bearer flow and again with client credentials on the org's My
Domain. ``check`` fails on the empty org and passes after ``setup``; then a Telegram topic
becomes a Contact, a Case and Tasks, an agent's CaseComment reaches the customer's topic, a
Telegram agent's answer becomes one CaseComment, a closed Case closes the ticket, and the
simulator's request log shows no refused call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.salesforce.org_schema import CUSTOM_FIELDS
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread, agent_reply_scenario, salesforce_scenario
from tests.e2e.kafka.test_ticket_pipeline import enrol_agent

DOMAIN = "acme.my"


class StrictOrg(SalesforceThread):
    """The strict simulated org, served from a thread; :meth:`env` logs in with ``flow``."""

    def __init__(self, cert_dir: Path, key_file: Path, public_key: str, flow: str) -> None:
        from simulators.salesforce import SalesforceSimulator
        self.key_file, self.flow = key_file, flow
        self._serve(SalesforceSimulator(cert_dir=cert_dir, schema="standard", soap_login=False,
                                        my_domain=DOMAIN, jwt_certificate=public_key,
                                        client_credentials=True,
                                        case_assignment_queue="Support Queue"))

    def env(self) -> dict[str, str]:
        sim = self.sim
        common = {"TELECASE_SALESFORCE_AUTH": self.flow,
                  "TELECASE_SALESFORCE_CONSUMER_KEY": sim.consumer_key,
                  "TELECASE_SALESFORCE_LOGIN_URL": sim.base_url,
                  "TELECASE_SALESFORCE_CA_FILE": str(sim.ca_file)}
        if self.flow == "jwt":
            return {**common, "TELECASE_SALESFORCE_PRIVATE_KEY_FILE": str(self.key_file),
                    "TELECASE_SALESFORCE_USERNAME": sim.username}
        # no username: telecase learns the run-as user from the token (UserInfo)
        return {**common, "TELECASE_SALESFORCE_CONSUMER_SECRET": sim.consumer_secret,
                "TELECASE_SALESFORCE_DOMAIN": DOMAIN}


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


@pytest.fixture(params=["jwt", "client_credentials"])
def strict_org(request: pytest.FixtureRequest, tmp_path: Path,
               key_pair: tuple[Path, str]) -> Iterator[StrictOrg]:
    org = StrictOrg(tmp_path / "sf-certs", *key_pair, flow=request.param)
    try:
        yield org
    finally:
        org.close()


def _command(embedded: EmbeddedDeployment, org: StrictOrg, name: str, *args: str) -> Any:
    """``telecase salesforce <args>`` to its end: its exit code and output."""
    proc = embedded.start(name, "salesforce", *args, **org.env())
    assert proc.proc is not None
    code = proc.proc.wait(90)
    return code, proc.output()


def test_telecase_runs_on_a_strict_org_set_up_by_telecase_salesforce_setup(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, strict_org: StrictOrg) -> None:
    org = strict_org
    code, output = _command(embedded, org, "check-empty", "check", "--json")
    assert code == 1, output
    missing = {(line["kind"], line["item"]) for line in json.loads(output)["lines"]
               if line["status"] == "missing"}
    assert {("field", s.qualified) for s in CUSTOM_FIELDS} <= missing
    code, output = _command(embedded, org, "setup", "setup")
    assert code == 0, output
    code, output = _command(embedded, org, "check-done", "check")
    assert code == 0, output
    assert "The org is ready for telecase." in output
    assert org.act(lambda d: d.requests(refused=True)) == []

    embedded.agent_ids = str(enrol_agent(telegram))
    embedded.run("run", **org.env(), TELECASE_SALESFORCE_POLL_INTERVAL="0.5",
                 TELECASE_TELEGRAM_API_BASE=telegram.base_url,
                 TELECASE_SALESFORCE_REPORT_FIELDS="true")
    where = salesforce_scenario(telegram, org, embedded.webhook_url, embedded.webhook_secret)
    assert where["case"]["Origin"] == "Telegram"
    # the org's active assignment rule did not run on telecase's writes (Sforce-Auto-Assign)
    assert where["case"]["OwnerId"] == org.sim.integration_user_id
    agent_reply_scenario(telegram, org, where, embedded.cases, int(embedded.agent_ids))
    _reportable_fields_match_the_projection(org, where["case"]["Id"], embedded)
    refused = org.act(lambda d: d.requests(refused=True))
    assert refused == [], refused


def _reportable_fields_match_the_projection(org: StrictOrg, case_id: str,
                                            embedded: EmbeddedDeployment) -> None:
    """The Case's reportable fields (issue 17, ``TELECASE_SALESFORCE_REPORT_FIELDS``) hold
    what the ``cases`` projection holds."""
    from tests.infra import wait_for

    def seconds(row: dict[str, Any], column: str) -> int | None:
        end = row[column]
        return None if end is None else round((_when(end) - _when(row["opened_at"]))
                                              .total_seconds())

    def expected() -> dict[str, Any]:
        [row] = embedded.cases()
        return {"Telecase_First_Response_Seconds__c": seconds(row, "first_response_at"),
                "Telecase_Resolution_Seconds__c": seconds(row, "closed_at"),
                "Telecase_Escalation_Level__c": row["escalation_level"],
                "Telecase_Channel__c": row["channel"],
                "Telecase_Pilot_Group__c": str(row["chat_id"]),
                "Telecase_First_Response_At__c": _epoch(row["first_response_at"])}

    def on_case() -> dict[str, Any]:
        [case] = [c for c in org.records("Case") if c["Id"] == case_id]
        got = {k: case.get(k) for k in expected()}
        for k in ("Telecase_First_Response_Seconds__c", "Telecase_Resolution_Seconds__c",
                  "Telecase_Escalation_Level__c"):
            got[k] = None if got[k] is None else round(got[k])
        at = got["Telecase_First_Response_At__c"]
        got["Telecase_First_Response_At__c"] = at and _epoch(at)
        return got

    wait_for(lambda: on_case() == expected(), 30, what="the Case's reportable fields")


def _when(at: Any) -> Any:
    """A datetime, aware, from a projection's or Salesforce's value (text, maybe naive UTC)."""
    from datetime import UTC, datetime
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _epoch(at: Any) -> int | None:
    """Whole seconds (Salesforce keeps milliseconds)."""
    return None if at is None else round(_when(at).timestamp())
