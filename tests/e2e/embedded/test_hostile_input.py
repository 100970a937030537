"""Hostile input to ``telecase run``'s webhook (issue 15): each request gets its documented
answer, and after each one a normal update is still accepted, folded into ticket events and
projected, so nothing a client sends can stop the pipeline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from tests.adapters.telegram_in.hostile import chunked, normal_update, post_json, raw_post
from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.infra import wait_for


def _deep() -> bytes:
    return b'{"update_id": 3, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _split(update_id: int) -> tuple[list[bytes], int]:
    body = json.dumps(normal_update(update_id, chat_id=update_id, text="é" * 12_000)).encode()
    return [body[:9], body[9:20_000], body[20_000:]], len(body)


def test_hostile_requests_get_their_answer_and_the_pipeline_goes_on(
        embedded: EmbeddedDeployment, telegram: SimulatorThread) -> None:
    dep = embedded
    dep.run("run", TELECASE_TELEGRAM_API_BASE=telegram.base_url,
            TELECASE_WEBHOOK_BODY_TIMEOUT_SECONDS="1")
    port, secret = dep.webhook_port, dep.webhook_secret
    overflowing = normal_update(1, chat_id=2 ** 64 + 5)
    wide = normal_update(2, chat_id=2 ** 53)
    surrogate = (b'{"update_id": 4, "message": {"message_id": 4, "date": 1, "text": "\\ud83d", '
                 b'"chat": {"id": 4, "type": "private"}, "from": {"id": 4, "first_name": "A"}}}')
    chunked_ok = json.dumps(normal_update(5, chat_id=5, text="c" * 30_000)).encode()
    split, split_length = _split(6)
    cases: list[tuple[str, int, Callable[[], int]]] = [
        ("chat id over 64 bits", 400, lambda: post_json(port, overflowing, secret=secret)),
        ("chat id over 52 bits", 400, lambda: post_json(port, wide, secret=secret)),
        ("100k-deep nesting", 400, lambda: raw_post(port, [_deep()], length=len(_deep()),
                                                    secret=secret)),
        ("lone surrogate", 400, lambda: raw_post(port, [surrogate], length=len(surrogate),
                                                 secret=secret)),
        ("chunked body", 200, lambda: raw_post(
            port, chunked([chunked_ok[i:i + 4096] for i in range(0, len(chunked_ok), 4096)]),
            secret=secret)),
        ("body split across writes", 200, lambda: raw_post(port, split, length=split_length,
                                                           pause=0.1, secret=secret)),
        ("50 MB chunked body", 413, lambda: raw_post(
            port, chunked([b'{"update_id": 7, "x": "'] + [b" " * 1_000_000] * 50),
            secret=secret)),
        ("stalled body", 408, lambda: raw_post(port, [b'{"update_id": 8', b"}"], length=16,
                                               pause=2.5, secret=secret)),
    ]
    folded_within: dict[str, float] = {}
    for n, (name, status, send) in enumerate(cases):
        assert send() == status, name
        chat = 1_000 + n  # a normal update right after: a new customer's first message
        sent = time.monotonic()
        assert post_json(port, normal_update(100 + n, chat_id=chat), secret=secret) == 200
        wait_for(lambda c=chat: _ticket_events(dep, c), 10, interval=0.05,
                 what=f"the update after {name} folded")
        folded_within[name] = time.monotonic() - sent
    print("folded within (s):", {k: round(v, 2) for k, v in folded_within.items()})
    assert max(folded_within.values()) < 1.0, folded_within
    chats = {1_000 + n for n in range(len(cases))} | {5, 6}
    wait_for(lambda: chats <= {int(r["chat_id"]) for r in dep.cases()}, 15,
             what="every accepted update projected")
    assert dep.read_topic(dep.names.dead_letters) == []
    assert all(p.alive() for p in dep.processes)


def _ticket_events(dep: EmbeddedDeployment, chat: int) -> bool:
    return any(f"tg:{chat}:" in json.loads(r.value).get("ticket_id", "")
               for r in dep.read_topic(dep.names.ticket_events))
