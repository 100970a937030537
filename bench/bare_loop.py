"""The bare Kafka loop ``telecase bench ingest`` compares the worker with, in a process of its
own as the worker is: ``python -m bench.bare_loop BOOTSTRAP SOURCE TARGET GROUP PAYLOADS N``.

It consumes ``SOURCE`` (the raw updates the worker folded: same topic, same partitions) in a
consumer group, and for each record appends to ``TARGET`` the very ticket events the worker
wrote for it (``PAYLOADS``: a pickle of ``{(partition, offset): [(key, value), ...]}``, read
back from the worker's output), to the same partition, through the same batch path
(:meth:`~streams.runtime.kafka.bus.KafkaBus.append_all`, idempotent ``acks=all``), waits for the
acknowledgements and commits the source offsets, until ``N`` events are written. So it does
everything the worker does except the fold, the thread states and their changelog; the
projector reading ``TARGET`` makes the database work as hard as in the worker's run.
"""

from __future__ import annotations

import asyncio
import pickle
import sys

from aiokafka import AIOKafkaConsumer

from streams.runtime.bus import Outgoing
from streams.runtime.kafka.bus import KafkaBus

Payloads = dict[tuple[int, int], list[tuple[bytes, bytes]]]


async def consume_produce(bootstrap: str, source: str, target: str, group: str,
                          payloads: Payloads, expected: int, batch_max: int = 500) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=16 * 1024 * 1024,
                                max_poll_records=batch_max)
    bus = KafkaBus(bootstrap)
    await consumer.start()
    await bus.start()
    try:
        written = 0
        while written < expected:
            fetched = await consumer.getmany(timeout_ms=1000)
            out = [(target, Outgoing(key, value, partition=r.partition))
                   for records in fetched.values() for r in records
                   for key, value in payloads.get((r.partition, r.offset), ())]
            if out:
                await bus.append_all(out)
                written += len(out)
            if fetched:
                await consumer.commit()
    finally:
        await consumer.stop()
        await bus.close()


def main() -> None:
    bootstrap, source, target, group, path, expected = sys.argv[1:7]
    with open(path, "rb") as f:
        payloads: Payloads = pickle.load(f)
    asyncio.run(consume_produce(bootstrap, source, target, group, payloads, int(expected)))


if __name__ == "__main__":
    main()
