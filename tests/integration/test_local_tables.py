"""Tables on local disk (table_store=rocksdb): same results as memory tables with a bounded cache
of live users, a restart that reads only the changelog tail written after the local state, and a
start on a new volume that catches up from the changelogs in bulk."""

from collections import Counter
from dataclasses import replace

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.kafka.admin import create_topics, topic_records
from streams.kafka.app import changelog_topics
from streams.kafka.bulk_restore import MIN_BEHIND
from streams.kafka.local_store import INDEX_HEADER, summary_of_record
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import (feature_digest, run_worker_on, start_worker, stop_process, wait_processed, wait_until,
                                     worker_status)

pytestmark = pytest.mark.integration


def records_with_headers(settings, topic: str) -> list[tuple[int, bytes | None, list[tuple[str, bytes]]]]:
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
        consumer.seek_to_beginning()
        return [(r.partition, r.value, r.headers) for r in consumer]
    finally:
        consumer.close()

CACHE = 40  # users live in memory, of 150: most are evicted and loaded again from disk


def test_local_tables_match_memory_tables_and_restart_from_disk(settings_for, tmp_path):
    cfg = SimConfig(users=150, days=40, seed=5, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    # No daily budget: 150 users make about a fifth of an alert a day per partition, and the
    # comparison needs alerts. Frequent flushes: the new volume below must be far enough behind
    # the changelogs for the bulk catch-up (MIN_BEHIND records in a partition).
    common = {"alert_daily_budget_share": 1.0, "flush_every_events": 250}
    in_memory = run_worker_on(settings_for("cg-memory-tables", **common), records, tmp_path / "memory.log", timeout_s=300)
    settings = settings_for("cg-local-tables", table_store="rocksdb", state_cache_users=CACHE, **common)
    worker = start_worker(settings, tmp_path / "disk.log")  # another group: reads the same topics from the start
    try:
        on_disk = wait_processed(settings, len(records), timeout_s=300)
        # Between flushes the cache also holds the users touched since; after one, only the bound.
        assert wait_until(lambda: (worker_status(settings) or on_disk)["table"]["users_in_memory"] <= CACHE, 30)
        on_disk = worker_status(settings) or {}
        on_disk["table"]["feature_digest"] = feature_digest(settings)
    finally:
        stop_process(worker)

    # The engine is deterministic: the same input gives the same state and counters, whichever
    # store holds the tables and however often users went to disk and came back.
    table = on_disk["table"]
    assert table["store"] == "rocksdb" and in_memory["table"]["store"] == "memory"
    assert table["users_evicted"] > table["users"] == in_memory["table"]["users"] == 150
    for key in ("events_applied", "feature_digest"):
        assert table[key] == in_memory["table"][key]
    assert on_disk["alerts_sent"] == in_memory["alerts_sent"] > 0
    counters = lambda status: {p: s["counters"] for p, s in status["partitions"].items()}  # noqa: E731
    assert counters(on_disk) == counters(in_memory)

    # A restart on the same data directory reads the changelog only from where the local state
    # ends (on empty input topics: nothing is redelivered, the state is what was restored).
    user_changelog, partition_changelog = changelog_topics(settings)
    user_records = records_with_headers(settings, user_changelog)
    written = len(user_records) + len(topic_records(settings, partition_changelog))
    # How many records a partition's users get depends on when its events were released: a
    # partition whose watermark waited (a sparse source not yet idle, the other partitions' life
    # tables) releases at the end, in a flush or two. Those partitions a new volume recovers
    # through Faust's recovery, the others in bulk: both paths, one state, below.
    per_partition = Counter(p for p, _, _ in user_records)
    assert max(per_partition.values()) >= MIN_BEHIND, per_partition
    # Each user record carries its index entry, so that a restore need not decompress it to index it.
    assert all(dict(headers)[INDEX_HEADER] == summary_of_record(value) for _, value, headers in user_records if value)
    quiet = replace(settings, topic_clicks="local.clicks", topic_purchases="local.purchases",
                    topic_tickets="local.tickets", topic_outcomes="local.outcomes")
    create_topics(quiet)
    restarted = start_worker(quiet, tmp_path / "restart.log")
    try:
        status: dict = {}

        def ready() -> bool:
            nonlocal status
            status = worker_status(quiet) or {}
            return bool(status.get("ready")) and len(status.get("partitions", {})) == settings.partitions

        assert wait_until(ready, timeout_s=120), status
        restored = status["table"]
        assert restored["changelog_records_read"] < written / 10, (restored, written)
        assert (restored["users"], restored["events_applied"], feature_digest(quiet)) == (
            table["users"], table["events_applied"], table["feature_digest"])
    finally:
        stop_process(restarted)

    # A new volume: the local tables, far behind their changelogs, catch up in bulk
    # (streams/kafka/bulk_restore.py), then Faust's recovery reads what is left; the same state.
    fresh = replace(quiet, data_dir=str(tmp_path / "new-volume"))
    log = tmp_path / "new-volume.log"
    started = start_worker(fresh, log)
    try:
        assert wait_until(lambda: bool((s := worker_status(fresh) or {}).get("ready"))
                          and len(s.get("partitions", {})) == settings.partitions, timeout_s=120)
        restored = (worker_status(fresh) or {})["table"]
        assert restored["changelog_records_read"] >= written, (restored, written)
        assert (restored["users"], restored["events_applied"], feature_digest(fresh)) == (
            table["users"], table["events_applied"], table["feature_digest"])
    finally:
        stop_process(started)
    assert "local_tables_caught_up" in log.read_text()
