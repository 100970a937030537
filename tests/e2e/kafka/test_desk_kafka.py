"""The desk on Kafka + PostgreSQL: ``telecase desk`` as a process, requests through the CLI,
state and positions in the database across a restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from streams.runtime.bus import Outgoing
from streams.runtime.kafka.admin import ensure_topics
from streams.runtime.kafka.bus import KafkaBus, kafka_partition
from streams.schema import events as ev
from streams.schema.commands import Assignment
from tests.e2e.kafka.conftest import Deployment, free_port
from tests.infra import ROOT, wait_for
from tests.metrics import scrape
from tests.unit.assignment.test_desk_worker import CLAIRE, POLICY_TOML, started_ticket, ticket

pytestmark = pytest.mark.integration
T1, T2, T3 = ticket(-2001), ticket(-2002), ticket(-2003)


async def _append(dep: Deployment, events: list[ev.TicketEvent]) -> None:
    bus = KafkaBus(dep.bootstrap, 4)
    await bus.start()
    try:
        await bus.append(dep.names.ticket_events, [
            Outgoing(e.ticket_id.encode(), ev.encode_event(e)) for e in events])
    finally:
        await bus.close()


def _cli(dep: Deployment, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "telecase", "desk", *args], cwd=ROOT,
                          text=True, capture_output=True, timeout=120,
                          env={**os.environ, **dep.env(**env)})


def test_the_desk_on_kafka_assigns_takes_requests_and_resumes_after_a_restart(
        deployment: Deployment, tmp_path: Path) -> None:
    dep = deployment
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    env = {"TELECASE_POLICY_FILE": str(policy)}
    asyncio.run(ensure_topics(dep.bootstrap, dep.names, partitions=4))

    def records() -> list[tuple[int, bytes | None, Assignment]]:
        return [(r.partition, r.key, Assignment.model_validate_json(r.value))
                for r in dep.read_topic(dep.names.ticket_commands)]

    def owners() -> list[tuple[str, str, str | None]]:
        return sorted((a.ticket_id, a.action, a.agent_id) for _, _, a in records()
                      if a.action != "routed")

    metrics_port = free_port()
    desk = dep.start("desk", "desk", **env, TELECASE_METRICS_PORT=str(metrics_port))
    asyncio.run(_append(dep, started_ticket(T1, 0) + started_ticket(T2, 1)))
    wait_for(lambda: len(owners()) == 2, 60, what="two tickets assigned")

    def lag() -> dict[str, float]:
        now = scrape(metrics_port)
        series = [] if now is None else now.series("telecase_consumer_lag", group="telecase-desk")
        return {f"{s.labels['topic']}[{s.labels['partition']}]": s.value for s in series}

    wait_for(lambda: {k.split("[")[0] for k, v in lag().items() if v == 0} == {
        dep.names.ticket_events, dep.names.desk_requests} and not any(lag().values()), 30,
        what=f"the desk's lag at 0 on both inputs (last: {lag()})")
    assert owners() == [(T1, "assigned", "ann"), (T2, "assigned", "bob")]
    claimed = _cli(dep, env, "claim", T2, "claire", "--by", "lead")
    assert claimed.returncode == 0, claimed.stderr
    wait_for(lambda: len(owners()) == 3, 60, what="the claim decided")
    claim = [a for _, _, a in records() if a.assigned_by == "claim"]
    assert [(a.ticket_id, a.agent_id, a.salesforce_user_id) for a in claim] == [
        (T2, "claire", CLAIRE)]
    for partition, key, a in records():
        assert key == f"chat:{a.chat_id}".encode()
        assert partition == kafka_partition(key, 4)  # as the raw topics' producers
    refused = _cli(dep, env, "claim", T2, "zed")
    assert refused.returncode == 2 and "not in the assignment policy" in refused.stderr

    assert desk.stop() == 0, desk.output()
    engine = sa.create_engine(dep.database_url)
    try:
        with engine.connect() as conn:
            saved = conn.execute(sa.text("SELECT count(*) FROM desk_positions "
                                         "WHERE next_offset > 0")).scalar_one()
    finally:
        engine.dispose()
    assert saved >= 2, "ticket.events and desk.requests positions are in the database"
    shown = _cli(dep, env, "show")
    assert shown.returncode == 0, shown.stderr
    assert "claire" in shown.stdout and "1 / 3" in shown.stdout

    before = len(records())
    dep.start("desk-again", "desk", **env)
    asyncio.run(_append(dep, started_ticket(T3, 5)))
    wait_for(lambda: len(records()) == before + 2, 60, what="the new ticket decided")
    time.sleep(2)
    # bob was freed by the claim before the restart: the saved state says so
    assert (T3, "assigned", "bob") in owners()
    assert len(records()) == before + 2, "nothing decided twice after the restart"
