"""Faust apps for the Kafka worker's unit tests: created offline (nothing connects, the
consumer is never started), their consumer threads' event loops closed after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import faust
import pytest

from streams.runtime.kafka.eager import use_eager_transport

OfflineApp = Callable[..., faust.App]


def _close_consumer_loops(apps: list[faust.App]) -> None:
    while apps:  # the consumer's thread, never started, made an event loop of its own
        apps.pop().consumer._thread.thread_loop.close()  # type: ignore[attr-defined]


@pytest.fixture
def offline_app() -> Iterator[OfflineApp]:
    """``offline_app(eager=False, **settings)``: a Faust app with flow control resumed, with
    the worker's transport when ``eager``."""
    apps: list[faust.App] = []

    def make(eager: bool = False, **kwargs: Any) -> faust.App:
        app = faust.App("telecase-test-offline", broker="kafka://127.0.0.1:1",
                        store="memory://", web_enabled=False, **kwargs)
        if eager:
            use_eager_transport(app)
        app.flow_control.resume()
        apps.append(app)
        return app

    yield make
    _close_consumer_loops(apps)


@pytest.fixture
def closes_consumer_loop() -> Iterator[Callable[[faust.App], faust.App]]:
    """Registers an app made elsewhere (the worker's ``create_app``) to close its consumer's
    loop after the test."""
    apps: list[faust.App] = []
    yield lambda app: apps.append(app) or app
    _close_consumer_loops(apps)
