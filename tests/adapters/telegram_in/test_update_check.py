"""The door's check (streams.schema.update_check) and the worker agree: what the door refuses
as an invalid update, the worker dead-letters when it meets it in the log anyway (an update
written before the check existed), and what the door accepts, the worker folds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.schema.envelope import RawTelegramUpdate
from streams.schema.telegram_bounds import MAX_DEPTH
from streams.schema.update_check import UpdateRefused, check_body, check_object, nesting
from tests.adapters.telegram_in.hostile import fold_all, normal_update


def _with(path: str, value: Any, update_id: int = 1) -> dict[str, Any]:
    update = normal_update(update_id)
    *parents, leaf = path.split(".")
    node = update
    for key in parents:
        node = node[key]
    node[leaf] = value
    return update


def _reason(update: object) -> str | None:
    try:
        check_body(json.dumps(update).encode())
    except UpdateRefused as refused:
        return refused.reason
    return None


@pytest.mark.parametrize(("path", "value"), [
    ("message.chat.id", 2 ** 52), ("message.chat.id", -(2 ** 52)),
    ("message.from.id", 2 ** 64), ("message.message_id", 2 ** 63),
    ("message.message_thread_id", -(2 ** 63) - 1), ("message.date", -1),
    ("message.date", 2 ** 32), ("message.edit_date", 2 ** 40), ("update_id", 2 ** 63),
    ("message.chat", None), ("message.chat.id", "x"), ("message.chat.id", 1.5)])
def test_out_of_bounds_known_fields_are_refused_by_the_door_and_the_worker(
        path: str, value: Any) -> None:
    update = _with(path, value)
    assert _reason(update) in ("invalid_update", "not_an_update")
    raw = RawTelegramUpdate(bot_id=7, source="webhook", received_at=datetime.now(UTC),
                            update=update)
    folded = fold_all([raw.to_bytes()])[0]
    assert folded.dead_letter is not None and folded.dead_letter.reason == "invalid_update"


@pytest.mark.parametrize(("path", "value"), [
    ("message.chat.id", 2 ** 52 - 1), ("message.chat.id", -(2 ** 52) + 1),
    ("message.from.id", 1), ("message.date", 0), ("message.date", 2 ** 32 - 1),
    ("update_id", 2 ** 63 - 1), ("message.unknown", {"id": 2 ** 90}),
    ("message.chat.id", 5.0)])
def test_values_within_the_bounds_are_accepted_and_fold(path: str, value: Any) -> None:
    update = _with(path, value)
    assert _reason(update) is None
    checked = check_body(json.dumps(update).encode())
    raw = RawTelegramUpdate(bot_id=7, source="webhook", received_at=datetime.now(UTC),
                            update=checked.update)
    assert fold_all([raw.to_bytes()])[0].dead_letter is None


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"update_id": 1, "x": NaN}', "not_json"),
    (b'{"update_id": 1, "x": Infinity}', "not_json"),
    (b'{"update_id": 1}{"update_id": 2}', "not_json"),
    (b'{"update_id": 1, "x": "\\ud800"}', "bad_string"),
    (b'{"update_id": 1, "x": "\xed\xa0\x80"}', "bad_string"),  # a surrogate in raw UTF-8
    (b'{"update_id": 1, "x": "\xff"}', "bad_string"),
    (b'{"update_id": 1.0}', "not_an_update"),
    (b'{"update_id": true}', "not_an_update"),
    (b"[" * 300 + b"]" * 300, "too_deep"),
])
def test_bodies_refused_with_their_reason(body: bytes, reason: str) -> None:
    with pytest.raises(UpdateRefused) as caught:
        check_body(body)
    assert caught.value.reason == reason


@pytest.mark.parametrize("body", [
    b'\xef\xbb\xbf{"update_id": 1}',
    '{"update_id": 1, "x": "caf\u00e9"}'.encode("utf-16"),
    '{"update_id": 1, "x": "caf\u00e9"}'.encode("utf-32-le"),
])
def test_a_bom_and_utf16_or_32_are_read_as_rfc_8259_allows(body: bytes) -> None:
    checked = check_body(body)
    assert checked.update["update_id"] == 1
    assert json.loads(checked.body) == checked.update


def test_the_byte_limit() -> None:
    body = json.dumps(normal_update(1)).encode()
    assert check_body(body, max_bytes=len(body)).update["update_id"] == 1
    with pytest.raises(UpdateRefused, match="too_large"):
        check_body(body, max_bytes=len(body) - 1)


def test_decoded_objects_get_the_same_check() -> None:
    assert check_object(normal_update(1)).update == normal_update(1)
    with pytest.raises(UpdateRefused, match="bad_string"):
        check_object(_with("message.text", "a\udc00"))
    deep: Any = 1
    for _ in range(100_000):  # deeper than the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(UpdateRefused, match="too_deep"):
        check_object({"update_id": 1, "x": deep})
    assert nesting(deep) == 100_000


def _nest(depth: int, shapes: list[bool], text: str) -> Any:
    """``text`` inside ``depth`` levels, each an object or an array as ``shapes`` says."""
    value: Any = text
    for level in range(depth):
        value = {"k": value} if shapes[level % len(shapes)] else [value]
    return value


@settings(max_examples=200, deadline=None)
@given(depth=st.integers(0, MAX_DEPTH + 20), shapes=st.lists(st.booleans(), min_size=1),
       text=st.text(alphabet="{}[]ab", max_size=90), limit=st.sampled_from([4, MAX_DEPTH]))
def test_the_depth_verdict_is_the_walks_whatever_brackets_strings_hold(
        depth: int, shapes: list[bool], text: str, limit: int) -> None:
    """The check skips the walk when the body has too few brackets to nest past the limit;
    brackets inside strings only make it walk. Either way the verdict is the walk's."""
    update = {"update_id": 1, "x": _nest(depth, shapes, text)}
    try:
        check_body(json.dumps(update).encode(), max_depth=limit)
    except UpdateRefused as refused:
        assert refused.reason == "too_deep" and nesting(update) > limit
    else:
        assert nesting(update) <= limit
