"""The runners apply every projector, each from its own checkpoint: a projection added in a
later release starts from the first event while the others go on where they were."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from projections.bus_runner import BusProjector
from projections.registry import PROJECTORS, load_checkpoints, resume_positions
from projections.tables import agent_workloads, audit_trail, cases, checkpoints
from streams.runtime.bus import Outgoing
from streams.runtime.embedded.log import EmbeddedLog
from streams.runtime.topics import TopicNames
from streams.schema.events import encode_event
from tests.adapters.projections.factory import T0, TOPIC, Story, positioned, sqlite_engine


def test_runners_resume_from_the_lowest_checkpoint(tmp_path: Path) -> None:
    with sqlite_engine(tmp_path) as engine, engine.begin() as conn:
        assert resume_positions(conn, TOPIC) == {}
        conn.execute(sa.insert(checkpoints), [
            {"projector": "cases", "topic": TOPIC, "partition": 0, "next_offset": 40},
            {"projector": "cases", "topic": TOPIC, "partition": 1, "next_offset": 12},
            {"projector": "audit", "topic": TOPIC, "partition": 0, "next_offset": 30},
            {"projector": "cases", "topic": "other", "partition": 2, "next_offset": 5}])
        # workloads and metrics have no checkpoint: both partitions from the start
        assert resume_positions(conn, TOPIC) == {0: 0, 1: 0}
        conn.execute(sa.insert(checkpoints), [
            {"projector": name, "topic": TOPIC, "partition": p, "next_offset": 35}
            for name in ("workloads", "metrics") for p in (0, 1)])
        assert resume_positions(conn, TOPIC) == {0: 30, 1: 0}  # audit lacks 1
        conn.execute(sa.insert(checkpoints).values(
            projector="audit", topic=TOPIC, partition=1, next_offset=20))
        assert resume_positions(conn, TOPIC) == {0: 30, 1: 12}


def test_a_projector_skips_what_its_checkpoint_is_past(tmp_path: Path) -> None:
    """Below its checkpoint a record counts nothing, even one the seq guard would not catch
    (here, a ticket the projector never saw); the checkpoint never moves back."""
    s = Story()
    s.opened(), s.assigned("ann")
    workloads = PROJECTORS["workloads"]
    with sqlite_engine(tmp_path) as engine, engine.begin() as conn:
        conn.execute(sa.insert(checkpoints).values(
            projector="workloads", topic=TOPIC, partition=0, next_offset=10))
        assert workloads.apply(conn, positioned(s.events, start=8), T0) == 0
        assert load_checkpoints(conn, "workloads") == {(TOPIC, 0): 10}
        assert conn.execute(sa.select(agent_workloads)).all() == []
        assert workloads.apply(conn, positioned(s.events, start=9), T0) == 1
        assert load_checkpoints(conn, "workloads") == {(TOPIC, 0): 11}
        assert conn.execute(sa.select(agent_workloads.c.agent_id)).scalars().all() == [
            "ann"]


async def test_the_embedded_runner_catches_a_new_projector_up(tmp_path: Path) -> None:
    story = Story()
    story.opened()
    for _ in range(5):
        story.later(minutes=1).wrote()
    story.assigned("ann")
    names = TopicNames("t.")
    log = await EmbeddedLog.open(tmp_path / "log.sqlite")
    try:
        await log.append(names.ticket_events, [
            Outgoing(e.ticket_id.encode(), encode_event(e), partition=0) for e in story.events])
        with sqlite_engine(tmp_path) as engine:
            with engine.begin() as conn:  # an older release had only "cases", up to offset 4
                PROJECTORS["cases"].apply(
                    conn, positioned(story.events[:4], topic=names.ticket_events), T0)
            runner = BusProjector(log, engine, names, linger=0)
            stop = asyncio.Event()
            task = asyncio.create_task(runner.run(stop))

            def audited() -> int:
                with engine.connect() as conn:
                    return int(conn.execute(sa.select(sa.func.count())
                                            .select_from(audit_trail)).scalar_one())

            for _ in range(200):
                if audited() == len(story.events):
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 10)
            assert runner.applied == len(story.events) - 4
            with engine.connect() as conn:
                row = conn.execute(sa.select(cases)).mappings().one()
                assert (row["message_count"], row["agent_id"]) == (5, "ann")
                assert audited() == len(story.events)
                assert conn.execute(sa.select(agent_workloads.c.open_tickets)).scalar() == 1
                end = {(names.ticket_events, 0): len(story.events)}
                assert {n: load_checkpoints(conn, n) for n in PROJECTORS} == {
                    n: end for n in PROJECTORS}
    finally:
        await log.close()
