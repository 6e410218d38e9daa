"""Two workers share the partitions of a backlog; one is killed (SIGKILL) and the other takes over
its partitions, the killed one comes back and the group splits the partitions again, then the
other one is killed and the first takes everything over. The end is exactly an uninterrupted run's:
each user's applied-event count, the features, the labels learned per partition and every alert,
including those published again after a takeover, with the same id and the same content. With
local tables also while two processes burn CPU beside the workers (``contended``): a race that lost
standby changelog records showed only on a busy machine."""

import random
import signal
import time
from dataclasses import replace

import pytest

from streams.kafka.admin import create_topics
from streams.kafka.broker import free_port
from streams.offline.backfill import run_settings
from streams.offline.simulator import SimConfig
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from tests.faults.harness import (LOCAL, assert_ends_as, contended, drained, log_tail, outcome, produce_records, run_to_the_end,
                                  serving, simulated_records)

pytestmark = pytest.mark.integration


def owned(settings) -> int:
    """How many partitions the worker of ``settings`` runs an engine for."""
    return len((worker_status(settings) or {}).get("partitions", {}))


@pytest.mark.parametrize("store, busy", [({}, 0), (LOCAL, 0), (LOCAL, 2)], ids=["memory", "rocksdb", "rocksdb-busy"])
def test_a_survivor_takes_over_a_killed_workers_partitions_and_ends_as_an_uninterrupted_run(settings_for, tmp_path, store,
                                                                                            busy):
    base = serving(settings_for("churnguard-takeover"))
    cfg = SimConfig(users=400, days=60, seed=31, bad_rate=0.0)  # a backlog that takes two workers a while
    records = simulated_records(cfg)

    reference = run_settings(base, "reference")
    create_topics(reference)
    produce_records(reference, records)
    expected = run_to_the_end(reference, tmp_path / "reference.log")
    assert sum(expected["users"].values()) == len(records) and expected["alerts"]

    a = replace(run_settings(base, "crashing"), **store)
    b = replace(a, web_port=free_port(), data_dir=str(tmp_path / "b"))
    create_topics(a)
    produce_records(a, records)
    rng = random.Random(3)
    logs = {"a": tmp_path / "a.log", "b": tmp_path / "b.log"}
    with contended(busy):  # (the reference run above is never contended)
        workers = {"a": start_worker(a, logs["a"]), "b": start_worker(b, logs["b"])}
        try:
            assert wait_until(lambda: owned(a) and owned(b), 300, 0.1), log_tail(logs["b"])
            time.sleep(rng.uniform(1.0, 4.0))
            stop_process(workers["b"], sig=signal.SIGKILL)
            assert wait_until(lambda: owned(a) == a.partitions, 120, 0.1), log_tail(logs["a"])
            time.sleep(rng.uniform(0.5, 3.0))
            workers["b"] = start_worker(b, logs["b"])  # back on its data directory: the group splits again
            assert wait_until(lambda: owned(b) and owned(a) < a.partitions, 300, 0.1), log_tail(logs["b"])
            time.sleep(rng.uniform(0.5, 3.0))
            stop_process(workers["a"], sig=signal.SIGKILL)
            assert wait_until(lambda: owned(b) == b.partitions, 120, 0.1), log_tail(logs["b"])
            drained(b, 0, timeout_s=600)
            got = outcome(b)
        finally:
            for worker in workers.values():
                stop_process(worker)

    assert_ends_as(got, expected)
