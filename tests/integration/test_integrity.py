"""Integrity against real worker processes: erasure end to end (also after a restart), and the
watermark under a bad clock, a quiet period followed by a burst, and a bad last record."""

import asyncio
import time
import urllib.request

import orjson
import pytest

from streams.kafka.admin import topic_messages
from streams.kafka.partitioner import kafka_partition
from streams.kafka.produce import produce
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import start_worker, stop_process, wait_processed, wait_until, worker_status

pytestmark = pytest.mark.integration


def users_of(settings) -> dict:
    with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}/debug/users/", timeout=30) as r:
        return orjson.loads(r.read())


def counters(status) -> dict:
    out: dict = {}
    for part in status["partitions"].values():
        for name, value in part["counters"].items():
            out[name] = out.get(name, 0) + value
    return out


def received(settings, n, timeout_s=120):
    return wait_until(lambda: (worker_status(settings) or {}).get("received", 0) >= n
                      and (worker_status(settings) or {}).get("unflushed", 1) == 0, timeout_s)


# Local tables: the tombstone must reach the local database too (record and index entry), or the
# restarted worker would read the user back from disk.
@pytest.mark.parametrize("store", [{}, {"table_store": "rocksdb", "state_cache_users": 10}], ids=["memory", "rocksdb"])
def test_erasure_removes_a_user_for_good_with_an_audit_record_also_after_a_restart(settings_for, tmp_path, store):
    settings = settings_for("churnguard-erasure", source_idle_s=1.0, **store)
    cfg = SimConfig(users=30, days=40, seed=3, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    victim = records[len(records) // 2][1]
    request = orjson.dumps({"schema": "erasure_request.v1", "request_id": "req-1", "user_id": victim,
                            "requested_at": 1_780_000_000_000, "note": "unknown fields are fine"})
    worker = start_worker(settings, tmp_path / "first.log")
    try:
        asyncio.run(produce(settings, records))
        assert received(settings, len(records))
        assert victim in users_of(settings)
        asyncio.run(produce(settings, [("erasure_request", victim, 0, request)]))
        assert wait_until(lambda: list(topic_messages(settings, settings.topic_erasure_audit)), 60)
        [audit] = list(topic_messages(settings, settings.topic_erasure_audit))
        assert audit["request_id"] == "req-1" and audit["user_id"] == victim and audit["state_removed"]
        assert audit["pending_labels_removed"] > 0 and audit["partition"] == kafka_partition(victim, settings.partitions)
        assert victim not in users_of(settings)
    finally:
        stop_process(worker)
    again = start_worker(settings, tmp_path / "second.log")
    try:
        assert wait_until(lambda: (worker_status(settings) or {}).get("ready") and users_of(settings), 120)
        assert victim not in users_of(settings)  # the tombstone held through recovery
        later = [r for r in records if r[1] == victim][-3:]
        late_ts = records[-1][2] + 3_600_000
        asyncio.run(produce(settings, [(kind, uid, late_ts + i, value) for i, (kind, uid, _, value) in enumerate(later)]))
        assert wait_until(lambda: counters(worker_status(settings) or {"partitions": {}}).get("erased_user_events", 0) >= 3, 60)
        assert victim not in users_of(settings)
    finally:
        stop_process(again)
    assert not [a for a in topic_messages(settings, settings.topic_alerts) if a["user_id"] == victim
                and a["emitted_at"] > audit["emitted_at"]]


def test_a_bad_clock_a_quiet_period_and_a_bad_last_record_make_no_valid_event_late(settings_for, tmp_path):
    settings = settings_for("churnguard-clocks", source_idle_s=2.0)
    cfg = SimConfig(users=80, days=30, seed=8, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    half = len(records) // 2
    first, second = records[:half], records[half:]
    # One schema-valid click dated in year 2500, sent when the first half's clock says so.
    poisoned_user = first[-1][1]
    poison = orjson.dumps({"event_id": "from-2500", "user_id": poisoned_user, "ts": 16_725_225_600_000,
                           "session_id": "s", "action": "view", "page": "/"})
    # A bad record as the very last record of a partition's clicks.
    bad_user = second[-1][1]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        asyncio.run(produce(settings, first))
        asyncio.run(produce(settings, [("click", poisoned_user, first[-1][2], poison)]))
        wait_processed(settings, half + 1, 120)  # then a quiet period: every source goes idle
        asyncio.run(produce(settings, second))  # then a burst
        asyncio.run(produce(settings, [("click", bad_user, second[-1][2], b'{"event_id": "x", "user_')]))
        assert received(settings, len(records) + 2)
        bad_partition = str(kafka_partition(bad_user, settings.partitions))

        def settled():
            status = worker_status(settings) or {}
            return status and "click" in status["partitions"].get(bad_partition, {}).get("idle", [])

        assert wait_until(settled, 60), "the bad last record kept its source from being idle"
        time.sleep(2 * settings.flush_interval_s)
        status = worker_status(settings)
    finally:
        stop_process(worker)
    c = counters(status)
    assert c.get("late", 0) == 0, c
    assert c["future"] == 1
    buffered = sum(p["buffered"] for p in status["partitions"].values())
    assert c["applied"] + buffered == len(records)  # every valid event applied or within the lateness
    reasons = sorted(d["reason"] for d in topic_messages(settings, settings.topic_dead_letter))
    assert reasons == ["future", "undecodable"]
