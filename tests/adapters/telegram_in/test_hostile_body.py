"""Hostile and odd requests to the real webhook app over real sockets (issue 15's cases): each
gets its documented answer, and a normal update right after it is still accepted and folds.

Every accepted update is folded by the worker's own code (``UpdateFolder.fold``): a 2xx answer
means the worker folds it without a dead letter.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from tests.adapters.telegram_in.hostile import (
    SECRET,
    ServedWebhook,
    chunked,
    fold_all,
    normal_update,
    post_json,
    raw_post,
    served_webhook,
)


@pytest.fixture(scope="module")
def webhook() -> Iterator[ServedWebhook]:
    with served_webhook(body_timeout=0.5) as served:
        yield served


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("telecase_telegram_updates_refused_total",
                                     {"mode": "webhook", "reason": reason}) or 0.0


_FRESH = itertools.count(10_000)


def still_folds(webhook: ServedWebhook) -> None:
    """A normal update right after (a new chat's first message): 200, stored, and folded into
    ticket events."""
    before = len(webhook.log.records)
    fresh = next(_FRESH)
    assert post_json(webhook.port, normal_update(fresh, chat_id=fresh)) == 200
    assert len(webhook.log.records) == before + 1
    every = fold_all(webhook.log.records)
    assert all(f.dead_letter is None for f in every), [f.dead_letter for f in every]
    assert every[-1].events, every[-1]


def envelope_update(record: bytes) -> dict[str, object]:
    return dict(json.loads(record)["update"])


@pytest.mark.parametrize(("chat_id", "status"), [
    (2 ** 63, 400), (2 ** 64 + 1, 400), (-(2 ** 70), 400), (2 ** 52, 400), (-(2 ** 52), 400),
    (2 ** 52 - 1, 200), (-(2 ** 52) + 1, 200), (-1_001_234_567_890, 200)])
def test_chat_ids_beyond_52_bits_are_400(webhook: ServedWebhook, chat_id: int,
                                         status: int) -> None:
    before = refused("invalid_update")
    assert post_json(webhook.port, normal_update(100, chat_id=chat_id)) == status
    assert refused("invalid_update") == before + (status == 400)
    still_folds(webhook)


def test_a_user_id_or_date_out_of_bounds_is_400(webhook: ServedWebhook) -> None:
    update = normal_update(102)
    update["message"]["from"]["id"] = 2 ** 53
    assert post_json(webhook.port, update) == 400
    update = normal_update(103)
    update["message"]["date"] = 10 ** 12  # year 33658: no datetime holds it plus an SLA
    assert post_json(webhook.port, update) == 400
    still_folds(webhook)


def test_a_chunked_body_is_read_whole(webhook: ServedWebhook) -> None:
    body = json.dumps(normal_update(110, text="x" * 40_000)).encode()
    parts = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    assert raw_post(webhook.port, chunked(parts)) == 200
    assert envelope_update(webhook.log.records[-1]) == normal_update(110, text="x" * 40_000)
    still_folds(webhook)


def test_a_body_split_across_writes_with_pauses_is_read_whole(webhook: ServedWebhook) -> None:
    body = json.dumps(normal_update(112, text="é" * 20_000)).encode()
    thirds = [body[:7], body[7:len(body) // 2], body[len(body) // 2:]]
    assert raw_post(webhook.port, thirds, length=len(body), pause=0.1) == 200
    assert webhook.log.records[-1].endswith(body + b"}")  # the bytes as received
    still_folds(webhook)


def test_a_50_mb_chunked_body_is_413_without_reading_it(webhook: ServedWebhook) -> None:
    before = REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                       {"reason": "too_large"}) or 0.0
    megabyte = b" " * 1_000_000
    started = time.monotonic()
    assert raw_post(webhook.port, chunked([b'{"update_id": 1, "x": "'] +
                                          [megabyte] * 50)) == 413
    assert time.monotonic() - started < 5
    assert REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                     {"reason": "too_large"}) == before + 1
    still_folds(webhook)


def test_a_declared_length_over_the_limit_is_413(webhook: ServedWebhook) -> None:
    assert raw_post(webhook.port, [b"{}"], length=2_000_000) == 413
    still_folds(webhook)


def test_100k_deep_nesting_is_400_not_500(webhook: ServedWebhook) -> None:
    before = refused("too_deep")
    deep = b'{"update_id": 130, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert raw_post(webhook.port, [deep], length=len(deep)) == 400
    assert refused("too_deep") == before + 1
    objects = b'{"update_id": 131, "x": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_001
    assert raw_post(webhook.port, [objects], length=len(objects)) == 400
    still_folds(webhook)


def test_nesting_at_the_bound_is_accepted_and_folds(webhook: ServedWebhook) -> None:
    update = normal_update(133)
    update["extra"] = json.loads("[" * 63 + "]" * 63)  # 64 levels with the update itself
    assert post_json(webhook.port, update) == 200
    update = normal_update(134)
    update["extra"] = json.loads("[" * 64 + "]" * 64)
    assert post_json(webhook.port, update) == 400
    still_folds(webhook)


@pytest.mark.parametrize("text", [b'"\\ud83d"', b'"\\udc00 x"', b'"a\\ud83dz"'])
def test_a_lone_surrogate_is_400(webhook: ServedWebhook, text: bytes) -> None:
    before = refused("bad_string")
    body = (b'{"update_id": 140, "message": {"message_id": 1, "date": 1, "text": ' + text +
            b', "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "A"}}}')
    assert raw_post(webhook.port, [body], length=len(body)) == 400
    assert refused("bad_string") == before + 1
    still_folds(webhook)


def test_a_surrogate_pair_is_accepted(webhook: ServedWebhook) -> None:
    body = (b'{"update_id": 142, "message": {"message_id": 1, "date": 1, "text": "\\ud83d\\ude00"'
            b', "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "first_name": "A"}}}')
    assert raw_post(webhook.port, [body], length=len(body)) == 200
    assert webhook.log.records[-1].endswith(body + b"}")


def test_unknown_types_and_fields_are_kept_raw(webhook: ServedWebhook) -> None:
    body = (b'{"update_id": 150, "business_connection": {"id": "b", "user": {"id": 99999999999999'
            b'999999}, "huge": 1e400, "deep": [[[1]]]}}')
    assert raw_post(webhook.port, [body], length=len(body)) == 200
    assert webhook.log.records[-1].endswith(b',"update":' + body + b"}")
    update = normal_update(151)
    update["message"]["future_field"] = {"id": 2 ** 80, "s": "ok"}
    assert post_json(webhook.port, update) == 200
    still_folds(webhook)


def test_a_stalled_body_is_408_and_holds_up_nobody(webhook: ServedWebhook) -> None:
    before = REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                       {"reason": "body_timeout"}) or 0.0
    statuses: list[int] = []

    def stall() -> None:  # half the body, then nothing for longer than the timeout
        statuses.append(raw_post(webhook.port, [b'{"update_id": 1', b"}"], length=16,
                                 pause=1.5))

    staller = threading.Thread(target=stall)
    staller.start()
    time.sleep(0.1)
    started = time.monotonic()
    still_folds(webhook)  # while the slow client waits
    assert time.monotonic() - started < 0.4
    staller.join(10)
    assert statuses == [408]
    assert REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                     {"reason": "body_timeout"}) == before + 1


def test_a_client_gone_mid_body_is_counted_and_the_app_goes_on(webhook: ServedWebhook) -> None:
    def gone() -> float:
        return REGISTRY.get_sample_value("telecase_telegram_webhook_rejected_total",
                                         {"reason": "client_gone"}) or 0.0

    before = gone()
    with socket.create_connection(("127.0.0.1", webhook.port), timeout=5) as sock:
        sock.sendall(b"POST /telegram HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                     b"X-Telegram-Bot-Api-Secret-Token: " + SECRET.encode() + b"\r\n\r\n"
                     b'{"update_id"')
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while gone() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone() == before + 1
    still_folds(webhook)
