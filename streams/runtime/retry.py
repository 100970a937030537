"""How telecase waits before trying again: one retry policy, on tenacity, for every retry
loop (the connectors' calls, the stages' infrastructure faults in
:mod:`streams.runtime.quarantine`).

A :class:`RetryPolicy` turns "the n-th failure in a row" into a wait: exponential backoff
(``initial`` seconds after the first failure, doubling after each further one) plus a random
jitter of up to ``jitter`` seconds, never more than ``cap`` seconds. When the server says how
long to wait (Telegram's 429 ``parameters.retry_after``, Salesforce's
:attr:`~connectors.errors.TransientError.retry_after`), that wait is used instead, as given
(waiting less only earns another refusal), bounded by ``retry_after_cap`` when one is set.
The exponential part is tenacity's ``wait_exponential_jitter``.

Two ways to use it:

- :meth:`RetryPolicy.wait` computes a wait and nothing else, for loops that must keep their
  own shape (a stream held for per-chat ordering, a scheduler that parks one thread while the
  others go on);
- :func:`retrying` calls an async function until it succeeds, sleeping :meth:`RetryPolicy.wait`
  between attempts (``tenacity.AsyncRetrying``), retrying only the exceptions it is told to.

The Telegram policies, and their caps:

=========================  ========  ======  ======  ===============================
policy                     initial   cap     jitter  used by
=========================  ========  ======  ======  ===============================
:data:`TELEGRAM_SEND`      0.5 s     60 s    0.25 s  reply mirror, intake messenger
                                                     (``max_backoff`` overrides cap)
:data:`TELEGRAM_POLL`      0.5 s     30 s    0.25 s  ``getUpdates`` polling
                                                     (``max_backoff`` overrides cap)
:data:`TELEGRAM_CHECK`     1 s       60 s    0.25 s  the topic check between probes
:data:`LEDGER_WRITE`       0.1 s     5 s     0.05 s  the delivery ledger: recording a
                                                     sent message, creating its tables
=========================  ========  ======  ======  ===============================

Telegram's 429 ``retry_after`` is honoured as given (Telegram's flood control answers with
the wait it will enforce); the reply mirror caps any other server-given wait at its
``max_backoff`` (``retry_after_cap``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import tenacity

T = TypeVar("T")

_STATE_OWNER = tenacity.Retrying()
"""Only to build the ``RetryCallState`` tenacity's wait strategies read the attempt from."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; a server's ``retry_after`` wins.

    ``initial``: the wait after the first failure (seconds); ``cap``: the most any computed
    wait may be; ``jitter``: up to this many seconds added at random (so clients that failed
    together do not retry together); ``retry_after_cap``: the most a server-given wait may be
    (``None``: as given).
    """

    initial: float = 0.5
    cap: float = 60.0
    jitter: float = 0.25
    retry_after_cap: float | None = None

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial or self.jitter < 0:
            raise ValueError(f"invalid retry policy: {self}")

    def capped(self, cap: float) -> RetryPolicy:
        """The same policy with another cap (a component's ``max_backoff``)."""
        return replace(self, cap=cap, initial=min(self.initial, cap))

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempt``-th failure in a row (1 for the first);
        ``retry_after`` (the server's word) when given."""
        if retry_after is not None:
            seconds = max(float(retry_after), 0.0)
            return seconds if self.retry_after_cap is None else min(seconds,
                                                                     self.retry_after_cap)
        state = tenacity.RetryCallState(_STATE_OWNER, None, (), {})
        state.attempt_number = max(attempt, 1)
        return float(self._strategy()(state))

    def _strategy(self) -> tenacity.wait.wait_base:
        return tenacity.wait_exponential_jitter(multiplier=self.initial, max=self.cap,
                                                jitter=self.jitter)


TELEGRAM_SEND = RetryPolicy(initial=0.5, cap=60.0, jitter=0.25)
TELEGRAM_POLL = RetryPolicy(initial=0.5, cap=30.0, jitter=0.25)
TELEGRAM_CHECK = RetryPolicy(initial=1.0, cap=60.0, jitter=0.25)
LEDGER_WRITE = RetryPolicy(initial=0.1, cap=5.0, jitter=0.05)


def retry_after_of(exc: BaseException | None) -> float | None:
    """The server's wait carried by an exception (``retry_after``), if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


class _PolicyWait(tenacity.wait.wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return self.policy.wait(retry_state.attempt_number, retry_after_of(exc))


async def retrying(call: Callable[[], Awaitable[T]], *, policy: RetryPolicy,
                   retry_on: type[BaseException] | tuple[type[BaseException], ...],
                   attempts: int | None = None,
                   give_up: Callable[[int], bool] | None = None,
                   on_retry: Callable[[int, BaseException, float], None] | None = None,
                   sleep: Callable[[float], Awaitable[None]] | None = None) -> T:
    """``await call()`` until it returns, retrying what ``retry_on`` names.

    Between attempts it sleeps ``policy.wait(attempt, exc.retry_after)``. It stops, raising
    the last exception as it was, after ``attempts`` attempts (``None``: never) or when
    ``give_up(attempt)`` says so. ``on_retry(attempt, exc, wait)`` runs before each sleep (a
    log line, a counter); ``sleep`` replaces ``asyncio.sleep`` (tests, a stop event).
    """
    stop: tenacity.stop.stop_base = (tenacity.stop_never if attempts is None
                                     else tenacity.stop_after_attempt(attempts))
    if give_up is not None:
        stop = stop | _GiveUp(give_up)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            assert exc is not None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            on_retry(state.attempt_number, exc, wait)

    retryer = tenacity.AsyncRetrying(sleep=asyncio.sleep if sleep is None else sleep,
                                     stop=stop, wait=_PolicyWait(policy),
                                     retry=tenacity.retry_if_exception_type(retry_on),
                                     before_sleep=before_sleep, reraise=True)
    async def attempt() -> T:  # a coroutine function, so tenacity awaits what ``call`` gives
        return await call()

    return await retryer(attempt)


class _GiveUp(tenacity.stop.stop_base):
    def __init__(self, give_up: Callable[[int], bool]) -> None:
        self.give_up = give_up

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.give_up(retry_state.attempt_number)


__all__ = ["LEDGER_WRITE", "TELEGRAM_CHECK", "TELEGRAM_POLL", "TELEGRAM_SEND", "RetryPolicy",
           "retry_after_of", "retrying"]
