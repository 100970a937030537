"""An agent's File on the Case reaches the customer's topic, on the embedded runtime against
both simulators (issue 16 item 6): added in Salesforce, polled, sent with sendDocument (the
bytes from the Case's ContentVersion), once, also across a restart."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import BOT_TOKEN, SalesforceThread
from tests.infra import wait_for

PRICES = b"%PDF-1.4\n" + b"price line\n" * 40


def _run(dep: EmbeddedDeployment, telegram: SimulatorThread,
         salesforce: SalesforceThread) -> None:
    dep.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url,
            TELECASE_SALESFORCE_POLL_INTERVAL="0.5", **salesforce.env())


def agent_file_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                        webhook_url: str, webhook_secret: str) -> Callable[[], list[Any]]:
    """Ann asks in a topic; an agent adds a File to the Case; it reaches Ann's topic with
    sendDocument, the bytes of the ContentVersion. Returns what lists the files sent."""
    telegram.bot_api("setWebhook", url=webhook_url, secret_token=webhook_secret)

    async def talk(tg: Any) -> dict[str, Any]:
        ann = await tg.create_user("Ann", username="ann")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Price list please")
        await tg.write(forum["id"], ann["id"], "Can you send the price list?",
                       topic.thread_id)
        return {"forum": forum["id"], "thread": topic.thread_id}

    where = telegram.drive(talk)
    [case] = wait_for(lambda: salesforce.records("Case"), 30, what="the Case")
    salesforce.act(lambda d: d.create("ContentVersion", {
        "PathOnClient": "prices.pdf", "FirstPublishLocationId": case["Id"],
        "VersionData": base64.b64encode(PRICES).decode()}))

    def files_sent() -> list[dict[str, Any]]:
        return [m for m in telegram.drive(lambda tg: tg.sent_messages(where["forum"]))
                if m.get("file")]

    [sent] = wait_for(files_sent, 30, what="the agent's File in the topic")
    assert sent["message_thread_id"] == where["thread"]
    assert sent["file"]["kind"] == "document"
    assert sent["message"]["document"]["file_name"] == "prices.pdf"
    assert sent["text"].endswith("prices.pdf")
    path = telegram.bot_api("getFile", file_id=sent["file"]["file_id"])["file_path"]
    assert httpx.get(f"{telegram.base_url}/file/bot{BOT_TOKEN}/{path}").content == PRICES
    return files_sent


def test_an_agents_file_on_the_case_reaches_the_topic_once(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        _run(embedded, telegram, salesforce)
        files_sent = agent_file_scenario(telegram, salesforce, embedded.webhook_url,
                                         embedded.webhook_secret)
        embedded.stop_all()  # a restart: the poller and the mirror resume, nothing twice
        _run(embedded, telegram, salesforce)
        time.sleep(3)
        assert len(files_sent()) == 1
    finally:
        salesforce.close()
