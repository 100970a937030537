"""``telecase deadletter`` on the real broker: the embedded scenarios
(:mod:`tests.e2e.embedded.test_deadletter`) beside the running worker and projector, the
waiting gauge served by the projector; a Salesforce refusal retried to the Salesforce
connector's sync only."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from tests.e2e.embedded.conftest import SimulatorThread
from tests.e2e.embedded.test_deadletter import (
    early_decision,
    list_show_retry,
    post_topic,
    refuse_telegram_cases,
    routed_events,
    salesforce_retry_scenario,
    talk,
    waiting,
)
from tests.e2e.kafka.conftest import Deployment, SalesforceThread, free_port
from tests.infra import wait_for

pytestmark = pytest.mark.integration


async def _produce_decision(bootstrap: str, topic: str) -> None:
    decision = early_decision()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:  # keyed by chat, partitioned as the worker's own writes are
        await producer.send_and_wait(topic, decision.to_bytes(),
                                     key=decision.routing_key().encode())
    finally:
        await producer.stop()


def test_a_dead_letter_is_listed_shown_and_retried_once_on_kafka(
        deployment: Deployment) -> None:
    dep = deployment
    assert dep.start("topics", "topics").proc.wait(60) == 0  # type: ignore[union-attr]
    asyncio.run(_produce_decision(dep.bootstrap, dep.names.ticket_commands))
    port = free_port()
    dep.worker()
    dep.projector(TELECASE_METRICS_PORT=str(port))
    dep.webhook()
    wait_for(lambda: dep.read_topic(dep.names.dead_letters), 60, what="the dead letter")
    post_topic(dep.webhook_url, dep.webhook_secret)  # the cause fixed: the ticket exists
    wait_for(lambda: dep.cases(), 30, what="the ticket's case row")
    assert wait_for(lambda: waiting(port) == 1, 15, what="the waiting gauge")

    list_show_retry(dep.env(), "kafka")  # beside the running processes
    wait_for(lambda: routed_events(dep.read_topic(dep.names.ticket_events)), 30,
             what="the re-driven decision folded")
    assert wait_for(lambda: waiting(port) == 0, 15, what="the gauge at 0")
    wait_for(lambda: [r["queue"] for r in dep.cases()] == ["vip"], 15, what="the queue")
    assert len(routed_events(dep.read_topic(dep.names.ticket_events))) == 1


def test_a_salesforce_refusal_is_retried_to_its_case_once_on_kafka(
        deployment: Deployment, telegram: SimulatorThread,
        salesforce: SalesforceThread) -> None:
    dep = deployment
    refuse_telegram_cases(salesforce, refuse=True)
    assert dep.start("topics", "topics").proc.wait(60) == 0  # type: ignore[union-attr]
    dep.webhook()
    dep.worker()
    dep.projector()
    dep.start("salesforce", "connector", "salesforce", **salesforce.env())
    talk(telegram, dep.webhook_url, dep.webhook_secret)
    salesforce_retry_scenario({**dep.env(), "TEST_RUNTIME": "kafka"}, salesforce,
                              lambda: dep.read_topic(dep.names.ticket_events))
