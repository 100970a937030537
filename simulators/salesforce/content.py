"""Salesforce Files in the simulated org: ContentVersion, ContentDocument, ContentDocumentLink.

As the Object Reference describes them
(https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contentversion.htm,
``sforce_api_objects_contentdocument.htm``, ``sforce_api_objects_contentdocumentlink.htm``):

- Inserting a ContentVersion without a ``ContentDocumentId`` creates its ContentDocument
  (key prefix 069; ``LatestPublishedVersionId``, ``Title``, ``FileExtension``, ``FileType``,
  ``ContentSize``). The version needs either ``VersionData`` (base64) with ``PathOnClient``
  (its name and extension) or a ``ContentUrl`` (a link File, ``FileType`` ``LINK``); otherwise
  ``REQUIRED_FIELD_MISSING``. ``Title`` defaults to the file name without its extension.
- ``FirstPublishLocationId`` (a record, e.g. a Case) makes Salesforce share the document with
  that record: a ContentDocumentLink (06A) with ``LinkedEntityId`` = that record,
  ``ShareType`` ``V`` (viewer) and ``Visibility`` ``AllUsers``. The owner's own link
  (to the user's library) is not simulated.
- A ContentDocumentLink inserted by a client (an agent sharing an existing file on a Case)
  is a plain insert.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from simulators.salesforce.errors import ApiError, required_missing

FILE_TYPES = {"pdf": "PDF", "jpg": "JPG", "jpeg": "JPG", "png": "PNG", "gif": "GIF",
              "webp": "WEBP", "txt": "TEXT", "csv": "CSV", "mp4": "MP4", "ogg": "OGG",
              "mp3": "MP3", "doc": "WORD", "docx": "WORD_X", "xls": "EXCEL",
              "xlsx": "EXCEL_X", "zip": "ZIP"}
"""``FileType`` by extension (the values the Object Reference lists); others ``UNKNOWN``."""

Insert = Callable[[str, dict[str, Any]], Any]
"""Stores a system-made record of an sObject type (the store's own insert)."""


def publish(version: dict[str, Any], insert: Insert) -> None:
    """Complete a new ContentVersion's fields and make its document and first link."""
    data, url = version.get("VersionData"), version.get("ContentUrl")
    path = version.get("PathOnClient")
    if url is None and (data is None or path is None):
        raise required_missing(["VersionData" if data is None else "PathOnClient"]
                               if url is None and (data is None) != (path is None)
                               else ["PathOnClient", "VersionData"])
    size = _size(data) if data is not None else 0
    ext = str(path).rsplit(".", 1)[-1].lower() if path and "." in str(path) else ""
    title = version.get("Title") or (str(path).rsplit(".", 1)[0] if path else str(url))
    kind = "LINK" if data is None else FILE_TYPES.get(ext, "UNKNOWN")
    version.update(Title=title, ContentSize=size, FileExtension=ext or None, FileType=kind,
                   IsLatest=True, VersionNumber="1")
    if version.get("ContentDocumentId") is None:
        document = insert("ContentDocument", {
            "Title": title, "FileExtension": ext or None, "FileType": kind,
            "ContentSize": size, "LatestPublishedVersionId": version["Id"],
            "Description": version.get("Description"), "OwnerId": version.get("OwnerId")})
        version["ContentDocumentId"] = document.id
    location = version.get("FirstPublishLocationId")
    if location:
        insert("ContentDocumentLink", {"ContentDocumentId": version["ContentDocumentId"],
                                       "LinkedEntityId": location, "ShareType": "V",
                                       "Visibility": "AllUsers"})


def content_bytes(version: dict[str, Any]) -> bytes:
    """A ContentVersion's file (empty for a link)."""
    data = version.get("VersionData")
    return base64.b64decode(data) if data else b""


def _size(data: Any) -> int:
    try:
        return len(base64.b64decode(str(data), validate=True))
    except (binascii.Error, ValueError):
        raise ApiError(400, "INVALID_FIELD", "VersionData: value not of required type: "
                       "not valid base64", ["VersionData"]) from None
