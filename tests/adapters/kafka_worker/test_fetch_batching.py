"""The worker's consumer fetches in batches (streams.runtime.kafka.eager), against a real
broker: a consumer given ``fetch_min_bytes`` and ``fetch_max_wait`` gets the records that
arrive while the broker holds its fetch in one answer, where a consumer with Kafka's defaults
(what Faust builds) gets them as they come, one fetch each."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.runtime.kafka.bus import KafkaBus
from streams.runtime.kafka.eager import EagerTransport, set_fetch_batching
from streams.runtime.kafka.worker import WorkerConfig, create_app

pytestmark = pytest.mark.integration

RECORDS = 8
APART = 0.03


async def _answers(bootstrap: str, batching: bool) -> list[int]:
    """How many records each non-empty fetch answer held while ``RECORDS`` records arrived
    ``APART`` seconds apart."""
    topic = f"fetch-batching-{uuid.uuid4().hex[:8]}"
    admin = KafkaBus(bootstrap)
    await admin.create_topic(topic, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    if batching:  # most of a second: more than the records take to arrive
        set_fetch_batching(consumer, 64 * 1024, 0.8)
    try:
        await producer.send_and_wait(topic, b"first")  # the topic exists, with one record
        await consumer.start()
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        caught_up = 0
        while not caught_up:  # the first record: the consumer is caught up
            caught_up = len((await consumer.getmany(tp, timeout_ms=1000)).get(tp, []))

        async def arrive() -> None:
            for n in range(RECORDS):
                await asyncio.sleep(APART)
                await producer.send_and_wait(topic, b"record %d" % n)

        arriving = asyncio.create_task(arrive())
        sizes: list[int] = []
        while sum(sizes) < RECORDS:
            got = await consumer.getmany(tp, timeout_ms=5000)
            if got:
                sizes.append(len(got[tp]))
        await arriving
        return sizes
    finally:
        await consumer.stop()
        await producer.stop()


async def test_a_batching_consumer_gets_what_arrived_during_its_wait_in_one_answer(
        kafka_bootstrap: str) -> None:
    assert await _answers(kafka_bootstrap, batching=True) == [RECORDS]


async def test_a_consumer_with_kafkas_defaults_gets_records_as_they_come(
        kafka_bootstrap: str) -> None:
    assert len(await _answers(kafka_bootstrap, batching=False)) > 1


def test_the_workers_transport_fetches_with_its_configured_batching() -> None:
    app = create_app(WorkerConfig(bootstrap_servers="127.0.0.1:1", fetch_max_wait=0.007))
    transport = app.transport
    assert isinstance(transport, EagerTransport)
    assert (transport.fetch_min_bytes, transport.fetch_max_wait) == (64 * 1024, 0.007)
