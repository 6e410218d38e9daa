"""A worker on a new volume killed (SIGKILL) again and again while its local tables catch up in
bulk from the changelog (streams/kafka/bulk_restore.py), then started once more: every start goes
on from the exact prefix the last one left, and the state in the end is the changelog's, each user
once, in its last version, erased users gone, whatever the kills."""

import random
import signal
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from kafka.admin import KafkaAdminClient, NewTopic

from agents.pipeline import feature_digest
from streams.core.engine import PartitionState
from streams.core.features import UserState
from streams.kafka.app import changelog_topics
from streams.kafka.bulk_restore import MAX_RECORDS_PER_BATCH
from streams.kafka.codecs import user_record
from streams.kafka.local_store import index_headers
from streams.kafka.partitioner import kafka_partition
from streams.offline.workers import feature_digest as worker_digest
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status

pytestmark = pytest.mark.integration

USERS = 150_000  # a catch-up of a few seconds on this machine: long enough to be killed in
KILLS = 2


def fill_changelogs(settings, rng: random.Random) -> dict[str, UserState]:
    """Every user written once, then some written again (the later version counts) and some
    erased (tombstones), and the partition states; the users the changelog holds in the end."""
    user_topic, partition_topic = changelog_topics(settings)
    admin = KafkaAdminClient(bootstrap_servers=settings.broker)
    admin.create_topics([NewTopic(t, settings.partitions, 1) for t in (user_topic, partition_topic)])
    admin.close()
    producer = Producer({"bootstrap.servers": settings.broker, "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.messages": 1_000_000})

    def send(topic: str, key: str, value: bytes | None, partition: int, headers=None) -> None:
        while True:
            try:
                producer.produce(topic, value, key.encode(), partition=partition, headers=headers)
                return
            except BufferError:
                producer.poll(0.05)

    final: dict[str, UserState] = {}
    for i in range(USERS):
        uid = f"kill-{i}"
        user = UserState(uid, kafka_partition(uid, settings.partitions), events_applied=1 + i % 97,
                         lifetime_purchases=i % 5, next_due_day=20_000 + i % 30, risk_bin=i % 1000)
        final[uid] = user
    later = rng.sample(sorted(final), USERS // 100)
    erased = set(rng.sample(sorted(final), USERS // 200))
    for uid, user in list(final.items()):
        send(user_topic, uid, user_record(user), user.partition, index_headers(user))
    for uid in later:
        user = final[uid] = UserState(uid, final[uid].partition, events_applied=final[uid].events_applied + 1000)
        send(user_topic, uid, user_record(user), user.partition, index_headers(user))
    for uid in erased:
        send(user_topic, uid, None, final.pop(uid).partition)
    for p in range(settings.partitions):
        send(partition_topic, f"p{p}", orjson.dumps(PartitionState(p).to_dict()), p)
    assert producer.flush(300) == 0
    return final


def records_caught_up(settings) -> int:
    """Changelog records the worker has read into its local tables so far (the bulk catch-up
    counts them a whole batch at a time, once the batch is in the database)."""
    return int(((worker_status(settings) or {}).get("table") or {}).get("changelog_records_read", 0))


def catching_up(log: Path) -> int | None:
    """The offsets the worker logging to ``log`` set out to read in bulk, once it has started to."""
    for line in log.read_text().splitlines() if log.exists() else ():
        if '"local_tables_catching_up"' in line:
            return int(orjson.loads(line)["offsets_behind"])
    return None


def test_a_catch_up_killed_again_and_again_ends_with_the_changelogs_state(settings_for, tmp_path):
    rng = random.Random(41)
    settings = settings_for("cg-bulk-kills", table_store="rocksdb")
    expected = fill_changelogs(settings, rng)

    behind = []
    for run in range(KILLS):
        log = tmp_path / f"killed-{run}.log"
        worker = start_worker(settings, log)
        try:
            assert wait_until(lambda: catching_up(log) is not None, 120, 0.05), log.read_text()[-3000:]
            # Killed once one to four batches of this start are in (so the next start has less to
            # read), at a point that varies with the seed but not with the machine's speed: a fixed
            # sleep let a fast machine finish the catch-up first.
            kill_after = rng.randint(1, 4) * MAX_RECORDS_PER_BATCH
            assert wait_until(lambda: records_caught_up(settings) >= kill_after, 120, 0.02), log.read_text()[-3000:]
        finally:
            stop_process(worker, sig=signal.SIGKILL)
        assert "local_tables_caught_up" not in log.read_text(), "the catch-up ended before the kill"
        behind.append(catching_up(log))
    # Each start went on from where the killed one's last whole batch ended.
    assert behind[0] > behind[1] > 0, behind

    log = tmp_path / "last.log"
    worker = start_worker(settings, log)
    try:
        assert wait_until(lambda: bool((s := worker_status(settings) or {}).get("ready"))
                          and len(s.get("partitions", {})) == settings.partitions, 180), log.read_text()[-3000:]
        table = (worker_status(settings) or {})["table"]
        digest = worker_digest(settings)
    finally:
        stop_process(worker)
    assert "local_tables_caught_up" in log.read_text()
    assert (table["users"], table["events_applied"]) == (len(expected), sum(u.events_applied for u in expected.values()))
    assert digest == feature_digest(expected.values())
    assert table["changelog_records_read"] < behind[0]  # not read again from the start
