"""Fixtures for tests against the real Kafka broker and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.runtime.topics import TopicNames
from tests import infra

BOT_TOKEN = "7000000001:AAE-test-token"
BOT_ID = 7000000001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """One isolated telecase deployment on the shared broker and server: its own topic
    prefix, consumer groups and database."""

    bootstrap: str
    database_url: str
    log_dir: Path
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}.")
    webhook_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    webhook_port: int = field(default_factory=free_port)
    processes: list[infra.Process] = field(default_factory=list)
    agent_ids: str = ""

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/telegram"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "TELECASE_DATABASE_URL": self.database_url,
            "TELECASE_TOPIC_PREFIX": self.prefix,
            "TELECASE_TOPIC_PARTITIONS": "4",
            "TELECASE_WORKER_APP_ID": f"{self.prefix}worker",
            "TELECASE_PROJECTOR_GROUP_ID": f"{self.prefix}projector",
            "TELECASE_TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELECASE_TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
            "TELECASE_WEBHOOK_HOST": "127.0.0.1",
            "TELECASE_WEBHOOK_PORT": str(self.webhook_port),
            "TELECASE_DATA_DIR": str(self.log_dir / "data"),
            "TELECASE_LOG_LEVEL": "info",
            "TELECASE_CONSUMER_SESSION_TIMEOUT": "6",
            "TELECASE_TELEGRAM_AGENT_IDS": self.agent_ids,
            **extra,
        }

    def start(self, name: str, *args: str, **extra_env: str) -> infra.Process:
        """``name`` is also the process's ``TELECASE_INSTANCE_ID`` (its static group
        membership): processes of one role running side by side differ, one started again
        under the same name takes its partitions back at once."""
        extra_env.setdefault("TELECASE_INSTANCE_ID", name)
        proc = infra.Process(list(args), self.env(**extra_env), self.log_dir, name).start()
        self.processes.append(proc)
        return proc

    def worker(self, name: str = "worker", **extra_env: str) -> infra.Process:
        return self.start(name, "worker", **extra_env)

    def projector(self, name: str = "projector", **extra_env: str) -> infra.Process:
        return self.start(name, "projector", **extra_env)

    def webhook(self, name: str = "connector", **extra_env: str) -> infra.Process:
        proc = self.start(name, "connector", "telegram", **extra_env)
        infra.wait_for(lambda: infra.port_open(self.webhook_port) or not proc.alive(), 60,
                       what="webhook port")
        assert proc.alive(), proc.output()
        return proc

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url)

    def cases(self) -> list[dict[str, Any]]:
        return infra.read_cases(self.database_url)

    def read_topic(self, topic: str) -> list[Any]:
        return asyncio.run(read_all(self.bootstrap, topic))

    def stop_all(self) -> None:
        infra.stop_all(self.processes)


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record currently in a topic (all partitions), in partition/offset order."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for p in described[0]["partitions"])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                out.extend(records)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


@contextlib.contextmanager
def deployed(bootstrap: str, pg_server: str, log_dir: Path) -> Iterator[Deployment]:
    """A :class:`Deployment` on ``bootstrap`` with a fresh database; its processes stopped
    (and their output shown) at the end."""
    with infra.fresh_database(pg_server) as db_url:
        dep = Deployment(bootstrap=bootstrap, database_url=db_url, log_dir=log_dir)
        try:
            yield dep
        finally:
            dep.stop_all()
            infra.show_outputs(dep.processes)


@pytest.fixture
def deployment(kafka_bootstrap: str, pg_server: str, tmp_path: Path) -> Iterator[Deployment]:
    with deployed(kafka_bootstrap, pg_server, tmp_path) as dep:
        yield dep


class _ServedInThread:
    """A simulator serving from its own event loop in a thread, so synchronous process-level
    tests can use it while their processes run."""

    sim: Any

    def _serve(self, sim: Any) -> None:
        import threading
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class SimulatorThread(_ServedInThread):
    """The Telegram Bot API simulator; ``drive(action)`` runs ``action(driver)``."""

    def __init__(self) -> None:
        from simulators.telegram import BotApiSimulator, RetryPolicy
        self._serve(BotApiSimulator(BOT_TOKEN, webhook_retry=RetryPolicy(
            initial_delay=0.2, factor=2.0, max_delay=2.0, max_attempts=50, request_timeout=10)))

    @property
    def base_url(self) -> str:
        return str(self.sim.base_url)

    def drive(self, action: Any) -> Any:
        """Run ``action(driver)`` (an async function) against this simulator."""
        from simulators.telegram import SimulatorDriver

        async def run() -> Any:
            async with SimulatorDriver(self.base_url) as driver:
                return await action(driver)

        return asyncio.run(run())

    def bot_api(self, method: str, **params: Any) -> Any:
        import httpx
        response = httpx.post(f"{self.base_url}/bot{BOT_TOKEN}/{method}", json=params,
                              timeout=10).json()
        assert response["ok"], response
        return response["result"]

@pytest.fixture
def telegram() -> Iterator[SimulatorThread]:
    sim = SimulatorThread()
    try:
        yield sim
    finally:
        sim.close()


class SalesforceThread(_ServedInThread):
    """The Salesforce simulator, for process-level tests."""

    def __init__(self, cert_dir: Path) -> None:
        from simulators.salesforce import SalesforceSimulator
        self._serve(SalesforceSimulator(cert_dir=cert_dir))

    def env(self) -> dict[str, str]:
        return {"TELECASE_SALESFORCE_USERNAME": self.sim.username,
                "TELECASE_SALESFORCE_PASSWORD": self.sim.password,
                "TELECASE_SALESFORCE_SECURITY_TOKEN": self.sim.security_token,
                "TELECASE_SALESFORCE_LOGIN_URL": self.sim.base_url,
                "TELECASE_SALESFORCE_CA_FILE": str(self.sim.ca_file)}

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.act(lambda driver: driver.records(sobject)))

    def act(self, action: Any) -> Any:
        """Run ``action(driver)`` (returning an awaitable) against this simulator."""
        from simulators.salesforce import SalesforceDriver

        async def run() -> Any:
            async with SalesforceDriver(self.sim.base_url, self.sim.ca_file) as driver:
                return await action(driver)

        return asyncio.run(run())


@pytest.fixture
def salesforce(tmp_path: Path) -> Iterator[SalesforceThread]:
    sf = SalesforceThread(tmp_path / "sf-certs")
    try:
        yield sf
    finally:
        sf.close()


def salesforce_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                        webhook_url: str, secret: str) -> dict[str, Any]:
    """A topic conversation through Telegram ends up as one Contact, one Case, its Tasks.
    Returns where it happened: ``forum_id``, ``thread_id``, ``customer_id``, ``case``."""
    from tests.infra import wait_for
    telegram.bot_api("setWebhook", url=webhook_url, secret_token=secret)

    async def talk(tg: Any) -> dict[str, Any]:
        ann = await tg.create_user("Ann", username="ann")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Pricing for 50 seats")
        for text in ("What does it cost?", "Annual billing?"):
            await tg.write(forum["id"], ann["id"], text, topic.thread_id)
        return {"forum_id": forum["id"], "thread_id": topic.thread_id,
                "customer_id": ann["id"]}

    async def retry_all(tg: Any) -> None:  # Telegram retrying every update
        for update in await tg.updates():
            await tg.redeliver(update["update_id"])

    where = telegram.drive(talk)
    wait_for(lambda: len(salesforce.records("Task")) == 2, 90, what="Tasks in Salesforce")
    telegram.drive(retry_all)
    time.sleep(3)
    [contact] = salesforce.records("Contact")
    [case] = salesforce.records("Case")
    assert case["Subject"] == "Pricing for 50 seats" and case["ContactId"] == contact["Id"]
    assert contact["Telegram_Username__c"] == "ann"
    assert sorted(t["Description"] for t in salesforce.records("Task")) == [
        "Annual billing?", "What does it cost?"]
    return {**where, "case": case}


def agent_reply_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                         where: dict[str, Any], cases: Any, telegram_agent: int) -> None:
    """After :func:`salesforce_scenario`: the Case is linked back to the ticket; an agent's
    CaseComment reaches the customer in the topic, once; an agent closing the Case closes the
    ticket; and when the topic is deleted, the next reply arrives in a recreated topic (after
    a short note), which the ticket follows. ``telegram_agent`` (on the roster) answering in
    the topic becomes one CaseComment. ``cases()`` reads the projection's rows."""
    from tests.infra import wait_for
    forum_id, thread_id, case = where["forum_id"], where["thread_id"], where["case"]
    wait_for(lambda: [r["salesforce_case_id"] for r in cases()] == [case["Id"]], 60,
             what="the Case linked back to the ticket")
    [row] = cases()
    assert row["salesforce_case_number"] == case["CaseNumber"]
    agent = salesforce.act(lambda d: d.create_user("Dana Agent"))
    salesforce.act(lambda d: d.post_case_comment(case["Id"], "It is $10 per seat.",
                                                 user_id=agent["Id"]))

    def sent(text: str) -> list[dict[str, Any]]:
        return [m for m in telegram.drive(lambda tg: tg.sent_messages(forum_id))
                if text in (m.get("text") or "")]

    wait_for(lambda: sent("It is $10 per seat."), 60, what="the agent's reply in Telegram")
    wait_for(lambda: [r["agent_reply_count"] for r in cases()] == [1], 30,
             what="the reply in the projection")
    telegram.drive(lambda tg: tg.write(forum_id, telegram_agent, "Alex here, happy to help.",
                                       thread_id))

    def comments_from_telegram() -> list[dict[str, Any]]:
        return [c for c in salesforce.records("CaseComment")
                if "Alex here, happy to help." in (c.get("CommentBody") or "")]

    wait_for(comments_from_telegram, 60, what="the Telegram agent's answer as a CaseComment")
    wait_for(lambda: [r["agent_reply_count"] for r in cases()] == [2], 30,
             what="both replies in the projection")
    salesforce.act(lambda d: d.set_case_status(case["Id"], "Closed", user_id=agent["Id"]))
    wait_for(lambda: [(r["status"], r["salesforce_status"]) for r in cases()] == [
        ("closed", "Closed")], 60, what="the ticket closed from Salesforce")
    [row] = cases()
    assert row["thread_id"] == thread_id
    telegram.drive(lambda tg: tg.delete_topic(forum_id, thread_id, where["customer_id"]))
    salesforce.act(lambda d: d.post_case_comment(case["Id"], "Following up on pricing.",
                                                 user_id=agent["Id"]))
    wait_for(lambda: sent("Following up on pricing."), 60, what="the reply after deletion")
    [follow_up] = sent("Following up on pricing.")
    new_thread = follow_up["message_thread_id"]
    assert new_thread not in (None, thread_id)
    notes = [m for m in telegram.drive(lambda tg: tg.sent_messages(forum_id))
             if m["message_thread_id"] == new_thread and m["message_id"] < follow_up["message_id"]]
    assert notes, "a short history note comes before the reply in the new topic"
    wait_for(lambda: [r["thread_id"] for r in cases()] == [new_thread], 60,
             what="the ticket re-linked to the new topic")
    telegram.drive(lambda tg: tg.write(forum_id, where["customer_id"], "Thanks, and VAT?",
                                       new_thread))
    wait_for(lambda: [r["message_count"] for r in cases()] == [3], 60,
             what="the customer's message in the new topic on the same ticket")
    time.sleep(2)
    [comment] = comments_from_telegram()  # once, and never sent back into Telegram
    assert comment["ParentId"] == case["Id"] and comment["IsPublished"]
    assert not sent("Alex here, happy to help.")
    [first] = sent("It is $10 per seat.")  # once, in the original topic
    assert first["message_thread_id"] == thread_id
    assert len(sent("Following up on pricing.")) == 1


def outage_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                    where: dict[str, Any], seconds: float = 8.0) -> None:
    """After :func:`salesforce_scenario`: Salesforce goes down (compressed: ``seconds``, many
    backoff rounds) while customers keep writing and an agent comments; nothing reaches it
    meanwhile, and when it is back the backlog drains with nothing lost or doubled, and the
    agent's comment reaches the customer once."""
    from tests.infra import wait_for
    forum_id, thread_id, case = where["forum_id"], where["thread_id"], where["case"]
    agent = salesforce.act(lambda d: d.create_user("Omar Agent"))
    salesforce.act(lambda d: d.start_outage())

    async def more(tg: Any) -> None:
        for n in range(5):
            await tg.write(forum_id, where["customer_id"], f"During the outage {n}", thread_id)
        bob = await tg.create_user("Bob", username="bob")
        topic = await tg.open_topic(forum_id, bob["id"], "Demo request")
        for n in range(3):
            await tg.write(forum_id, bob["id"], f"Bob asks {n}", topic.thread_id)

    telegram.drive(more)
    salesforce.act(lambda d: d.post_case_comment(case["Id"], "Answer written in the outage.",
                                                 user_id=agent["Id"]))
    time.sleep(seconds)
    # read through the simulator's own API, which its outage does not cover
    assert len(salesforce.records("Task")) == 2, "nothing reached Salesforce while it was down"
    salesforce.act(lambda d: d.clear_faults())
    wait_for(lambda: len(salesforce.records("Task")) == 10, 120, what="the backlog drained")

    def sent() -> list[dict[str, Any]]:
        return [m for m in telegram.drive(lambda tg: tg.sent_messages(forum_id))
                if "Answer written in the outage." in (m.get("text") or "")]

    wait_for(sent, 60, what="the agent's comment from the outage in Telegram")
    time.sleep(3)
    assert [len(salesforce.records(t)) for t in ("Contact", "Case", "Task")] == [2, 2, 10]
    assert sorted(t["Description"] for t in salesforce.records("Task")) == sorted(
        ["What does it cost?", "Annual billing?", *(f"During the outage {n}" for n in range(5)),
         *(f"Bob asks {n}" for n in range(3))])
    assert [m["message_thread_id"] for m in sent()] == [thread_id]
