"""A Salesforce File's bytes, for the reply mirror (issue 16 item 6).

The sObject Blob Get resource,
``GET /services/data/vXX.X/sobjects/ContentVersion/<id>/VersionData``, answers the bytes
themselves, not JSON (REST API Developer Guide, "sObject Blob Get",
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_blob_retrieve.htm).
Errors map as every other call does (:mod:`connectors.salesforce.api`).
"""

from __future__ import annotations

import asyncio

from connectors.salesforce.api import SimpleSalesforceApi


class SalesforceFileDownloads(SimpleSalesforceApi):
    """:class:`~connectors.telegram.reply_mirror.files.FileDownloads` over simple-salesforce."""

    def _version_data(self, version_id: str) -> bytes:
        url = f"{self.sf.base_url}sobjects/ContentVersion/{version_id}/VersionData"
        return bytes(self._call("_call_salesforce", "GET", url, "VersionData").content)

    async def version_data(self, version_id: str) -> bytes:
        return await asyncio.to_thread(self._version_data, version_id)
