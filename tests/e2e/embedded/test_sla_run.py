"""SLA timers and the desk in ``telecase run`` (one process, embedded): tickets are assigned,
the process is killed, and after the downtime the restarted process fires every overdue timer
once and the escalation reassigns."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.embedded.conftest import EmbeddedDeployment, SimulatorThread
from tests.e2e.kafka.test_sla_timers_kafka import DESK_POLICY, SIGNALS, write_in_private_chats
from tests.e2e.kafka.test_ticket_pipeline import ticket_log
from tests.infra import read_cases, wait_for

DOWNTIME = timedelta(seconds=14)


def test_a_restart_after_downtime_fires_the_overdue_timers_and_the_desk_reassigns(
        embedded: EmbeddedDeployment, telegram: SimulatorThread, tmp_path: Path) -> None:
    dep = embedded
    policy = tmp_path / "policy.toml"
    policy.write_text(DESK_POLICY)
    env = {"TELECASE_POLICY_FILE": str(policy), "TELECASE_SLA_TICK_INTERVAL": "0.2"}
    first = dep.run("run1", **env)
    telegram.bot_api("setWebhook", url=dep.webhook_url, secret_token=dep.webhook_secret)
    customers = 4
    write_in_private_chats(telegram, customers)

    def count(kind: str) -> int:
        return sum(e.type == kind for events in ticket_log(dep).values() for e in events)

    wait_for(lambda: count("ticket.assigned") == customers, 60,
             what="every ticket started and assigned")
    first.kill()  # SIGKILL, before the warnings (4 s after each message) come due
    down_from = datetime.now(UTC)
    assert count("sla.breached") == 0  # nothing was due yet
    # 14 s of downtime on the restarted worker's clock: every first-response timer came due
    # while nothing ran (the clock is moved, not waited for).
    dep.run("run2", **env, TELECASE_SLA_CLOCK_OFFSET=str(DOWNTIME.total_seconds()))
    wait_for(lambda: count("sla.escalated") == customers and count("ticket.assigned")
             == 2 * customers, 60, what="the overdue timers fired and the desk reassigned")
    time.sleep(2)  # a doubled firing would show up now
    log = ticket_log(dep)
    for ticket_id, events in log.items():
        fired = Counter(e.signal for e in events  # type: ignore[union-attr]
                        if e.type in ("sla.warning", "sla.breached", "sla.escalated"))
        assert fired == dict.fromkeys(SIGNALS, 1), (ticket_id, fired)
        opened = events[0].occurred_at
        breach = next(e for e in events if e.type == "sla.breached")
        assert breach.occurred_at - opened == timedelta(seconds=8)  # when it came due
        assert breach.source.tick_at is not None
        assert breach.source.tick_at > down_from + DOWNTIME  # fired after the downtime
        moves = [(e.agent_id, e.assigned_by) for e in events  # type: ignore[union-attr]
                 if e.type == "ticket.assigned"]
        assert [by for _, by in moves] == ["policy", "next_agent"]
        assert moves[0][0] != moves[1][0]
    wait_for(lambda: all(r["escalation_level"] == 1 for r in
                         read_cases(f"sqlite:///{dep.data_dir / 'projections.sqlite'}")), 30,
             what="the projection caught up")
    rows = read_cases(f"sqlite:///{dep.data_dir / 'projections.sqlite'}")
    assert {(r["sla_tier"], r["sla_state"]) for r in rows} == {("fast", "breached")}
    assert len(rows) == customers
