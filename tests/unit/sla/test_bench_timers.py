"""``telecase bench timers`` at a tiny size: the figures are there and sane."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bench.timers import run
from telecase.cli.main import app


def test_tiny_run_fires_every_due_timer_exactly_once() -> None:
    result = run(tickets=2_000, rate=200, seconds=1.0, lead=0.3, sample=500)
    assert set(result) >= {"tickets", "memory", "firing", "restart"}
    memory, firing, restart = result["memory"], result["firing"], result["restart"]
    assert memory["tracemalloc_bytes_per_ticket"] > 0
    assert set(memory) >= {"rss_growth_mb", "bytes_per_ticket", "target_mb"}
    assert firing["due"] == firing["fired"] == 200
    assert firing["fired_exactly_once"] and firing["missed"] == firing["duplicates"] == 0
    lateness = firing["lateness_ms"]
    assert lateness["samples"] == 200
    assert 0 <= lateness["p50"] <= lateness["p99"] <= lateness["max"]
    assert firing["fires_per_s"] > 0
    # after a restart every overdue timer fires once, the rest stay pending
    first, every = restart["first_response_overdue"], restart["all_overdue"]
    assert first["fired"] == first["overdue_timers"] == 2_000 - 200
    assert first["still_pending"] == 2_000  # each ticket's resolution deadline
    assert every["fired"] == every["overdue_timers"] == 2 * 2_000 - 200
    assert every["still_pending"] == 0
    assert 0 <= every["index_rebuild_s"] <= every["total_s"]


def test_cli_prints_json() -> None:
    out = CliRunner().invoke(app, ["bench", "timers", "--tickets", "300", "--rate", "100",
                                   "--seconds", "0.5"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.output)
    assert figures["tickets"] == 300 and figures["firing"]["fired"] == 50
