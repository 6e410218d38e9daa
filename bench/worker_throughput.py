"""End-to-end worker throughput on the embedded broker, backlog pre-loaded.

    .venv/bin/python bench/worker_throughput.py [--users 1000 --days 90 --runs 3]

Per run: a fresh embedded broker, the population produced first, then one worker process.
Time is measured from the worker's first received record to the moment it has received
everything and flushed (startup and group join excluded). Reports the median of the runs.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.admin import create_topics
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.kafka.produce import produce
from streams.settings import Settings
from streams.offline.simulator import SimConfig, serialise, simulate


def run_once(records: list, workdir: Path) -> float:
    with EmbeddedBroker() as broker:
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-bench", web_port=free_port(), data_dir=str(workdir / "data"))
        create_topics(settings)
        asyncio.run(produce(settings, records))
        worker = start_worker(settings, workdir / "worker.log")
        try:
            first: list[float] = []

            def started() -> bool:
                s = worker_status(settings)
                if s and s["received"] > 0:
                    first.append(time.monotonic())
                    return True
                return False

            if not wait_until(started, 300, 0.05):
                sys.exit("worker never started")

            def done() -> bool:
                s = worker_status(settings)
                return bool(s) and s["received"] >= len(records) and s["unflushed"] == 0

            wait_until(done, 1800, 0.1)
            return len(records) / (time.monotonic() - first[0])
        finally:
            stop_process(worker)


def main() -> None:
    args = population_args(users=1000)
    cfg = SimConfig(users=args.users, days=args.days)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            rates.append(run_once(records, Path(tmp) / f"run{i}"))
    print(orjson.dumps({"events": len(records), "runs": [round(r) for r in rates],
                        "median_events_per_s": round(statistics.median(rates))}).decode())


if __name__ == "__main__":
    main()
