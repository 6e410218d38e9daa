"""Alerts reach the outreach topics as soon as the engine makes them, not at the next flush of
state: with flushes an hour and a billion events apart, a live worker's alerts still arrive while
no flush has run since its partitions were assigned. (Waiting for the flush every 0.5 s was most of
an alert's latency: bench/latency.py.) The flush that writes the user states recording them still
waits for their acknowledgements first (docs/integrity.md); the fault suites check restarts."""

from dataclasses import replace

import pytest

from streams.kafka.admin import topic_messages
from streams.offline.simulator import SimConfig
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from tests.faults.harness import log_tail, produce_records, serving, simulated_records

pytestmark = pytest.mark.integration


def test_alerts_are_published_without_waiting_for_a_flush(settings_for, tmp_path):
    settings = replace(serving(settings_for("churnguard-alerts-now")), flush_interval_s=3600.0,
                       flush_every_events=10**9)
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    try:
        assert wait_until(lambda: (worker_status(settings) or {}).get("ready"), 300, 0.2), log_tail(log_path)
        flushes = worker_status(settings)["flushes"]  # the first assignment's
        produce_records(settings, simulated_records(SimConfig(users=150, days=40, seed=41, bad_rate=0.0)))

        def alerts() -> list[dict]:
            return list(topic_messages(settings, settings.topic_alerts)) + list(topic_messages(settings, settings.topic_holdout))

        assert wait_until(lambda: len(alerts()) >= 5, 120, 1.0), log_tail(log_path)
        status = worker_status(settings)
        assert status["flushes"] == flushes, "a flush ran: the test proves nothing"
        assert status["alerts_sent"] + status["holdout_recorded"] >= 5
    finally:
        stop_process(worker)
