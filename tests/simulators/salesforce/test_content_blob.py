"""A File's bytes through the sObject Blob Get resource
(``/sobjects/ContentVersion/<id>/VersionData``): binary, not JSON (issue 16 item 6)."""

from __future__ import annotations

import base64

from simple_salesforce import Salesforce

from tests.simulators.salesforce.conftest import call

PNG = b"\x89PNG\r\n\x1a\n a screenshot"


async def test_version_data_answers_the_files_bytes(sf: Salesforce) -> None:
    case = await call(sf.Case.create, {"Subject": "Screenshot"})
    created = await call(sf.ContentVersion.create, {
        "PathOnClient": "screen.png", "FirstPublishLocationId": case["id"],
        "VersionData": base64.b64encode(PNG).decode()})
    url = f"{sf.base_url}sobjects/ContentVersion/{created['id']}/VersionData"
    answer = await call(sf.session.get, url, headers=sf.headers)
    assert answer.status_code == 200 and answer.content == PNG
    assert answer.headers["Content-Type"].startswith("application/octet-stream")
    missing = await call(sf.session.get, url.replace(created["id"], "068000000000000AAA"),
                         headers=sf.headers)
    assert missing.status_code == 404
