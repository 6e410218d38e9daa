"""Topic administration and whole-topic reads: creating the topics, true end offsets, reading a topic."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterator

import orjson
import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka import security
from streams.kafka.compat import true_end_offsets
from streams.settings import Settings

log = structlog.get_logger(__name__)


class BrokerUnreachable(Exception):
    """No broker answered at the configured address in time; the message says so in one line."""


def check_reachable(settings: Settings) -> None:
    """One metadata round trip within ``broker_connect_timeout_s``, before a command starts its
    real work: a wrong address or a closed port ends in one line, not in retries and tracebacks."""
    kafka_log = logging.getLogger("kafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)  # its retry warnings and tracebacks would bury the one line
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.broker, client_id=f"{settings.app_id}-probe",
                                 bootstrap_timeout_ms=int(settings.broker_connect_timeout_s * 1000),
                                 **security.kafka_python(settings))
        admin.close()
    except (KafkaError, OSError) as exc:
        raise BrokerUnreachable(
            f"CHURNGUARD_BROKER={settings.broker}: no broker answered within {settings.broker_connect_timeout_s:g} s "
            f"(CHURNGUARD_BROKER_CONNECT_TIMEOUT_S; {type(exc).__name__})") from None
    finally:
        kafka_log.setLevel(level)


def create_topics(settings: Settings) -> None:
    """Create the input, outcome, erasure, alert, holdout, quality, dead-letter, audit and life-table topics. All
    have the same partition count: inputs, outcomes and erasure requests are keyed by user and must
    be co-partitioned."""
    admin = KafkaAdminClient(bootstrap_servers=settings.broker, client_id=f"{settings.app_id}-admin",
                             **security.kafka_python(settings))
    try:
        wanted = [*settings.input_topics, settings.topic_outcomes, settings.topic_erasure_requests, settings.topic_alerts,
                  settings.topic_model_quality, settings.topic_holdout, settings.topic_dead_letter,
                  settings.topic_erasure_audit, settings.topic_life_table]
        existing = set(admin.list_topics())
        config = {"min.insync.replicas": str(settings.min_insync_replicas)}
        # The life tables' records are kept: an engine started again after any downtime needs the
        # others' records of the days it works again (a few KB per partition and day).
        kept = {**config, "retention.ms": "-1"}
        new = [NewTopic(name, settings.partitions, settings.replication_factor,
                        topic_configs=kept if name == settings.topic_life_table else config)
               for name in wanted if name not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            log.info("topics_created", topics=[t.name for t in new], partitions=settings.partitions)
    finally:
        admin.close()


def delete_app_topics(settings: Settings) -> None:
    """Delete the settings' topics and the app's own (Faust's changelogs, ``<app_id>-...``): for runs
    that made their own topics (a backfill), never for the live ones."""
    admin = KafkaAdminClient(bootstrap_servers=settings.broker, client_id=f"{settings.app_id}-admin",
                             **security.kafka_python(settings))
    try:
        names = {getattr(settings, f) for f in settings.__dataclass_fields__ if f.startswith("topic_")}
        doomed = [t for t in admin.list_topics() if t in names or t.startswith(f"{settings.app_id}-")]
        if doomed:
            admin.delete_topics(doomed)
            log.info("topics_deleted", topics=sorted(doomed))
    finally:
        admin.close()


def co_partitioning_problems(settings: Settings) -> list[str]:
    """Input and outcome topics whose partition count is not ``settings.partitions``: a user's
    records would land on a partition that another user's hash picks, and split their state."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, **security.kafka_python(settings))
    try:
        problems = []
        for topic in (*settings.input_topics, settings.topic_outcomes, settings.topic_erasure_requests):
            count = len(consumer.partitions_for_topic(topic) or ())
            if count != settings.partitions:
                problems.append(f"{topic} has {count} partitions, CHURNGUARD_PARTITIONS is {settings.partitions}")
        return problems
    finally:
        consumer.close()


def partition_ends(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> end offset (last offset + 1), read from fetch responses (streams/kafka/compat.py)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, **security.kafka_python(settings))
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        reported = consumer.end_offsets(tps)
    finally:
        consumer.close()
    ends = asyncio.run(true_end_offsets(settings.broker, reported, security.aiokafka(settings)))
    return {(tp.topic, tp.partition): end for tp, end in ends.items()}


def topic_records(settings: Settings, topic: str, timeout_s: float = 3.0) -> list[tuple[int, int, bytes]]:
    """Every record of ``topic`` as (partition, offset, value), in partition then offset order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False,
                             consumer_timeout_ms=int(timeout_s * 1000), **security.kafka_python(settings))
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
        consumer.seek_to_beginning()
        out = [(r.partition, r.offset, r.value) for r in consumer]
    finally:
        consumer.close()
    return sorted(out)


def topic_messages(settings: Settings, topic: str, timeout_s: float = 3.0) -> Iterator[dict[str, Any]]:
    """Every message currently on ``topic`` (all partitions), decoded."""
    for _, _, value in topic_records(settings, topic, timeout_s):
        yield orjson.loads(value)
