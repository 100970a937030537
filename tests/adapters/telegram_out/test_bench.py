"""``telecase bench telegram-out`` in small: its figures are there and add up."""

from __future__ import annotations

import json

from bench.telegram_out import run_bench
from simulators.telegram import RateLimits
from tests.adapters.telegram_out.conftest import LOOSE


async def test_bench_reports_complete_delivery_without_429s_under_telegrams_limits() -> None:
    result = await run_bench(replies=10, forums=1, topics_per_forum=2, private_chats=8)
    json.dumps(result)
    assert (result["replies"], result["delivered"], result["duplicates"]) == (10, 10, 0)
    assert result["completeness_pct"] == 100.0 and result["telegram_429s"] == 0
    assert result["msgs_per_s"] > 0 and result["latency_ms"]["p99"] >= result["latency_ms"]["p50"]


async def test_bench_without_limits() -> None:
    result = await run_bench(replies=60, forums=2, topics_per_forum=2, private_chats=2,
                             telegram_limits=RateLimits(enabled=False), mirror_limits=LOOSE)
    assert result["delivered"] == 60 and result["threads"] == 6
