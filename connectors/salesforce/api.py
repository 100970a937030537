"""The Salesforce REST calls telecase makes, over an unmodified simple-salesforce client, and
how their failures are classified.

::

    ConnectorError                      (connectors.errors)
    ├── TransientError                  the backlog waits in the log; retried with backoff
    │   └── SalesforceUnavailable       ``reason``: why (the sync counts and logs it)
    │         auth     a login refused (SalesforceAuthenticationFailed: password rotated,
    │                  IP restriction, the login service down), or a session that expired
    │                  with no way to log in again
    │         network  no answer (connection refused or reset, timeout)
    │         server   HTTP 5xx, 429
    │         limit    REQUEST_LIMIT_EXCEEDED (the org's daily API limit)
    │         lock     UNABLE_TO_LOCK_ROW still locked after in-place retries
    └── PermanentError                  Salesforce refused the request itself (MALFORMED_QUERY,
                                        INVALID_FIELD for the whole call, INSUFFICIENT_ACCESS)

A *record* Salesforce refuses inside a collection (validation rule
FIELD_CUSTOM_VALIDATION_EXCEPTION, REQUIRED_FIELD_MISSING, duplicate rule DUPLICATES_DETECTED,
STRING_TOO_LONG, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, an inactive owner...) is not an
exception: the collection answers ``success: false`` with its ``errors`` for that record, and
the caller dead-letters that one event (:func:`record_error`). Error codes are Salesforce's
``StatusCode`` values (REST API Developer Guide, "Status Codes and Error Responses"; the
``errorCode`` of a record exception, e.g. DUPLICATES_DETECTED, in
https://developer.salesforce.com/docs/atlas.en-us.uiapi.meta/uiapi/ui_api_responses_record_exception_error.htm).

Assignment rules. Salesforce runs the org's active Case and Lead assignment rules on every
REST create *and update* unless the request carries ``Sforce-Auto-Assign: FALSE`` (the
header defaults to TRUE: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/headers_autoassign.htm),
which would put an owner an agent chose back to the queue the next time telecase renames the
Case. So every write here sends the header: ``FALSE`` on updates, and on creates the caller's
choice (``auto_assign``; ``TELECASE_SALESFORCE_ASSIGNMENT_RULES_ON_CREATE``). An upsert may
create or update, so callers ask for ``auto_assign=True`` only for records they know are new.
simple-salesforce 1.12 drops per-call headers when it logs in again and repeats a call after
``INVALID_SESSION_ID``; the session therefore also carries ``Sforce-Auto-Assign: FALSE`` as a
default (:func:`pin_headers`), so the repeated call can at worst skip the rules on a create,
never run them on an update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Literal, Protocol
from urllib.parse import quote

from connectors.errors import PermanentError, TransientError
from connectors.salesforce.folding import HEAVY_MAX, Fold
from streams.runtime.retry import RetryPolicy

COLLECTION_MAX = 200
QUERY_KEYS_MAX = 100
"""Values per SOQL ``IN`` list: keeps each query well under the URI limits."""
AUTO_ASSIGN = "Sforce-Auto-Assign"
LOCK_ATTEMPTS = 3

# The Salesforce retry policies (streams.runtime.retry; a server-given retry_after wins, capped by
# the component's ``max_backoff``):
SALESFORCE_WAIT = RetryPolicy(initial=1.0, cap=60.0, jitter=0.5)
"""A batch or a poll waiting out a transient failure: 1 s, doubling, at most ``max_backoff``
(sync 60 s, change poller 300 s, agent tools 60 s)."""


def waiting_policy(max_backoff: float) -> RetryPolicy:
    """:data:`SALESFORCE_WAIT` for a component whose waits stop at ``max_backoff`` (a
    ``retry_after`` Salesforce gives included)."""
    return replace(SALESFORCE_WAIT.capped(max_backoff), retry_after_cap=max_backoff)


LOCKED_ROWS = RetryPolicy(initial=0.2, cap=1.0, jitter=0.1)
"""Records refused with UNABLE_TO_LOCK_ROW, sent again in place (:data:`LOCK_ATTEMPTS`)."""

Reason = Literal["auth", "network", "server", "limit", "lock"]


class SalesforceUnavailable(TransientError):
    """Salesforce cannot take the call now; ``reason`` says why (see the module docstring)."""

    def __init__(self, message: str, reason: Reason, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.reason = reason


class SalesforceApi(Protocol):
    """The calls the sync makes (``SimpleSalesforceApi`` adapts simple-salesforce).
    ``auto_assign``: whether the org's assignment rules run on the records this call
    creates (updates never run them)."""

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]: ...

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]: ...

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def create_collection(self, sobject: str, records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]: ...


def pin_headers(sf: Any) -> Any:
    """``sf`` with ``Sforce-Auto-Assign: FALSE`` as its session's default (see above)."""
    session = getattr(sf, "session", None)
    if session is not None:
        session.headers.setdefault(AUTO_ASSIGN, "FALSE")
    return sf


def _assign(auto_assign: bool) -> dict[str, str]:
    return {AUTO_ASSIGN: "TRUE" if auto_assign else "FALSE"}


class SimpleSalesforceApi:
    """:class:`SalesforceApi` over an (unmodified) ``simple_salesforce.Salesforce``.

    ``login`` returns a fresh client; it is used when a session expires and the client cannot
    log in again by itself (one built from a session id)."""

    def __init__(self, sf: Any, login: Callable[[], Any] | None = None) -> None:
        self.sf = pin_headers(sf)
        self.login = login
        self._fold: Fold | None = None

    @contextlib.contextmanager
    def folding(self) -> Iterator[Fold]:
        """Collection writes made meanwhile are planned into one Composite call instead of
        sent (:mod:`connectors.salesforce.folding`); send it with :meth:`send_fold`."""
        self._fold = Fold(getattr(self.sf, "sf_version", "59.0"))
        try:
            yield self._fold
        finally:
            self._fold = None

    def send_fold(self, fold: Fold) -> bool:
        """Send ``fold`` as one Composite call (nothing planned: no call). ``False``: it was
        refused or rolled back, nothing was written; transient failures raise."""
        if fold.refused is not None:
            return False
        if not fold.subrequests:
            return True
        try:
            answers = self._send_alone(fold) if len(fold.writes) == len(fold.subrequests) == 1 \
                else self._call("restful", "composite", method="POST", json=fold.body(),
                                headers=_assign(False))["compositeResponse"]
        except PermanentError as exc:
            fold.refuse(str(exc))
            return False
        return fold.settle(answers, self._rows)

    def _send_alone(self, fold: Fold) -> list[dict[str, Any]]:
        """A fold of one collection sent as that collection (a Composite of one subrequest
        costs the same call), answered as the Composite would."""
        [sub] = fold.subrequests
        path = sub["url"].split(f"/v{fold.version}/", 1)[1]
        body = self._call("restful", path, method=sub["method"], json=sub["body"],
                          headers=_assign(False))
        return [{"referenceId": sub["referenceId"], "httpStatusCode": 200,
                 "body": list(body or [])}]

    def _rows(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        """A query answer's rows, the further pages read too."""
        rows = list(page["records"])
        while not page.get("done", True):
            page = self._call("query_more", page["nextRecordsUrl"], identifier_is_url=True)
            rows.extend(page["records"])
        return rows

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from simple_salesforce.exceptions import SalesforceExpiredSession
        try:
            return _translate(getattr(self.sf, name), *args, **kwargs)
        except SalesforceExpiredSession as exc:
            if self.login is None:
                raise SalesforceUnavailable("salesforce: session expired and no way to log "
                                            "in again", "auth", retry_after=30) from exc
            self.sf = pin_headers(_translate(self.login))
            try:
                return _translate(getattr(self.sf, name), *args, **kwargs)
            except SalesforceExpiredSession as again:
                raise SalesforceUnavailable("salesforce: session expired again after login",
                                            "auth", retry_after=5) from again

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        return list(self._call("query_all", soql)["records"])

    def query_many(self, soqls: list[str]) -> list[list[dict[str, Any]]]:
        """Run up to five queries in one composite call (one API call; see
        :data:`HEAVY_MAX`)."""
        answers: list[list[dict[str, Any]]] = []
        for group in chunks(soqls, HEAVY_MAX):
            version = getattr(self.sf, "sf_version", "59.0")
            body = {"allOrNone": False, "compositeRequest": [
                {"method": "GET", "referenceId": f"q{i}",
                 "url": f"/services/data/v{version}/query?q={quote(soql)}"}
                for i, soql in enumerate(group)]}
            reply = self._call("restful", "composite", method="POST", json=body)
            for sub in reply["compositeResponse"]:
                if sub["httpStatusCode"] >= 400:
                    raise refusal(sub["httpStatusCode"], sub["body"])
                answers.append(self._rows(sub["body"]))
        return answers

    def _planned(self, method: str, path: str, sobject: str, records: list[dict[str, Any]],
                 auto_assign: bool) -> list[dict[str, Any]] | None:
        """The provisional answers when a fold is open (else ``None``: send now)."""
        if self._fold is None:
            return None
        if auto_assign:
            self._fold.refuse("a create asks for the assignment rules")
        return self._fold.collection(method, path, _collection(sobject, records), len(records))

    def upsert_collection(self, sobject: str, external_id_field: str,
                          records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]:
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        planned = self._planned("PATCH", path, sobject, records, auto_assign)
        if planned is not None:
            return planned
        return list(self._call("restful", path, method="PATCH", json=_collection(sobject, records),
                               headers=_assign(auto_assign)) or [])

    def update_collection(self, sobject: str,
                          records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        planned = self._planned("PATCH", "composite/sobjects", sobject, records, False)
        if planned is not None:
            return planned
        return list(self._call("restful", "composite/sobjects", method="PATCH",
                               json=_collection(sobject, records),
                               headers=_assign(False)) or [])

    def create_collection(self, sobject: str, records: list[dict[str, Any]], *,
                          auto_assign: bool = False) -> list[dict[str, Any]]:
        planned = self._planned("POST", "composite/sobjects", sobject, records, auto_assign)
        if planned is not None:
            return planned
        return list(self._call("restful", "composite/sobjects", method="POST",
                               json=_collection(sobject, records),
                               headers=_assign(auto_assign)) or [])


def _collection(sobject: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records]}


def _translate(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call simple-salesforce, mapping its errors onto transient and permanent ones. A login
    that fails (simple-salesforce logs in again by itself on ``INVALID_SESSION_ID``) is
    transient: the backlog waits until the credentials or the login service are fixed, and
    a process whose credentials are wrong at start is stopped by its bootstrap instead."""
    from simple_salesforce.exceptions import (
        SalesforceAuthenticationFailed,
        SalesforceError,
        SalesforceExpiredSession,
    )
    try:
        return fn(*args, **kwargs)
    except SalesforceExpiredSession:
        raise
    except SalesforceAuthenticationFailed as exc:
        raise SalesforceUnavailable(f"salesforce login failed: {exc.code}", "auth",
                                    retry_after=30) from exc
    except SalesforceError as exc:
        raise refusal(int(getattr(exc, "status", 0) or 0), getattr(exc, "content", None)) \
            from exc
    except OSError as exc:  # connection refused, reset, timeout (requests' errors included)
        raise SalesforceUnavailable(f"salesforce unreachable: {type(exc).__name__}",
                                    "network") from exc


def refusal(status: int, content: Any) -> TransientError | PermanentError:
    """The error for a refused request (HTTP ``status``, Salesforce's error array)."""
    first = content[0] if isinstance(content, list) and content \
        and isinstance(content[0], dict) else {}
    code = str(first.get("errorCode", ""))
    text = f"{code}: {first.get('message', '')}" if code else f"HTTP {status}"
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return SalesforceUnavailable(f"salesforce refused: {code}", "limit", retry_after=60)
    if code == "UNABLE_TO_LOCK_ROW":
        return SalesforceUnavailable("salesforce: UNABLE_TO_LOCK_ROW", "lock", retry_after=1)
    if status == 401:  # INVALID_SESSION_ID that a fresh login did not cure
        return SalesforceUnavailable(f"salesforce: {text}", "auth", retry_after=30)
    if status >= 500 or status == 429:
        return SalesforceUnavailable(f"salesforce unavailable: {status} {code}".rstrip(),
                                     "server")
    return PermanentError(f"salesforce rejected the request: {text}"[:1000])


# -- records and SOQL ------------------------------------------------------------------------

def record_error(answer: dict[str, Any]) -> tuple[str, str]:
    """``(code, "CODE: message")`` of a record a collection refused."""
    errors = answer.get("errors") or [{}]
    code = str(errors[0].get("statusCode") or errors[0].get("errorCode", ""))
    return code, f"{code}: {errors[0].get('message', '')}"


def soql_quote(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def chunks(items: list[Any], size: int = COLLECTION_MAX) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class Writer:
    """Collections of records, with in-place retries of locked rows."""

    def __init__(self, api: SalesforceApi, sleep: Callable[[float], None]) -> None:
        self.api, self.sleep = api, sleep

    def send(self, sobject: str, rows: list[tuple[str, dict[str, Any]]],
             external_id: str | None = None, *,
             auto_assign: bool = False) -> dict[str, dict[str, Any]]:
        """Upsert (or update, without ``external_id``) in collections; ``{key: answer}``.
        Records refused with UNABLE_TO_LOCK_ROW are sent again after a short pause; still
        locked after :data:`LOCK_ATTEMPTS`, the batch is transient."""
        def call(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            if external_id:
                return self.api.upsert_collection(sobject, external_id, records,
                                                  auto_assign=auto_assign)
            return self.api.update_collection(sobject, records)
        return self._retrying_locks(sobject, rows, call)

    def create(self, sobject: str, rows: list[tuple[str, dict[str, Any]]], *,
               auto_assign: bool = False) -> dict[str, dict[str, Any]]:
        """Create in collections; ``{key: answer}`` (locked rows retried as in :meth:`send`)."""
        return self._retrying_locks(sobject, rows, lambda records: self.api.create_collection(
            sobject, records, auto_assign=auto_assign))

    def _retrying_locks(self, sobject: str, rows: list[tuple[str, dict[str, Any]]],
                        call: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
                        ) -> dict[str, dict[str, Any]]:
        answers: dict[str, dict[str, Any]] = {}
        pending = rows
        for attempt in range(LOCK_ATTEMPTS):
            locked = []
            for chunk in chunks(pending):
                got = call([r for _, r in chunk])
                for (key, record), answer in zip(chunk, got, strict=True):
                    if not answer.get("success") \
                            and record_error(answer)[0] == "UNABLE_TO_LOCK_ROW":
                        locked.append((key, record))
                    else:
                        answers[key] = answer
            if not locked:
                return answers
            pending = locked
            if attempt + 1 < LOCK_ATTEMPTS:
                self.sleep(LOCKED_ROWS.wait(attempt + 1))
        raise SalesforceUnavailable(f"salesforce: UNABLE_TO_LOCK_ROW on {len(pending)} "
                                    f"{sobject} records", "lock", retry_after=1)
