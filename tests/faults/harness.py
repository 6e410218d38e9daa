"""Driving real worker processes over a backlog for the fault suites: produce records with their
keys and record timestamps, run workers until everything is drained, read what they made."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka.admin import topic_messages
from streams.kafka.produce import topic_for_kind
from streams.offline.workers import debug_json, feature_digest, start_worker, stop_process, wait_until, worker_status
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.settings import Settings
from tests.faults.bad_records import Record


def produce_records(settings: Settings, records: list[Record]) -> None:
    async def send() -> None:
        topics = topic_for_kind(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=10, acks=1,
                                    enable_idempotence=False, max_request_size=2_000_000)
        await producer.start()
        try:
            futures = [await producer.send(topics[kind], value=value, key=key if key is not None else uid.encode(),
                                           timestamp_ms=record_ts if record_ts is not None else ts)
                       for kind, uid, ts, value, key, record_ts in records]
            for f in futures:
                await f
        finally:
            await producer.stop()

    asyncio.run(send())


def quiet(workers: list[Settings], expected_received: int) -> bool:
    """Between them the workers received everything and run every partition, every source is
    idle, nothing is buffered or unflushed (backfill mode releases all once idle)."""
    return _quiet([worker_status(w) for w in workers], workers[0].partitions, expected_received)


def _quiet(statuses: list[dict[str, Any] | None], partitions: int, expected_received: int) -> bool:
    ready = [s for s in statuses if s and s["ready"]]
    if len(ready) < len(statuses):
        return False
    parts = [p for s in ready for p in s["partitions"].values()]
    return (sum(s["received"] for s in ready) >= expected_received and all(s["unflushed"] == 0 for s in ready)
            and len(parts) == partitions and all(len(p["idle"]) == 3 and p["buffered"] == 0 for p in parts))


def drained(settings: Settings, expected_received: int, timeout_s: float = 600) -> dict[str, Any]:
    """Wait until the worker is quiet with everything received; its status."""
    last: dict[str, Any] = {}

    def done() -> bool:
        nonlocal last
        status = worker_status(settings)
        last = status or last
        return _quiet([status], settings.partitions, expected_received)

    assert wait_until(done, timeout_s, interval_s=0.5), last
    time.sleep(3 * settings.flush_interval_s)
    return worker_status(settings) or last


def outcome(settings: Settings) -> dict[str, Any]:
    """What a drained worker made: per-user applied counts, the feature digest, labels learned per
    partition, and every alert (treatment and control) by id, without the emission time."""
    status = worker_status(settings) or {}
    alerts: dict[str, list[bytes]] = {}
    for topic in (settings.topic_alerts, settings.topic_holdout):
        for doc in topic_messages(settings, topic):
            doc.pop("emitted_at")
            alerts.setdefault(doc["alert_id"], []).append(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return {"users": debug_json(settings, "/debug/users/"), "digest": feature_digest(settings),
            "labels": {p: part["model_labels"] for p, part in status.get("partitions", {}).items()},
            "alerts": alerts}


def run_to_the_end(settings: Settings, log_path: Path) -> dict[str, Any]:
    """A worker that reads whatever is left, until drained; what it made."""
    worker = start_worker(settings, log_path)
    try:
        drained(settings, 0, timeout_s=600)
        return outcome(settings)
    finally:
        stop_process(worker)


def assert_ends_as(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """What a run made (``outcome``) equals an uninterrupted run's: every user's applied events (0
    lost, 0 counted twice), the features, the labels learned per partition, and every alert by id
    and content, each copy of one published again after a restart the same."""
    assert got["users"] == expected["users"]
    assert got["digest"] == expected["digest"]
    assert got["labels"] == expected["labels"]
    assert all(len(set(copies)) == 1 for copies in got["alerts"].values()), \
        [a for a, copies in got["alerts"].items() if len(set(copies)) > 1][:3]
    assert {a: c[0] for a, c in got["alerts"].items()} == {a: c[0] for a, c in expected["alerts"].items()}


def serving(settings: Settings) -> Settings:
    """A week's horizon, a small label minimum and low tiers: within a 60-day simulation most
    partitions' models serve (so alerts carry what the model learned across the faults), and
    silences pass two horizons (so the return table's own open-silence steps are replayed too).
    A daily budget of 2 % of a partition's customers: it still holds crossings back (so what it
    counts must survive the kills; 22 and 54 of them in offline runs of the restart and takeover
    populations), and leaves room for the model's alerts (at the default 0.5 %, the 200 users of
    the restart test got 6 alerts, all before any model served)."""
    return replace(settings, source_idle_s=1.0, label_horizon_days=7, model_min_labels=300,
                   alert_tiers=(("watch", 0.2), ("high", 0.35), ("critical", 0.5)), alert_daily_budget_share=0.02)


def simulated_records(cfg: SimConfig) -> list[Record]:
    """The simulation's records, with attributes that change (labels must be learned with the ones scored)."""
    events, _ = simulate(cfg)
    for i, e in enumerate(events):
        if i % 5 == 0:
            e["attributes"] = {"region": f"r{i % 3}", "plan": "gold" if i % 2 else "basic"}
    return [(*r, None, None) for r in serialise(events, cfg)]


# Local tables with a small cache: users go to disk and come back between flushes; a restarted
# worker reads its local state plus the changelog tail, a survivor a dead worker's changelogs.
LOCAL = {"table_store": "rocksdb", "state_cache_users": 60}


def log_tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


@contextlib.contextmanager
def contended(busy_processes: int) -> Iterator[None]:
    """Processes that only burn CPU while the block runs, so that the workers and the broker
    share the cores as they do on a busy machine. Races between a worker's consumer, its recovery
    and its flushes show there: a standby's records dropped at a seek (docs/integrity.md) lost
    events in 3 of 3 takeovers while two benchmarks shared the cores, never on an idle machine."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy_processes)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
