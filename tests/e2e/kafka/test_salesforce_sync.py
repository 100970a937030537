"""Telegram topic → Kafka → worker → ``telecase connector salesforce`` → a Case in the
Salesforce simulator, through the unmodified simple-salesforce client; and back: an agent's
CaseComment → ``salesforce.changes`` → worker → ``telecase connector telegram-out`` → the
customer's topic. Through an outage, every process's ``/metrics`` tells what happened."""

from __future__ import annotations

import pytest

from tests.e2e.kafka.conftest import (
    BOT_TOKEN,
    Deployment,
    SalesforceThread,
    SimulatorThread,
    agent_reply_scenario,
    free_port,
    outage_scenario,
    salesforce_scenario,
)
from tests.e2e.kafka.test_ticket_pipeline import enrol_agent
from tests.infra import wait_for
from tests.metrics import Scrape, scrape

pytestmark = pytest.mark.integration


def test_a_topic_becomes_one_case_with_contact_and_tasks_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.webhook()
    dep.worker()
    dep.start("salesforce", "connector", "salesforce", **salesforce.env())
    salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)


def test_an_agents_case_comment_reaches_the_customers_topic_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    dep.agent_ids = str(enrol_agent(telegram))
    dep.webhook()
    dep.worker()
    dep.projector()
    fast = {"TELECASE_SALESFORCE_POLL_INTERVAL": "0.5",
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    dep.start("salesforce", "connector", "salesforce", **salesforce.env(), **fast)
    dep.start("telegram-out", "connector", "telegram-out", **fast)
    where = salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
    agent_reply_scenario(telegram, salesforce, where, dep.cases, int(dep.agent_ids))


def test_a_salesforce_outage_keeps_the_backlog_and_it_drains_once_on_kafka(
        deployment: Deployment, telegram: SimulatorThread, salesforce: SalesforceThread) -> None:
    dep = deployment
    ports = {name: free_port() for name in PROCESSES}

    def metrics(name: str) -> dict[str, str]:
        return {"TELECASE_METRICS_PORT": str(ports[name])}

    dep.webhook(**metrics("connector"))
    dep.worker(**metrics("worker"))
    dep.projector(**metrics("projector"))
    fast = {"TELECASE_SALESFORCE_POLL_INTERVAL": "0.5",
            "TELECASE_SALESFORCE_SYNC_MAX_BACKOFF": "2",
            "TELECASE_SALESFORCE_POLL_MAX_BACKOFF": "2",
            "TELECASE_TELEGRAM_API_BASE": telegram.base_url}
    dep.start("salesforce", "connector", "salesforce", **salesforce.env(), **fast,
              **metrics("salesforce"))
    dep.start("telegram-out", "connector", "telegram-out", **fast, **metrics("telegram-out"))
    where = salesforce_scenario(telegram, salesforce, dep.webhook_url, dep.webhook_secret)
    # the reply written during the outage meets a Telegram failure first, and is retried
    telegram.drive(lambda tg: tg.fail_next(1, 500, methods=["sendMessage"]))
    outage_scenario(telegram, salesforce, where)
    every_process_tells_it_in_metrics(dep, ports, salesforce)


PROCESSES = ("connector", "worker", "projector", "salesforce", "telegram-out")


def every_process_tells_it_in_metrics(dep: Deployment, ports: dict[str, int],
                                      salesforce: SalesforceThread) -> None:
    """After :func:`outage_scenario`: each consumer's lag drops to 0 on every partition it
    reads; the API calls, their failures, and the events appended and applied are counted;
    and no process wrote a secret into its log."""
    names = dep.names
    consumers = {"worker": (f"{dep.prefix}worker", {names.telegram_updates,
                                                     names.salesforce_changes,
                                                     names.ticket_commands}),
                 "projector": (f"{dep.prefix}projector", {names.ticket_events}),
                 "salesforce": ("salesforce-sync", {names.ticket_events}),
                 "telegram-out": ("telegram-mirror", {names.ticket_events})}

    def lags() -> dict[str, dict[tuple[str, str], float]]:
        out = {}
        for process, (group, _) in consumers.items():
            now = scrape(ports[process])
            assert now is not None, f"{process} serves no /metrics"
            out[process] = {(s.labels["topic"], s.labels["partition"]): s.value
                            for s in now.series("telecase_consumer_lag", group=group)}
        return out

    def caught_up() -> bool:
        seen = lags()
        return all({t for t, _ in seen[p]} == topics and len(seen[p]) == 4 * len(topics)
                   and not any(seen[p].values()) for p, (_, topics) in consumers.items())

    wait_for(caught_up, 60, what=f"every consumer's lag at 0 (last: {lags()})")
    got: dict[str, Scrape] = {}
    for process in PROCESSES:
        now = scrape(ports[process])
        assert now is not None, f"{process} serves no /metrics"
        got[process] = now
    assert got["connector"].total("telecase_telegram_updates_accepted_total") >= 12
    appended = got["worker"]
    assert appended.total("telecase_ticket_events_appended_total", type="ticket.opened") >= 2
    assert appended.total("telecase_ticket_events_appended_total",
                          type="customer.message_received") >= 10
    applied = got["projector"]
    for projector in ("cases", "audit"):
        assert applied.total("telecase_projection_events_total", projector=projector,
                             outcome="applied") >= 10, projector
    calls = got["salesforce"]
    name = "telecase_salesforce_api_calls_total"
    for operation in ("login", "composite", "query"):
        assert calls.total(name, operation=operation, outcome="ok") >= 1, operation
    # the Cases go in the batch's one folded Composite write call, after its composite of
    # reads (connectors.salesforce.folding): two composite calls at least
    assert calls.total(name, operation="composite", outcome="ok") >= 2
    assert calls.total(name, outcome="5xx") >= 1, "the outage's refusals"
    assert not [s.labels for s in calls.series(name) if s.labels["operation"] == "other"]
    sends = got["telegram-out"]
    name = "telecase_telegram_api_calls_total"
    assert sends.total(name, method="sendMessage", outcome="ok") >= 1
    assert sends.total(name, method="sendMessage", outcome="5xx") == 1
    secrets = (BOT_TOKEN.split(":")[1], salesforce.sim.password, dep.webhook_secret)
    for proc in dep.processes:
        assert not [s for s in secrets if s in proc.output()], proc.name
