"""Calls telecase makes to Telegram and Salesforce, counted by what was asked and how it went.

- ``telecase_telegram_api_calls_total{method, outcome}``: every Bot API call
  (:meth:`connectors.telegram.bot_api.BotApi.call`), ``method`` as in the Bot API
  (``sendMessage``, ``getUpdates``, ...).
- ``telecase_salesforce_api_calls_total{operation, outcome}``: every HTTP request
  simple-salesforce sends (logins included), through :class:`MeteredSession`, the
  ``requests.Session`` telecase hands it. ``operation`` is :func:`salesforce_operation`: the
  REST resource and verb, never an id or a query (``query``, ``query_more``, ``composite``,
  ``composite.sobjects.Case.upsert``, ``sobject.Case.update``, ``limits``, ``login``, ...).

``outcome`` (:func:`outcome_of`) is ``ok`` for any answer below 400; ``401``, ``403`` and
``429`` by themselves (a lost session or bad token, a refusal or exhausted API limit, flood
control); other refusals as ``4xx`` and ``5xx``; and ``transport`` when no answer came
(connection refused or reset, timeout). A Salesforce composite call that answers 200 counts
as ``ok`` even when some of its subrequests failed: the series counts HTTP exchanges.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client import Counter

TELEGRAM_API_CALLS = Counter("telecase_telegram_api_calls_total", "Telegram Bot API calls, by "
                             "method and outcome", ["method", "outcome"])
SALESFORCE_API_CALLS = Counter("telecase_salesforce_api_calls_total", "Salesforce API requests, "
                               "by operation and outcome", ["operation", "outcome"])

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_DATA_PATH = re.compile(r"/services/data/v[0-9.]+(?:/(.*?))?/?")
_VERBS = {"GET": "get", "POST": "create", "PATCH": "update", "PUT": "update",
          "DELETE": "delete", "HEAD": "head"}


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403, 429):
        return str(status)
    return "5xx" if status >= 500 else "4xx"


def label(name: str) -> str:
    """``name`` when it looks like an API name (a method, an sObject), else ``other``: a
    label must never carry an id, a query or anything a caller made up."""
    return name if _NAME.fullmatch(name) else "other"


def salesforce_operation(method: str, url: str) -> str:
    """The low-cardinality name of a Salesforce REST request."""
    path = urlsplit(url).path
    verb = _VERBS.get(method.upper(), "other")
    if path.startswith("/services/Soap/") or path.startswith("/services/oauth2/"):
        return "login"
    if path.startswith("/services/async/") or "/jobs/" in path:
        return "bulk"
    found = _DATA_PATH.fullmatch(path)
    if found is None:
        return "other"
    parts = found.group(1).split("/") if found.group(1) else []
    if not parts:
        return "resources"
    head, rest = parts[0], parts[1:]
    if head in ("query", "queryAll"):
        return ("query" if head == "query" else "query_all") + ("_more" if rest else "")
    if head == "composite":
        if not rest:
            return "composite"
        if rest[0] == "sobjects":
            if len(rest) == 1:
                return f"composite.sobjects.{verb}"
            action = "upsert" if len(rest) >= 3 and verb == "update" else verb
            return f"composite.sobjects.{label(rest[1])}.{action}"
        return f"composite.{label(rest[0])}"
    if head == "sobjects":
        if not rest:
            return "describe_global"
        sobject = label(rest[0])
        if len(rest) == 1:
            return f"sobject.{sobject}.{'describe' if verb == 'get' else verb}"
        if rest[1] in ("describe", "updated", "deleted"):
            return f"sobject.{sobject}.{rest[1]}"
        if len(rest) >= 3 and verb == "update":
            return f"sobject.{sobject}.upsert"  # by external id
        return f"sobject.{sobject}.{verb}"
    if head in ("limits", "search", "parameterizedSearch", "tooling", "ui-api", "analytics"):
        return head
    return "other"


class MeteredSession(requests.Session):
    """A ``requests.Session`` that counts each request in
    ``telecase_salesforce_api_calls_total`` (simple-salesforce sends every call, logins
    included, through ``session.request``)."""

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        operation = salesforce_operation(method, _text(url))
        try:
            response = super().request(method, url, *args, **kwargs)
        except (requests.RequestException, OSError):
            SALESFORCE_API_CALLS.labels(operation, "transport").inc()
            raise
        SALESFORCE_API_CALLS.labels(operation, outcome_of(response.status_code)).inc()
        return response


def _text(url: Any) -> str:
    return url.decode("latin-1") if isinstance(url, bytes) else str(url)
