"""streams.runtime.retry: the waits a policy gives, and ``retrying``."""

from __future__ import annotations

import pytest

from connectors.errors import PermanentError, TransientError
from streams.runtime.retry import TELEGRAM_SEND, RetryPolicy, retrying


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, cap=8.0, jitter=0.25)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        for _ in range(20):
            assert base <= policy.wait(attempt) <= base + 0.25
    assert {policy.wait(a) for a in range(5, 40)} == {8.0}


def test_a_server_given_wait_wins_and_may_be_capped() -> None:
    assert TELEGRAM_SEND.wait(1, retry_after=7) == 7.0
    assert TELEGRAM_SEND.wait(9, retry_after=0) == 0.0
    assert RetryPolicy(retry_after_cap=3.0).wait(1, retry_after=30) == 3.0
    assert TELEGRAM_SEND.capped(2.0).wait(20) == 2.0


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(initial=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial=2, cap=1)


async def test_retrying_retries_what_it_is_told_and_honours_retry_after() -> None:
    slept: list[float] = []
    seen: list[int] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientError("busy", retry_after=3)
        if calls == 2:
            raise TransientError("down")
        return "ok"

    result = await retrying(flaky, policy=RetryPolicy(initial=1, cap=5, jitter=0),
                            retry_on=TransientError, sleep=sleep,
                            on_retry=lambda attempt, exc, wait: seen.append(attempt))
    assert (result, slept, seen) == ("ok", [3.0, 2.0], [1, 2])


async def test_retrying_stops_after_attempts_or_give_up_and_reraises() -> None:
    async def sleep(seconds: float) -> None:
        pass

    async def down() -> None:
        raise TransientError("down")

    async def refused() -> None:
        raise PermanentError("no")

    with pytest.raises(TransientError):
        await retrying(down, policy=TELEGRAM_SEND, retry_on=TransientError, attempts=3,
                       sleep=sleep)
    with pytest.raises(TransientError):
        await retrying(down, policy=TELEGRAM_SEND, retry_on=TransientError,
                       give_up=lambda attempt: attempt >= 2, sleep=sleep)
    with pytest.raises(PermanentError):
        await retrying(refused, policy=TELEGRAM_SEND, retry_on=TransientError, sleep=sleep)


async def test_retrying_awaits_what_a_plain_callable_returns() -> None:
    async def answer(value: int) -> int:
        return value

    assert await retrying(lambda: answer(7), policy=TELEGRAM_SEND,
                          retry_on=TransientError) == 7
