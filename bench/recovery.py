"""Recovery times on the embedded broker, with real worker processes.

    .venv/bin/python bench/recovery.py [--users 2000 --days 60 --runs 3] [--store rocksdb]

Per run, a fresh broker and a population processed first (its state in the changelogs), then:
- restart: the worker is killed (SIGKILL) and started again; measured from the new process's
  start to the moment it has read and flushed records produced right after the kill (it rejoins
  the group, restores its tables from the changelogs, then reads on);
- takeover: two workers share the partitions; one is killed (SIGKILL); measured from the kill to
  the moment the survivor has read and flushed records produced right after it on every input
  partition (the group notices the dead member at its session timeout, rebalances, and the
  survivor restores the dead one's partitions).
Also the time until /ready/ answers 200 in each case. With ``--store rocksdb`` the workers keep
their tables on local disk: the restarted one reads only the changelog tail after its local
state; the survivor of a takeover restores the dead one's partitions from the changelog. Prints each run's figures and their
medians as one JSON line.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from common import caught_up, population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.kafka.admin import create_topics
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.produce import produce
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import start_worker, stop_process, wait_processed, wait_until, worker_status
from streams.settings import Settings


def probes(records: list[tuple[str, str, int, bytes]], users: int = 64) -> list[tuple[str, str, int, bytes]]:
    """A click for each of ``users`` known users one second after the newest event: new records on
    (very likely) every input partition of the click topic."""
    last_ts = max(ts for _, _, ts, _ in records)
    user_ids = sorted({u for _, u, _, _ in records})[:users]
    return [("click", u, last_ts + 1000, orjson.dumps({"event_id": f"probe-{u}", "user_id": u, "ts": last_ts + 1000,
                                                       "session_id": f"probe-{u}", "action": "view", "page": "/home"}))
            for u in user_ids]


def ready(settings: Settings) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}/ready/", timeout=2) as r:
            return r.status == 200
    except (urllib.error.HTTPError, OSError):
        return False


def timed(predicate: Any, since: float, timeout_s: float = 300.0) -> float:
    if not wait_until(predicate, timeout_s, interval_s=0.1):
        raise TimeoutError(f"not reached in {timeout_s}s")
    return time.monotonic() - since


def run_once(records: list, workdir: Path, store: str) -> dict[str, float]:
    with EmbeddedBroker() as broker:
        base = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu", app_id="churnguard-recovery",
                       table_store=store)
        a = replace(base, web_port=free_port(), data_dir=str(workdir / "a"))
        b = replace(base, web_port=free_port(), data_dir=str(workdir / "b"))
        create_topics(base)
        asyncio.run(produce(base, records))
        out: dict[str, float] = {}
        workers = [start_worker(a, workdir / "a.log")]
        try:
            wait_processed(a, len(records), 600)
            # Restart after a kill.
            stop_process(workers[0], sig=signal.SIGKILL)
            asyncio.run(produce(base, probes(records)))
            started = time.monotonic()
            workers[0] = start_worker(a, workdir / "a.log")
            out["restart_ready_s"] = timed(lambda: ready(a), started)
            out["restart_processing_s"] = timed(lambda: caught_up(a, base.partitions), started)
            # Takeover of a dead worker's partitions.
            workers.append(start_worker(b, workdir / "b.log"))
            wait_until(lambda: ready(a) and ready(b) and bool((worker_status(b) or {}).get("sources")), 300, 0.2)
            stop_process(workers[1], sig=signal.SIGKILL)
            killed = time.monotonic()
            asyncio.run(produce(base, probes(records, users=128)[64:]))
            out["takeover_processing_s"] = timed(lambda: caught_up(a, base.partitions), killed)
            out["takeover_ready_s"] = timed(lambda: ready(a), killed)
        finally:
            for worker in workers:
                stop_process(worker)
        return out


def main() -> None:
    args = population_args(users=2000, days=60, store=True)
    cfg = SimConfig(users=args.users, days=args.days, seed=7, bad_rate=0.0)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(records, Path(tmp), args.store))
        print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
    print(orjson.dumps({"users": args.users, "events": len(records), "store": args.store,
                        **{f"{key}_runs": [round(r[key], 1) for r in runs] for key in runs[0]},
                        **{f"median_{key}": round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}}).decode())


if __name__ == "__main__":
    main()
