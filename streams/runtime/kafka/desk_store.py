"""The Kafka runtime's :class:`~streams.runtime.desk.DeskStore`: :class:`SqlDeskStore`.

The desk's snapshot and its input positions live in two tables of the projections database
(``desk_state``, ``desk_positions``), written in one transaction after the batch's Assignment
records were appended to Kafka (``acks=all``). These tables are not projections: a projection
schema rebuild leaves them alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from streams.runtime.bus import Bus, Outgoing
from streams.runtime.desk import DeskSnapshot, Positions, dump_snapshot, load_snapshot
from streams.runtime.state_tables import migrate_state
from streams.runtime.topics import TopicNames

metadata = MetaData()
desk_state = Table(
    "desk_state", metadata,
    Column("name", String(128), primary_key=True),
    Column("snapshot", Text, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)
desk_positions = Table(
    "desk_positions", metadata,
    Column("name", String(128), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


class SqlDeskStore:
    """State and positions in the database, records on the bus (see the module docstring).
    ``name`` tells deployments sharing a database apart (the topic prefix)."""

    def __init__(self, engine: Engine, bus: Bus, names: TopicNames) -> None:
        self.engine, self.bus, self.names = engine, bus, names
        self.name = f"{names.prefix}desk"

    def create(self) -> None:
        migrate_state(self.engine, "desk_store")

    async def load(self) -> tuple[DeskSnapshot | None, Positions]:
        return await asyncio.to_thread(self._load)

    def _load(self) -> tuple[DeskSnapshot | None, Positions]:
        with self.engine.connect() as conn:
            raw = conn.execute(select(desk_state.c.snapshot)
                               .where(desk_state.c.name == self.name)).scalar_one_or_none()
            rows = conn.execute(select(desk_positions.c.topic, desk_positions.c.partition,
                                       desk_positions.c.next_offset)
                                .where(desk_positions.c.name == self.name)).all()
        positions: Positions = {}
        for topic, partition, offset in rows:
            positions.setdefault(topic, {})[int(partition)] = int(offset)
        return (None if raw is None else load_snapshot(raw)), positions

    async def save(self, records: Sequence[Outgoing], snapshot: DeskSnapshot, topic: str,
                   positions: dict[int, int]) -> None:
        if records:  # chat-keyed: the bus puts each on its chat's partition
            await self.bus.append(self.names.ticket_commands, records)  # durable (acks=all)
        await asyncio.to_thread(self._save, dump_snapshot(snapshot).decode(), topic, positions)

    def _save(self, snapshot: str, topic: str, positions: dict[int, int]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(desk_state).where(desk_state.c.name == self.name))
            conn.execute(insert(desk_state).values(name=self.name, snapshot=snapshot,
                                                   saved_at=datetime.now(UTC)))
            for partition, offset in positions.items():
                conn.execute(delete(desk_positions).where(
                    desk_positions.c.name == self.name, desk_positions.c.topic == topic,
                    desk_positions.c.partition == partition))
                conn.execute(insert(desk_positions).values(
                    name=self.name, topic=topic, partition=partition, next_offset=offset))


def saved_in_database(engine: Engine, names: TopicNames) -> DeskSnapshot | None:
    """The snapshot the deployment's desk saved last (``None``: none yet), read-only."""
    with engine.connect() as conn:
        raw = conn.execute(select(desk_state.c.snapshot).where(
            desk_state.c.name == f"{names.prefix}desk")).scalar_one_or_none()
    return None if raw is None else load_snapshot(raw)
