"""Producing serialised input records to the co-partitioned input topics (keyed by user_id)."""

from __future__ import annotations

from typing import Iterable

from aiokafka import AIOKafkaProducer

from streams.kafka import security
from streams.settings import Settings


def topic_for_kind(settings: Settings) -> dict[str, str]:
    return {"click": settings.topic_clicks, "purchase": settings.topic_purchases,
            "support_ticket": settings.topic_tickets, "outreach_outcome": settings.topic_outcomes,
            "erasure_request": settings.topic_erasure_requests}


async def produce(settings: Settings, records: Iterable[tuple[str, str, int, bytes]], window: int = 20_000) -> int:
    """Send (kind, user_id, ts, value) records in order; the event time is the record timestamp.
    Returns how many were acknowledged by the broker."""
    topics = topic_for_kind(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=10, max_batch_size=262_144,
                                acks=1, enable_idempotence=False, **security.aiokafka(settings))
    await producer.start()
    sent = 0
    try:
        pending = []
        for kind, user_id, ts, value in records:
            pending.append(await producer.send(topics[kind], value=value, key=user_id.encode(), timestamp_ms=ts))
            if len(pending) >= window:
                for fut in pending:
                    await fut
                sent += len(pending)
                pending = []
        for fut in pending:
            await fut
        sent += len(pending)
    finally:
        await producer.stop()
    return sent
