"""Fuzzing the real webhook app (Hypothesis): arbitrary bytes, arbitrary JSON and arbitrary
Update-shaped objects, posted over HTTP.

The property: every request is answered 2xx, 400, 401 or 413; the app keeps answering; and every
update answered 2xx is folded by the worker's own code (``UpdateFolder.fold``) without a dead
letter or an exception. The short form runs about 50 examples per strategy (the ``fuzz``
settings profile); the long form, behind the ``soak`` marker, keeps generating for
``TELECASE_SOAK_SECONDS``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adapters.telegram_in.hostile import (
    SECRET,
    ServedWebhook,
    fold_all,
    raw_post,
    served_webhook,
)

settings.register_profile("fuzz", max_examples=50, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
SHORT = settings.get_profile("fuzz")
ANSWERS = {200, 400, 401, 413}

_ids = st.one_of(st.integers(1, 2 ** 40), st.integers(1, 2 ** 40), st.integers(-(2 ** 53), 2 ** 53),
                 st.integers(), st.integers(2 ** 62, 2 ** 66), st.integers(-(2 ** 66), -(2 ** 62)))
_text = st.one_of(st.text(max_size=40), st.text(st.characters(codec="utf-8"), max_size=40))
_hostile_text = st.one_of(_text, _text, st.text(st.characters(min_codepoint=0xD800,
                                                             max_codepoint=0xDFFF),
                                                min_size=1, max_size=3))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), _hostile_text,
                     st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)), max_leaves=20)
_extra = st.dictionaries(st.sampled_from(["photo", "entities", "via_bot", "new_field", "poll"]),
                         _json, max_size=2)


def _user() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": _ids}, optional={"is_bot": st.one_of(st.booleans(), _scalars),
                                "first_name": _text, "username": _text,
                                "language_code": _text})


def _chat() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": _ids, "type": st.one_of(st.sampled_from(["private", "private", "supergroup",
                                                        "group", "channel"]), _text)},
        optional={"is_forum": st.booleans(), "title": _text, "first_name": _text})


def _message(reply: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    dates = st.one_of(st.integers(0, 2 ** 32), st.integers())
    return st.fixed_dictionaries(
        {"message_id": _ids, "date": dates, "chat": _chat(),
         "from": st.one_of(_user(), _user(), st.none())},
        optional={"text": _hostile_text, "caption": _text,
                  "message_thread_id": _ids, "is_topic_message": st.booleans(),
                  "edit_date": dates, "reply_to_message": reply,
                  "forum_topic_created": st.fixed_dictionaries(
                      {"name": st.one_of(_text, st.just("Order (continued from #12)"))},
                      optional={"icon_color": _ids}),
                  "forum_topic_closed": st.just({}),
                  "contact": st.fixed_dictionaries({"phone_number": _text},
                                                   optional={"user_id": _ids})}
    ).flatmap(lambda m: _extra.map(lambda extra: {**extra, **m}))


def _updates() -> st.SearchStrategy[dict[str, Any]]:
    message = _message(_message(st.nothing()))
    kind = st.sampled_from(["message", "message", "edited_message", "callback_query",
                            "channel_post"])
    return st.builds(lambda uid, k, body, extra: {**extra, "update_id": uid, k: body},
                     _ids, kind, message, _extra)


@pytest.fixture(scope="module")
def webhook() -> Iterator[ServedWebhook]:
    with served_webhook(max_body_bytes=64_000) as served:
        yield served


def _post(webhook: ServedWebhook, body: bytes, secret: str = SECRET) -> int:
    before = len(webhook.log.records)
    status = raw_post(webhook.port, [body], length=len(body), secret=secret, timeout=10)
    assert status in ANSWERS, (status, body[:200])
    if status == 200:  # stored, and the worker folds it
        assert len(webhook.log.records) == before + 1
        folded = fold_all(webhook.log.records[-1:])[0]
        assert folded.dead_letter is None, folded.dead_letter
    else:
        assert len(webhook.log.records) == before
    return status


def _encoded(value: object, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _fuzz_updates(webhook: ServedWebhook, profile: settings) -> None:
    @profile
    @given(update=_updates(), ascii_only=st.booleans())
    def prop(update: dict[str, Any], ascii_only: bool) -> None:
        _post(webhook, _encoded(update, ascii_only))

    prop()


def _fuzz_json(webhook: ServedWebhook, profile: settings) -> None:
    @profile
    @given(value=_json, with_id=st.one_of(st.none(), _ids), ascii_only=st.booleans())
    def prop(value: object, with_id: int | None, ascii_only: bool) -> None:
        if with_id is not None:
            value = {"update_id": with_id, "x": value}
        _post(webhook, _encoded(value, ascii_only))

    prop()


def _fuzz_bytes(webhook: ServedWebhook, profile: settings) -> None:
    @profile
    @given(body=st.binary(max_size=300), secret=st.sampled_from([SECRET, SECRET, "wrong"]))
    def prop(body: bytes, secret: str) -> None:
        _post(webhook, body, secret)

    prop()


FUZZERS = [_fuzz_updates, _fuzz_json, _fuzz_bytes]


@pytest.mark.parametrize("fuzz", FUZZERS)
def test_every_answer_is_documented_and_every_2xx_folds(webhook: ServedWebhook,
                                                        fuzz: Any) -> None:
    fuzz(webhook, SHORT)
    assert raw_post(webhook.port, [b"{}"], length=2) == 400  # the app is still up


@pytest.mark.soak
def test_fuzz_soak(webhook: ServedWebhook) -> None:
    """The same properties for ``TELECASE_SOAK_SECONDS`` (default 60)."""
    deadline = time.monotonic() + float(os.environ.get("TELECASE_SOAK_SECONDS", "60"))
    rounds = 0
    while time.monotonic() < deadline:
        for fuzz in FUZZERS:
            fuzz(webhook, settings(SHORT, max_examples=200))
        rounds += 1
    assert rounds >= 1
    assert raw_post(webhook.port, [b"{}"], length=2) == 400
