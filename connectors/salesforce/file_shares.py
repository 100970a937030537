"""Files shared onto telecase's Cases from documents that already existed (issue 16 item 6).

An agent who adds a *new* File to a Case makes a ContentVersion, which the change poller's
ContentVersion query reads (:mod:`connectors.salesforce.change_poller`). An agent who shares
an *existing* File onto a Case (Add Files, choosing one from the library or another record)
makes only a ContentDocumentLink: no new version, nothing that query sees. This module reads
those links:

1. the open Cases telecase made (``Telecase_Ticket_Id__c`` set, ``IsClosed`` false): one
   query;
2. their ContentDocumentLinks changed since the poller's ``since`` (``SystemModstamp``), by
   ``LinkedEntityId IN (...)`` in chunks of :data:`CASES_PER_QUERY` Cases. Salesforce refuses
   a ContentDocumentLink query that does not pick links by ``Id``, ``ContentDocumentId`` or
   ``LinkedEntityId`` (``=`` or ``IN``) unless the user has the Query All Files permission
   (API 59.0 and later; the Object Reference's ContentDocumentLink page,
   https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-contentdocumentlink.html),
   which an integration user should not need; the simulator refuses it the same way;
3. the latest versions of the linked documents: one query when there are links.

Each (version, Case) becomes a row like the ContentVersion query's, with the Case under
``Case``, ``SystemModstamp`` the link's (the poller's ``case_file`` watermark and overlap
apply to it) and ``SharedAt`` when it was shared (the change's ``occurred_at``). The change id
is the one a new File on that Case gets (``file:<version>:<case>``), so a File uploaded onto a
Case, which makes a version *and* a link, is emitted once; the worker dedupes a version a
ticket already has too. Limitations: a link has no ``CreatedById``, so the actor named is the
version's author, and a version telecase uploaded (a customer's file) shared onto another Case
is taken for telecase's own (not read). Closed Cases are not watched.

Cost per poll: one Case query, one link query per :data:`CASES_PER_QUERY` open Cases, and one
version query when something was shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from connectors.salesforce.api import chunks

OPEN_CASES_SOQL = ("SELECT Id, CaseNumber, Telecase_Ticket_Id__c FROM Case "
                   "WHERE Telecase_Ticket_Id__c != null AND IsClosed = false")
LINKS_SOQL = ("SELECT Id, ContentDocumentId, LinkedEntityId, SystemModstamp "
              "FROM ContentDocumentLink WHERE LinkedEntityId IN ({ids}) "
              "AND SystemModstamp >= {since}")
VERSIONS_SOQL = (
    "SELECT Id, ContentDocumentId, Title, FileExtension, FileType, ContentSize, CreatedById, "
    "CreatedBy.Name, CreatedDate, SystemModstamp FROM ContentVersion "
    "WHERE ContentDocumentId IN ({ids}) AND IsLatest = true")
CASES_PER_QUERY = 200
"""Case ids in one link query (18 characters each: far below SOQL's length limit)."""

QueryAll = Callable[[str], Awaitable[list[dict[str, Any]]]]
"""Every row of a SOQL query, all pages."""


async def shared_on_cases(query_all: QueryAll, since: str) -> list[dict[str, Any]]:
    """The Files linked to telecase's open Cases since ``since`` (a SOQL datetime), one row
    per (latest version, Case), oldest link first (see the module docstring)."""
    cases = {str(c["Id"])[:15]: c for c in await query_all(OPEN_CASES_SOQL)}
    links: list[dict[str, Any]] = []
    for part in chunks(sorted(str(c["Id"]) for c in cases.values()), CASES_PER_QUERY):
        links += await query_all(LINKS_SOQL.format(ids=id_list(part), since=since))
    if not links:
        return []
    versions = {str(v["ContentDocumentId"]): v for v in await query_all(
        VERSIONS_SOQL.format(ids=id_list({str(ln["ContentDocumentId"]) for ln in links})))}
    rows = []
    for link in sorted(links, key=lambda ln: (str(ln["SystemModstamp"]), str(ln["Id"]))):
        version = versions.get(str(link["ContentDocumentId"]))
        case = cases.get(str(link["LinkedEntityId"])[:15])  # ids compare in 15 characters
        if version is not None and case is not None:
            rows.append({**version, "Case": case, "SystemModstamp": link["SystemModstamp"],
                         "SharedAt": link["SystemModstamp"]})
    return rows


def id_list(ids: Any) -> str:
    """A SOQL ``IN`` list of record ids (ids are alphanumeric: nothing to escape)."""
    return ", ".join(f"'{i}'" for i in sorted(ids) if str(i).isalnum())
