"""The Kafka runtime's murmur2 (``streams.runtime.kafka.murmur``) is aiokafka's, faster."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.kafka.bus import kafka_partition
from streams.runtime.kafka.murmur import murmur2


@given(st.binary(max_size=600))
def test_it_hashes_any_bytes_as_aiokafka_does(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.integers(min_value=-(10**13), max_value=10**13), st.integers(min_value=1, max_value=64))
def test_a_chat_lands_in_the_partition_kafkas_default_partitioner_picks(
        chat_id: int, partitions: int) -> None:
    key = f"chat:{chat_id}".encode()
    assert kafka_partition(key, partitions) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions


def test_known_values_of_kafkas_java_client() -> None:
    # Kafka's UtilsTest.testMurmur2 (the Java client's own reference values).
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             b"abc": 479470107}
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF
