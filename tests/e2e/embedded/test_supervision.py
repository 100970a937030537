"""A worker that dies stops ``telecase run`` with a clear error instead of leaving the webhook
accepting updates that nobody folds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console

from connectors.telegram.reply_mirror import ReplyMirror
from streams.runtime.embedded.worker import EmbeddedWorker
from telecase.roles.embedded import RunError, run
from telecase.settings import load_settings


async def test_a_failing_worker_stops_the_run(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """(A fault while folding a batch is retried or quarantined, never fatal:
    ``tests/contract/test_poison_records.py``; the worker dying outside them stops the run.)"""
    async def broken(self: EmbeddedWorker, stop: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(EmbeddedWorker, "run", broken)
    monkeypatch.delenv("TELECASE_TELEGRAM_BOT_TOKEN", raising=False)
    settings = load_settings(data_dir=str(tmp_path / "data"))
    with (tmp_path / "screen.txt").open("w") as screen, \
            pytest.raises(RunError, match="disk full"):
        await run(settings, demo=True, duration=60, console=Console(file=screen))


async def test_a_failing_reply_mirror_stops_the_run_and_shuts_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reply mirror is a loop of its own beside the worker: its failure is not left to be
    found at shutdown (where it used to cut the shutdown short)."""
    async def broken(self: ReplyMirror, stop: object) -> None:
        raise OSError("ledger unreachable")

    monkeypatch.setattr(ReplyMirror, "run", broken)
    monkeypatch.delenv("TELECASE_TELEGRAM_BOT_TOKEN", raising=False)
    settings = load_settings(data_dir=str(tmp_path / "data"))
    with (tmp_path / "screen.txt").open("w") as screen, \
            pytest.raises(RunError, match="ledger unreachable"):
        await asyncio.wait_for(run(settings, demo=True, duration=120,
                                   console=Console(file=screen)), 60)
