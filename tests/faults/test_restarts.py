"""Killed at random points of a backlog, again and again (SIGKILL and SIGTERM), then restarted: the
worker ends exactly where an uninterrupted run ends. Each user's applied-event count, features and
the labels learned are equal, nothing is lost or counted twice, and every alert, including the ones
published again after a restart, carries the same id and the same content."""

import random
import signal
import time
from collections import Counter
from dataclasses import replace

import orjson
import pytest

from streams.kafka.admin import create_topics
from streams.offline.backfill import run_settings
from streams.offline.simulator import SimConfig
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from tests.faults.harness import LOCAL, assert_ends_as, contended, log_tail, produce_records, run_to_the_end, serving, simulated_records

pytestmark = pytest.mark.integration

KILLS = (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL)


@pytest.mark.parametrize("store, busy", [({}, 0), (LOCAL, 0), (LOCAL, 2)], ids=["memory", "rocksdb", "rocksdb-busy"])
def test_random_kills_and_restarts_end_exactly_as_an_uninterrupted_run(settings_for, tmp_path, store, busy):
    base = serving(settings_for("churnguard-restarts"))
    cfg = SimConfig(users=200, days=60, seed=29, bad_rate=0.0)
    records = simulated_records(cfg)

    reference = run_settings(base, "reference")
    create_topics(reference)
    produce_records(reference, records)
    expected = run_to_the_end(reference, tmp_path / "reference.log")
    assert sum(expected["users"].values()) == len(records)
    served_by = Counter(orjson.loads(copies[0])["model"]["kind"] for copies in expected["alerts"].values())
    assert served_by["heuristic"] and served_by["river_logreg"], served_by

    crashing = replace(run_settings(base, "crashing"), **store)
    create_topics(crashing)
    produce_records(crashing, records)
    rng = random.Random(5)
    with contended(busy):  # (the reference run above and the survivor below are never contended)
        for i, sig in enumerate(KILLS):
            log_path = tmp_path / f"victim-{i}.log"
            victim = start_worker(crashing, log_path)
            pause = rng.uniform(0.0, 6.0)  # seconds of processing before the kill
            # Started: its tables recovered and an engine per partition (it may have nothing left to read).
            reached = wait_until(lambda: len((worker_status(crashing) or {}).get("partitions", {})) == crashing.partitions,
                                 300, 0.1)
            time.sleep(pause)
            stop_process(victim, sig=sig)
            assert reached, log_tail(log_path)
    got = run_to_the_end(crashing, tmp_path / "survivor.log")
    if store:
        # Restarts after a stop that left nothing unwritten start their engines from the index read
        # while the group formed (streams/kafka/start_index.py), and end the same.
        logs = [(tmp_path / f"victim-{i}.log").read_text() for i in range(1, len(KILLS))]
        assert sum(log.count('"index_read_ahead": true') for log in logs) >= 4
    # Every restart rejoins the group as the member it replaces (streams/kafka/membership.py).
    for i in range(1, len(KILLS)):
        assert '"rejoins_as": "faust-' in (tmp_path / f"victim-{i}.log").read_text()

    assert_ends_as(got, expected)
