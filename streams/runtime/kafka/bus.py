"""The :class:`~streams.runtime.bus.Bus` contract over Apache Kafka (aiokafka).

Used where code needs plain log access on Kafka (contract tests, tools); the production worker and
projector use Faust and consumer groups directly. Records go to ``partition_for(key)`` explicitly,
so a key lands on the same partition number in both runtimes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata

from streams.runtime.bus import Outgoing, Record, partition_for


class KafkaBus:
    def __init__(self, bootstrap_servers: str, default_partitions: int = 4) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.default_partitions = default_partitions
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._partitions: dict[str, int] = {}
        self._read_lock = asyncio.Lock()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                          enable_idempotence=True)
        await self._producer.start()
        self._reader = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                        enable_auto_commit=False)
        await self._reader.start()
        # End offsets come from a client of their own: asking the reader about a partition it
        # is not reading made its later fetches come back empty.
        self._offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                         enable_auto_commit=False)
        await self._offsets.start()

    async def close(self) -> None:
        for consumer in self._groups.values():
            await consumer.stop()
        if self._reader is not None:
            await self._reader.stop()
        if self._offsets is not None:
            await self._offsets.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def create_topic(self, topic: str, partitions: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()
        self._partitions.pop(topic, None)

    async def partitions(self, topic: str) -> int:
        if topic not in self._partitions:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
            await admin.start()
            try:
                if topic not in await admin.list_topics():
                    await admin.create_topics([NewTopic(topic, self.default_partitions, 1)])
                described = await admin.describe_topics([topic])
            finally:
                await admin.close()
            self._partitions[topic] = len(described[0]["partitions"])
        return self._partitions[topic]

    async def append(self, topic: str, records: Sequence[Outgoing]) -> list[int]:
        assert self._producer is not None, "start() first"
        count = await self.partitions(topic)
        futures = [await self._producer.send(
            topic, r.value, key=r.key,
            partition=r.partition if r.partition is not None else partition_for(r.key, count))
            for r in records]
        return [(await f).offset for f in futures]

    async def end_offset(self, topic: str, partition: int) -> int:
        assert self._offsets is not None
        tp = TopicPartition(topic, partition)
        return int((await self._offsets.end_offsets([tp]))[tp])

    async def read(self, topic: str, partition: int, offset: int, limit: int,
                   wait: float = 0.0) -> list[Record]:
        assert self._reader is not None
        tp = TopicPartition(topic, partition)
        async with self._read_lock:
            self._reader.assign([tp])
            self._reader.seek(tp, offset)
            batch = await self._reader.getmany(tp, timeout_ms=int(max(wait, 0.5) * 1000),
                                               max_records=limit)
        return [Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp / 1000)
                for r in batch.get(tp, [])]

    async def _group(self, group: str) -> AIOKafkaConsumer:
        if group not in self._groups:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                        group_id=group, enable_auto_commit=False)
            await consumer.start()
            self._groups[group] = consumer
        return self._groups[group]

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        consumer = await self._group(group)
        out = {}
        for p in range(await self.partitions(topic)):
            tp = TopicPartition(topic, p)
            consumer.assign([tp])
            committed = await consumer.committed(tp)
            if committed is not None:
                out[p] = int(committed)
        return out

    async def commit(self, group: str, topic: str, positions: dict[int, int]) -> None:
        consumer = await self._group(group)
        tps = {TopicPartition(topic, p): OffsetAndMetadata(o, "") for p, o in positions.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
