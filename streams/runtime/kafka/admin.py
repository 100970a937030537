"""Creating the log's topics on a Kafka cluster (idempotent)."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.runtime.topics import TopicNames


async def ensure_topics(bootstrap_servers: str, names: TopicNames, *, partitions: int,
                        replication_factor: int = 1) -> None:
    """Create the topics that do not exist yet. ``telegram.updates`` and ``ticket.events``
    get the same partition count: the worker writes a chat's ticket events to the partition
    number its raw updates came from."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(names.telegram_updates, partitions, replication_factor),
            NewTopic(names.ticket_events, partitions, replication_factor),
            NewTopic(names.salesforce_changes, partitions, replication_factor),
            NewTopic(names.ticket_commands, partitions, replication_factor),
            NewTopic(names.desk_requests, 1, replication_factor),
            NewTopic(names.dead_letters, 1, replication_factor),
        ]
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics(missing)
    finally:
        await admin.close()
