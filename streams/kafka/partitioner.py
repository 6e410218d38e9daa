"""Kafka's default partitioner, so that every client (replay, offline runs) agrees on where a user lives."""

from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2


@lru_cache(maxsize=1 << 20)
def kafka_partition(user_id: str, partitions: int) -> int:
    """The partition Kafka's default (Java) partitioner gives this key (murmur2; cached, it is pure Python)."""
    return (murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions
