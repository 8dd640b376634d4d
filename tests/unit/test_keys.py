"""Record keys and the member partition: Kafka's murmur2, as the Java client and faust's producer compute it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from loyalty_stream.kafka.keys import join_key, member_partition, murmur2, split_key


@given(st.binary(max_size=120))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.text(min_size=1, max_size=40), st.integers(1, 64))
def test_member_partition_is_where_kafkas_partitioner_puts_the_key(customer_id: str, partitions: int) -> None:
    every = list(range(partitions))
    expected = DefaultPartitioner()(join_key("DEFAULT", customer_id), every, every)
    assert member_partition("DEFAULT", customer_id, partitions) == expected


def test_keys_round_trip() -> None:
    assert split_key(join_key("DEFAULT", "a:b")) == ("DEFAULT", "a:b")
    assert split_key(b"nocolon") is None and split_key(None) is None
