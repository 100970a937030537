"""Folding a batch's writes into one Composite call: the plan, and what Salesforce answered.

While a :class:`Fold` is open on a :class:`~connectors.salesforce.api.SimpleSalesforceApi`
(``with api.folding() as fold``), its collection writes (upsert, update, create) are not sent:
each becomes a subrequest of one Composite request, and the caller gets *provisional* answers
at once, ``{"id": "@{w2[7].id}", "success": true, ...}``: a Composite reference to record 7
of subrequest ``w2``'s answer. The caller goes on as if the write had been made, so a later
write can name that record (a Case's ``ContactId``, a Task's ``WhatId``) and Salesforce
fills the reference in within the same call. Queries whose results are only needed afterwards
(the CaseNumbers of the Cases just written) join the call too (:meth:`Fold.query`).

:meth:`~connectors.salesforce.api.SimpleSalesforceApi.send_fold` sends the lot as one
Composite request with ``allOrNone`` true and ``collateSubrequests`` false (subrequests run in
order, in one transaction; the outer ``allOrNone`` also applies to every sObject Collections
subrequest: "allOrNone Parameters in Composite and Collections Requests",
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_allornone.htm).
(A fold of one collection is sent as that collection request: the same one call.) When every
record was accepted, the provisional answers are filled in place with Salesforce's
(``id``, ``created``) and :attr:`Fold.ids` maps each reference to the real Id. When anything
failed, Salesforce rolled the whole call back, nothing was written, and the caller forgets
what it learned provisionally and writes the batch the step-by-step way, which narrows a
refusal down to its record (:mod:`connectors.salesforce.case_sync`).

A fold that cannot be one call is refused before anything is sent (:attr:`Fold.refused`):
more than 25 subrequests or more than five collections and queries (:data:`HEAVY_MAX`), or a
create that asks for the assignment rules (the rules header is the outer call's here). The
caller then writes step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COMPOSITE_MAX = 25
"""Subrequests in one Composite request."""
HEAVY_MAX = 5
"""Of those, how many may be sObject Collections or queries ("Up to 5 of these subrequests
can be sObject Collections or query operations, including Query and QueryAll requests": REST
API Developer Guide, Composite,
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite.htm)."""

Rows = Callable[[list[dict[str, Any]]], None]


def provisional(record_id: str | None) -> bool:
    """Whether ``record_id`` is a reference into an unsent fold, not a Salesforce Id."""
    return bool(record_id) and str(record_id).startswith("@{")


class Fold:
    """The subrequests of one Composite call being planned (see the module docstring)."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.subrequests: list[dict[str, Any]] = []
        self.writes: list[tuple[str, list[dict[str, Any]]]] = []
        self.queries: list[tuple[str, Rows]] = []
        self.refused: str | None = None
        """Why this fold cannot be sent as one call (``None``: it can)."""
        self.ids: dict[str, str] = {}
        """Provisional id -> the Id Salesforce gave, once the call succeeded."""

    def refuse(self, why: str) -> None:
        self.refused = self.refused or why

    def _add(self, method: str, path: str, body: Any = None) -> str:
        heavy = len(self.writes) + len(self.queries)
        if len(self.subrequests) >= COMPOSITE_MAX or heavy >= HEAVY_MAX:
            self.refuse(f"more than {HEAVY_MAX} collections and queries")
        ref = f"w{len(self.subrequests)}"
        sub: dict[str, Any] = {"method": method, "url": f"/services/data/v{self.version}/{path}",
                               "referenceId": ref}
        if body is not None:
            sub["body"] = body
        self.subrequests.append(sub)
        return ref

    def collection(self, method: str, path: str, body: dict[str, Any],
                   count: int) -> list[dict[str, Any]]:
        """A collection write of ``count`` records; its provisional answers."""
        ref = self._add(method, path, {**body, "allOrNone": True})
        answers = [{"id": f"@{{{ref}[{i}].id}}", "success": True, "errors": [],
                    "created": False} for i in range(count)]
        self.writes.append((ref, answers))
        return answers

    def query(self, soql: str, on_rows: Rows) -> None:
        """Run ``soql`` after the writes planned so far; ``on_rows`` gets its rows once the
        call succeeded."""
        from urllib.parse import quote
        self.queries.append((self._add("GET", f"query?q={quote(soql)}"), on_rows))

    def body(self) -> dict[str, Any]:
        return {"allOrNone": True, "collateSubrequests": False,
                "compositeRequest": self.subrequests}

    def settle(self, answers: list[dict[str, Any]],
               rows_of: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> bool:
        """Take Salesforce's ``compositeResponse``; ``False`` when anything failed (the call
        was rolled back). ``rows_of``: a query page's rows, every page read."""
        by_ref = {a.get("referenceId"): a for a in answers}
        for ref, planned in self.writes:
            got = by_ref.get(ref)
            if got is None or got["httpStatusCode"] >= 400 or not isinstance(got["body"], list) \
                    or len(got["body"]) != len(planned) \
                    or not all(r.get("success") for r in got["body"]):
                return False
        if any(by_ref.get(ref) is None or by_ref[ref]["httpStatusCode"] >= 400
               for ref, _ in self.queries):
            return False
        for ref, planned in self.writes:
            for answer, real in zip(planned, by_ref[ref]["body"], strict=True):
                self.ids[answer["id"]] = real["id"]
                answer.clear()
                answer.update(real)
        for ref, on_rows in self.queries:
            on_rows(rows_of(by_ref[ref]["body"]))
        return True

    def real(self, record_id: str) -> str:
        """``record_id`` with a provisional id replaced by Salesforce's."""
        return self.ids.get(record_id, record_id)
