"""``telecase bench salesforce`` in small: the sync figures and the reply-delivery figures are
there, and every agent reply reaches its Telegram thread."""

from __future__ import annotations

import json
from pathlib import Path

from bench.salesforce import measure


async def test_bench_reports_sync_figures_and_reply_delivery(tmp_path: Path) -> None:
    result = await measure(rates=(5,), seconds=1.0, data_dir=tmp_path, replies=4,
                           reply_tickets=2, reply_rate=4.0, poll_interval=0.2,
                           reply_timeout=30.0)
    json.dumps(result)
    [rate] = result["rates"]
    assert rate["messages"] == 5 and rate["rejected"] == 0
    assert rate["api_calls_per_message"] > 0 and "p99" in rate["sync_latency_ms"]
    replies = result["reply_delivery"]
    assert (replies["replies"], replies["tickets"], replies["poll_interval_s"]) == (4, 2, 0.2)
    assert replies["replies_delivered"] == 4 and replies["completeness_pct"] == 100.0
    assert (replies["duplicates"], replies["misdelivered"]) == (0, 0)
    latency = replies["reply_latency_ms"]
    assert latency["samples"] == 4
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert replies["after_poll_ms"]["samples"] == 4
    assert replies["api_calls"] > 0


async def test_bench_without_the_reply_phase(tmp_path: Path) -> None:
    result = await measure(rates=(5,), seconds=0.5, data_dir=tmp_path, replies=0)
    assert "reply_delivery" not in result and len(result["rates"]) == 1
