"""The Kafka worker's process set-up (streams.runtime.kafka.worker.run_worker): the collector's
middle generation is collected ten times less often than Python's default, so a batch's
decoded states are freed before a middle collection promotes them to the old generation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from streams.runtime.kafka import worker


@pytest.fixture
def _thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("_thresholds")
def test_the_worker_process_collects_its_middle_generation_less_often(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    started: list[Any] = []

    class NotRun:
        def __init__(self, app: Any, **_: Any) -> None:
            started.append(app)

        def execute_from_commandline(self) -> None:
            pass

    monkeypatch.setattr(worker, "_Worker", NotRun)
    monkeypatch.setattr(worker, "create_app", lambda config: type(
        "App", (), {"conf": type("Conf", (), {"datadir": str(tmp_path)})})())
    young, _, old = gc.get_threshold()
    worker.run_worker(worker.WorkerConfig(bootstrap_servers="127.0.0.1:1"))
    assert started
    assert gc.get_threshold() == (young, worker.GC_MIDDLE_THRESHOLD, old)
    assert worker.GC_MIDDLE_THRESHOLD == 100
