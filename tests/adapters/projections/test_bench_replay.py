"""``telecase bench replay``: its events are valid ticket lives, and a small run reports every
figure (rebuild beside a bulk COPY of the rows it produced, in one transaction)."""

from __future__ import annotations

import pytest

from bench.replay import PER_TICKET, make_events, run
from projections.registry import PROJECTORS
from streams.schema.events import decode_event, encode_event


def test_the_events_are_valid_complete_ticket_lives_in_log_order() -> None:
    events = make_events(2 * PER_TICKET * 3, partitions=2)
    assert len(events) == 120
    for _, event in events:
        assert decode_event(encode_event(event)) == event
    by_partition: dict[int, list[int]] = {}
    seqs: dict[str, list[int]] = {}
    for pos, event in events:
        by_partition.setdefault(pos.partition, []).append(pos.offset)
        seqs.setdefault(event.ticket_id, []).append(event.seq)
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values())
    assert len(seqs) == 6 and all(s == list(range(1, PER_TICKET + 1)) for s in seqs.values())
    assert events[0][1].type == "ticket.opened" and events[-1][1].type == "sla.met"


@pytest.mark.integration
def test_a_small_run_reports_rebuild_and_copy_figures(pg_server: str) -> None:
    result = run(pg_server, events=400, batch=100)
    assert result["events"] == 400 and result["tickets"] == 20
    assert result["swapped"] is True
    assert result["projections"] == list(PROJECTORS)
    assert result["rows"]["cases"] == 20
    if "audit" in PROJECTORS:
        assert result["rows"]["audit_trail"] == 400
    for field in ("rebuild_seconds", "events_per_s", "copy_seconds", "copy_rows_per_s",
                  "rebuild_vs_copy", "decode_events_per_s", "rebuild_client_cpu_seconds"):
        assert result[field] > 0, field
    assert result["target_events_per_s"] == 50_000
    assert result["postgres"]["settings"]["synchronous_commit"] == "on"
