"""A partition taken over far behind the others reads the life-table topic's history again.

One partition's customers fall silent after ten days of the log while the others' go on for
weeks: the quiet partition is judged idle and the others pass it. A worker keeps only the latest
14 days of the life-table rows behind the slowest active partition (streams/core/peers.py
``PeerLedger``), so when the worker that ran the quiet partition is killed, the survivor starts
that partition from its state at day ten without the others' rows it needs: it must read the
topic again from its beginning before that partition's next day boundary
(streams/kafka/life_tables.py ``HistoryReads``). When the quiet customers come back, the end is
exactly an uninterrupted run's, whose engine kept those rows in memory. Without the read the
partition would wait for ever (no boundary runs with counts missing)."""

import signal
from dataclasses import replace

import orjson
import pytest

from streams.core.events import DAY_MS
from streams.kafka.admin import create_topics
from streams.kafka.broker import free_port
from streams.kafka.partitioner import kafka_partition
from streams.offline.backfill import run_settings
from streams.offline.simulator import SimConfig
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from tests.faults.harness import assert_ends_as, drained, log_tail, outcome, produce_records, quiet, serving, simulated_records

pytestmark = pytest.mark.integration

QUIET_PARTITION = 1
QUIET_AFTER_DAYS = 10


def test_a_partition_taken_over_behind_the_ledger_reads_the_history_and_ends_as_an_uninterrupted_run(settings_for, tmp_path):
    base = serving(settings_for("churnguard-history"))
    cfg = SimConfig(users=160, days=45, seed=37, bad_rate=0.0)
    records = simulated_records(cfg)
    split = min(r[2] for r in records) + QUIET_AFTER_DAYS * DAY_MS
    is_later = [kafka_partition(r[1], base.partitions) == QUIET_PARTITION and r[2] >= split for r in records]
    first = [r for r, later in zip(records, is_later) if not later]
    later = [r for r, later in zip(records, is_later) if later]
    assert later and max(r[2] for r in first) - split > 20 * DAY_MS  # the others run weeks ahead

    reference = run_settings(base, "reference")
    create_topics(reference)
    produce_records(reference, first)
    worker = start_worker(reference, tmp_path / "reference.log")
    try:
        drained(reference, len(first))
        produce_records(reference, later)
        drained(reference, len(records))
        expected = outcome(reference)
    finally:
        stop_process(worker)
    assert sum(expected["users"].values()) == len(records) and expected["alerts"]

    a = run_settings(base, "takeover")
    b = replace(a, web_port=free_port(), data_dir=str(tmp_path / "b"))
    create_topics(a)
    produce_records(a, first)
    logs = {a: tmp_path / "a.log", b: tmp_path / "b.log"}
    workers = {a: start_worker(a, logs[a]), b: start_worker(b, logs[b])}
    try:
        assert wait_until(lambda: quiet([a, b], len(first)), 600, 0.5), log_tail(logs[b])
        owner = next(s for s in (a, b) if str(QUIET_PARTITION) in worker_status(s)["partitions"])
        survivor = b if owner is a else a
        assert len(worker_status(survivor)["partitions"]) < a.partitions, "each worker runs some partitions"
        stop_process(workers.pop(owner), sig=signal.SIGKILL)
        assert wait_until(lambda: len((worker_status(survivor) or {}).get("partitions", {})) == a.partitions, 120, 0.1), \
            log_tail(logs[survivor])
        received = worker_status(survivor)["received"]
        produce_records(a, later)
        drained(survivor, received + len(later), timeout_s=300)
        got = outcome(survivor)
    finally:
        for worker in workers.values():
            stop_process(worker)

    reads = [orjson.loads(line)["partitions"] for line in logs[survivor].read_text().splitlines()
             if '"life_table_history_read"' in line]
    assert reads == [[QUIET_PARTITION]], log_tail(logs[survivor])
    assert_ends_as(got, expected)
