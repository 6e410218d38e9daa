"""A worker killed with SIGKILL mid-stream and restarted ends with the same per-user state as a
worker that was never interrupted: nothing lost, nothing counted twice."""

import asyncio
import math
import signal
import time
import urllib.request

import orjson

import pytest

from streams.offline.workers import feature_digest, start_worker, stop_process, wait_until, worker_status
from streams.kafka.produce import produce
from streams.offline.simulator import SimConfig, as_events, serialise, simulate
from tests.feature_reference import reference_values

pytestmark = pytest.mark.integration


def drained_table(settings, timeout_s: float) -> dict:
    """The worker's table once every source partition is idle (fetched to its end and quiet)
    and everything is flushed."""
    last: dict = {}

    def drained() -> bool:
        nonlocal last
        status = worker_status(settings)
        if not status or not status["ready"] or status["unflushed"]:
            return False
        last = status
        partitions = status["partitions"]
        return len(partitions) == settings.partitions and all(len(p["idle"]) == 3 for p in partitions.values())

    assert wait_until(drained, timeout_s, interval_s=1.0), last or "worker never drained"
    time.sleep(2 * settings.flush_interval_s)
    table = worker_status(settings)["table"]
    return {"users": table["users"], "events_applied": table["events_applied"], "feature_digest": feature_digest(settings)}



# Local tables are killed and restarted in tests/faults/test_restarts.py (make faults), which keeps
# make test within its time.
def test_sigkill_mid_stream_then_restart_matches_an_uninterrupted_run(settings_for, tmp_path):
    cfg = SimConfig(users=200, days=60, seed=13, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    reference_settings = settings_for("churnguard-reference")
    asyncio.run(produce(reference_settings, records))

    reference = start_worker(reference_settings, tmp_path / "reference.log")
    try:
        expected = drained_table(reference_settings, timeout_s=300)
    finally:
        stop_process(reference)

    crash_settings = settings_for("churnguard-crash")
    victim = start_worker(crash_settings, tmp_path / "victim.log")
    try:
        assert wait_until(lambda: (worker_status(crash_settings) or {}).get("received", 0) >= len(records) // 2,
                          timeout_s=300, interval_s=0.2)
    finally:
        stop_process(victim, sig=signal.SIGKILL)
    survivor = start_worker(crash_settings, tmp_path / "survivor.log")
    try:
        assert drained_table(crash_settings, timeout_s=300) == expected
        # And the restarted worker's features equal a brute-force recomputation from the raw events.
        with urllib.request.urlopen(f"http://{crash_settings.web_host}:{crash_settings.web_port}/debug/features/",
                                    timeout=60) as r:
            served = orjson.loads(r.read())
    finally:
        stop_process(survivor)
    by_user = {}
    for e in as_events(events):
        by_user.setdefault(e.user_id, []).append(e)
    assert len(served) == cfg.users
    for uid, doc in served.items():
        reference = reference_values(by_user[uid], doc["t"])
        # Equal up to the last of the 4 rounded decimals (sums in another order may round apart).
        assert doc["features"].keys() == reference.keys(), uid
        wrong = {k: (v, reference[k]) for k, v in doc["features"].items()
                 if not math.isclose(v, reference[k], rel_tol=1e-9, abs_tol=1.5e-4)}
        assert not wrong, (uid, wrong)
