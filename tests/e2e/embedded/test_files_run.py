"""Files both ways on the embedded runtime, against both simulators (issue 16 item 6): a
customer's photo and PDF reach the Case as Salesforce Files, once across a restart, and a file
over ``TELECASE_FILES_MAX_BYTES`` is linked, not lost."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.conftest import SalesforceThread
from tests.infra import wait_for

PDF = b"%PDF-1.4\n" + b"quote line\n" * 60
JPEG = b"\xff\xd8\xff\xe0" + b"pixels" * 100
VIDEO = b"\x00\x00\x00\x18ftypmp4" * 400


def _run(dep: EmbeddedDeployment, telegram: SimulatorThread,
         salesforce: SalesforceThread) -> None:
    dep.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url,
            TELECASE_FILES_MAX_BYTES="2000", **salesforce.env())


def files_scenario(telegram: SimulatorThread, salesforce: SalesforceThread,
                   webhook_url: str, secret: str) -> None:
    """A customer's photo, PDF and a video over the limit (``TELECASE_FILES_MAX_BYTES=2000``)
    become three Files on the Case: two copied, one linked."""
    telegram.bot_api("setWebhook", url=webhook_url, secret_token=secret)

    async def send(tg: Any) -> dict[str, Any]:
        ann = await tg.create_user("Ann", username="ann")
        forum = await tg.create_forum("Sales")
        topic = await tg.open_topic(forum["id"], ann["id"], "Quote for 50 seats")
        await tg.write(forum["id"], ann["id"], "Here is what we have", topic.thread_id)
        await tg.send_file(forum["id"], ann["id"], "photo", content=JPEG,
                           caption="the error", message_thread_id=topic.thread_id)
        await tg.send_file(forum["id"], ann["id"], "document", content=PDF,
                           file_name="quote.pdf", mime_type="application/pdf",
                           message_thread_id=topic.thread_id)
        video = await tg.send_file(forum["id"], ann["id"], "video", content=VIDEO,
                                   mime_type="video/mp4", file_name="demo.mp4",
                                   message_thread_id=topic.thread_id)
        return {"forum": forum["id"], "video": video.message_id}

    where = telegram.drive(send)
    versions = wait_for(lambda: (v := salesforce.records("ContentVersion"))
                        and len(v) == 3 and v, 40, what="three Files on the Case")
    [case] = salesforce.records("Case")
    assert {v["FirstPublishLocationId"] for v in versions} == {case["Id"]}
    by_title = {v["Title"]: v for v in versions}
    pdf = by_title["quote.pdf"]
    assert base64.b64decode(pdf["VersionData"]) == PDF and pdf["FileType"] == "PDF"
    [photo] = [v for v in versions if v["FileType"] == "JPG"]
    assert base64.b64decode(photo["VersionData"]) == JPEG
    video = by_title["demo.mp4 (in Telegram)"]  # 2,000 bytes at most: linked
    assert video["FileType"] == "LINK" and video["ContentUrl"] == (
        f"https://t.me/c/{str(where['forum'])[4:]}/{where['video']}")
    links = salesforce.records("ContentDocumentLink")
    assert {(ln["ContentDocumentId"], ln["LinkedEntityId"]) for ln in links} == {
        (v["ContentDocumentId"], case["Id"]) for v in versions}


def redeliver_everything(telegram: SimulatorThread) -> None:
    async def redeliver(tg: Any) -> None:
        for update in await tg.updates():
            await tg.redeliver(update["update_id"])

    telegram.drive(redeliver)


def test_a_photo_and_a_pdf_reach_the_case_once_and_a_big_file_is_linked(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    salesforce = SalesforceThread(tmp_path / "sf-certs")
    try:
        _run(embedded, telegram, salesforce)
        files_scenario(telegram, salesforce, embedded.webhook_url, embedded.webhook_secret)
        embedded.stop_all()  # a restart, and Telegram delivering every update again
        _run(embedded, telegram, salesforce)
        redeliver_everything(telegram)
        wait_for(lambda: len(salesforce.records("Task")) >= 1, 20, what="the sync after restart")
        time.sleep(3)
        assert len(salesforce.records("ContentVersion")) == 3
    finally:
        salesforce.close()
