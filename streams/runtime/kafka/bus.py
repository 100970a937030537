"""The :class:`~streams.runtime.bus.Bus` contract over Apache Kafka (aiokafka), and the Kafka
runtime's one partitioner.

Every write telecase makes to Kafka goes through :class:`KafkaBus` (one idempotent ``acks=all``
producer): the connectors' raw logs, the desk, the projector's dead letters, and the Faust
worker's ticket events, commands and table changelog. Faust's own agents' sends are the only
writes that do not, and they use Kafka's default partitioner, which is :func:`kafka_partition`.
A record without a named partition goes to :func:`kafka_partition` of its key: murmur2, what
Kafka's (and aiokafka's) default partitioner picks, so chat-keyed records land where the raw
updates of that chat are (the embedded log uses ``streams.runtime.bus.partition_for``).

While the broker is away (restarting, say) the producer keeps what it was given and sends it
once the broker is back, within its request timeout; between two failed metadata attempts it
waits its retry backoff (:func:`pace_metadata_retries`) instead of trying again at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata

from streams.runtime.bus import Outgoing, Record
from streams.runtime.kafka.murmur import murmur2

#: From this many records for one partition, :meth:`KafkaBus.append_all` builds record batches
#: itself (the worker's, the projector's and replay's bulk appends); fewer go through the
#: producer's accumulator one by one.
BATCH_THRESHOLD = 32


def kafka_partition(key: bytes | None, partitions: int) -> int:
    """The Kafka runtime's partition of a key: murmur2, as Kafka's default partitioner
    (:mod:`streams.runtime.kafka.murmur`: aiokafka's hash, twice as fast)."""
    if key is None or partitions == 1:
        return 0
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def pace_metadata_retries(client: Any) -> None:
    """Make ``client`` (an ``AIOKafkaClient``) wait its ``retry_backoff_ms`` after a failed
    metadata update. aiokafka's producer asks again as soon as an update fails while a partition
    it has records for has no known leader, so with the broker down it spun: about 1,600
    connection attempts a second, a core, and an error line each, which on a small host slowed
    the broker's own restart (measured 8 to 17 s instead of 5). A client without that method
    (another aiokafka) is left as it is."""
    update: Callable[..., Awaitable[bool]] | None = getattr(client, "_metadata_update", None)
    backoff = getattr(client, "_retry_backoff", None)
    if update is None or backoff is None:
        return

    async def paced(*args: Any, **kwargs: Any) -> bool:
        updated = await update(*args, **kwargs)
        if not updated:
            await asyncio.sleep(backoff)
        return updated

    client._metadata_update = paced


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
        self._offsets_lock = asyncio.Lock()
        self._metadata_lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Start the producer (the readers start when first used)."""
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all",
                                        enable_idempotence=True)
            pace_metadata_retries(producer.client)
            await producer.start()
            self._producer = producer

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap_servers,
                                    enable_auto_commit=False)
        await consumer.start()
        return consumer

    async def close(self) -> None:
        for consumer in self._groups.values():
            await consumer.stop()
        self._groups.clear()
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
        if self._offsets is not None:
            await self._offsets.stop()
            self._offsets = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

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
        if topic in self._partitions:
            return self._partitions[topic]
        async with self._metadata_lock:  # one lookup however many callers ask at once
            return await self._lookup_partitions(topic)

    async def _lookup_partitions(self, topic: str) -> int:
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
        return await self.append_all([(topic, r) for r in records])

    async def append_all(self, records: Sequence[tuple[str, Outgoing]], *,
                         batch_from: int = BATCH_THRESHOLD) -> list[int]:
        """Append records of several topics at once; returns when the broker acknowledged
        all of them, with each one's offset. A bulk append builds one record batch per
        partition: an order of magnitude cheaper per record than one send each.
        ``batch_from``: from how many records for one partition (a sole sequential writer
        such as the worker, whose appends never race each other's, passes 1)."""
        assert self._producer is not None, "start() first"
        producer = self._producer
        groups: dict[tuple[str, int], list[Outgoing]] = {}
        placed: list[tuple[tuple[str, int], int]] = []  # (topic, partition), index there
        for topic, r in records:
            partition = r.partition if r.partition is not None else kafka_partition(
                r.key, await self.partitions(topic))
            group = groups.setdefault((topic, partition), [])
            placed.append(((topic, partition), len(group)))
            group.append(r)
        sent: list[tuple[tuple[str, int], int, asyncio.Future[Any]]] = []
        for (topic, partition), group in groups.items():
            if len(group) < batch_from:
                # A few records (a webhook's update): the producer's own accumulator joins
                # them with concurrent callers' records. A batch of our own would wait for the
                # partition's previous batch to drain, and many concurrent small batches run
                # out aiokafka's add_batch timeout (KafkaTimeoutError under webhook load).
                for n, r in enumerate(group):
                    sent.append(((topic, partition), n, await producer.send(
                        topic, r.value, key=r.key, partition=partition)))
                continue
            first, batch = 0, producer.create_batch()
            for n, r in enumerate(group):
                if batch.append(key=r.key, value=r.value, timestamp=None) is None:  # full
                    sent.append(((topic, partition), first,
                                 await producer.send_batch(batch, topic, partition=partition)))
                    first, batch = n, producer.create_batch()
                    batch.append(key=r.key, value=r.value, timestamp=None)
            sent.append(((topic, partition), first,
                         await producer.send_batch(batch, topic, partition=partition)))
        bases: dict[tuple[str, int], list[tuple[int, int]]] = {}
        metas = await asyncio.gather(*(future for _, _, future in sent))
        for (where, first, _), meta in zip(sent, metas, strict=True):
            bases.setdefault(where, []).append((first, int(meta.offset)))
        offsets = []
        for where, index in placed:
            first, base = max(b for b in bases[where] if b[0] <= index)
            offsets.append(base + index - first)
        return offsets

    async def end_offset(self, topic: str, partition: int) -> int:
        return (await self.end_offsets(topic, [partition]))[partition]

    async def end_offsets(self, topic: str, partitions: Sequence[int] | None = None,
                          ) -> dict[int, int]:
        """``partition -> end offset`` of ``partitions`` (all by default), in one request."""
        # End offsets come from a client of their own: asking the reader about a partition it
        # is not reading made its later fetches come back empty.
        async with self._offsets_lock:
            if self._offsets is None:
                self._offsets = await self._consumer()
        wanted = range(await self.partitions(topic)) if partitions is None else partitions
        tps = [TopicPartition(topic, p) for p in wanted]
        return {tp.partition: int(end)
                for tp, end in (await self._offsets.end_offsets(tps)).items()}

    async def read(self, topic: str, partition: int, offset: int, limit: int,
                   wait: float = 0.0) -> list[Record]:
        tp = TopicPartition(topic, partition)
        async with self._read_lock:
            if self._reader is None:
                self._reader = await self._consumer()
            self._reader.assign([tp])
            self._reader.seek(tp, offset)
            batch = await self._reader.getmany(tp, timeout_ms=int(max(wait, 0.5) * 1000),
                                               max_records=limit)
        return [Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp / 1000)
                for r in batch.get(tp, [])]

    async def read_any(self, topic: str, offsets: Mapping[int, int], limit: int,
                       wait: float = 0.0) -> list[Record]:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        async with self._read_lock:
            if self._reader is None:
                self._reader = await self._consumer()
            self._reader.assign(list(tps))
            for tp, offset in tps.items():
                self._reader.seek(tp, offset)
            batch = await self._reader.getmany(*tps, timeout_ms=int(max(wait, 0.5) * 1000),
                                               max_records=limit)
        return [Record(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp / 1000)
                for tp in sorted(batch, key=lambda tp: tp.partition) for r in batch[tp]]

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
