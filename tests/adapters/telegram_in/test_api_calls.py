"""Telegram and Salesforce API calls are counted by method (or operation) and outcome, with
labels that never carry an id, a query or a token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import requests
from prometheus_client import REGISTRY
from requests.adapters import HTTPAdapter

from connectors.api_calls import MeteredSession, outcome_of, salesforce_operation
from connectors.errors import PermanentError, TransientError
from connectors.telegram.bot_api import BotApi

TOKEN = "7000000001:AAE-secret"


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outcomes_keep_the_statuses_operators_act_on() -> None:
    assert [outcome_of(s) for s in (200, 204, 302, 400, 401, 403, 404, 409, 429, 500, 503)] == [
        "ok", "ok", "ok", "4xx", "401", "403", "4xx", "4xx", "429", "5xx", "5xx"]


@pytest.mark.parametrize(("method", "path", "operation"), [
    ("POST", "/services/Soap/u/59.0", "login"),
    ("POST", "/services/oauth2/token", "login"),
    ("GET", "/services/data/v59.0/query/?q=SELECT+Id+FROM+Case", "query"),
    ("GET", "/services/data/v59.0/query/01gD0000002HU6KIAW-2000", "query_more"),
    ("GET", "/services/data/v59.0/queryAll/?q=SELECT+Id+FROM+Case", "query_all"),
    ("POST", "/services/data/v59.0/composite", "composite"),
    ("PATCH", "/services/data/v59.0/composite/sobjects/Case/Telecase_Ticket_Id__c",
     "composite.sobjects.Case.upsert"),
    ("PATCH", "/services/data/v59.0/composite/sobjects", "composite.sobjects.update"),
    ("POST", "/services/data/v59.0/composite/sobjects", "composite.sobjects.create"),
    ("POST", "/services/data/v59.0/sobjects/CaseComment/", "sobject.CaseComment.create"),
    ("PATCH", "/services/data/v59.0/sobjects/Case/500D000000abcdeIAA", "sobject.Case.update"),
    ("GET", "/services/data/v59.0/sobjects/Case/500D000000abcdeIAA", "sobject.Case.get"),
    ("PATCH", "/services/data/v59.0/sobjects/Contact/Telegram_User_Id__c/42",
     "sobject.Contact.upsert"),
    ("GET", "/services/data/v59.0/sobjects/Case/describe/", "sobject.Case.describe"),
    ("GET", "/services/data/v59.0/sobjects/", "describe_global"),
    ("GET", "/services/data/v59.0/limits/", "limits"),
    ("GET", "/services/data/v59.0/", "resources"),
    ("GET", "/services/data/v59.0/sobjects/Case%3BDROP/x", "sobject.other.get"),
    ("GET", "/favicon.ico", "other"),
])
def test_salesforce_operations_name_the_resource_never_an_id(method: str, path: str,
                                                               operation: str) -> None:
    assert salesforce_operation(method, f"https://na1.my.salesforce.com{path}") == operation


async def test_bot_api_calls_are_counted_by_method_and_outcome() -> None:
    answers: list[Any] = [
        httpx.Response(200, json={"ok": True, "result": {"message_id": 1}}),
        httpx.Response(429, json={"ok": False, "error_code": 429, "description": "Too Many",
                                  "parameters": {"retry_after": 3}}),
        httpx.Response(400, json={"ok": False, "error_code": 400,
                                  "description": "Bad Request: message thread not found"}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.ConnectError("refused"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    method = "sendMessage"
    before = {o: count("telecase_telegram_api_calls_total", method=method, outcome=o)
              for o in ("ok", "429", "4xx", "5xx", "transport")}
    api = BotApi(TOKEN, transport=httpx.MockTransport(handler))
    try:
        assert await api.call(method, chat_id=1, text="hi") == {"message_id": 1}
        with pytest.raises(TransientError):
            await api.call(method, chat_id=1, text="hi")
        with pytest.raises(PermanentError):
            await api.call(method, chat_id=1, text="hi")
        with pytest.raises(TransientError):
            await api.call(method, chat_id=1, text="hi")
        with pytest.raises(TransientError):
            await api.call(method, chat_id=1, text="hi")
    finally:
        await api.aclose()
    after = {o: count("telecase_telegram_api_calls_total", method=method, outcome=o)
             for o in before}
    assert {o: after[o] - before[o] for o in before} == {
        "ok": 1, "429": 1, "4xx": 1, "5xx": 1, "transport": 1}
    assert count("telecase_telegram_api_calls_total", method="other", outcome="ok") == 0


class _Answers(HTTPAdapter):
    """Answers each request with the next status (or raises), without a network."""

    def __init__(self, statuses: list[int | Exception]) -> None:
        super().__init__()
        self.statuses = statuses

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        status = self.statuses.pop(0)
        if isinstance(status, Exception):
            raise status
        response = requests.Response()
        response.status_code, response.request, response._content = status, request, b"{}"
        return response


def test_the_salesforce_session_counts_every_request_and_the_ones_that_got_no_answer() -> None:
    session = MeteredSession()
    session.mount("https://", _Answers([200, 503, requests.ConnectionError("reset")]))
    url = "https://na1.my.salesforce.com/services/data/v59.0/limits/"
    before = {o: count("telecase_salesforce_api_calls_total", operation="limits", outcome=o)
              for o in ("ok", "5xx", "transport")}
    assert session.get(url).status_code == 200
    assert session.get(url).status_code == 503
    with pytest.raises(requests.ConnectionError):
        session.get(url)
    after = {o: count("telecase_salesforce_api_calls_total", operation="limits", outcome=o)
             for o in before}
    assert {o: after[o] - before[o] for o in before} == {"ok": 1, "5xx": 1, "transport": 1}
