"""End-to-end worker throughput on the embedded broker, backlog pre-loaded, against the floor.

    .venv/bin/python bench/worker_throughput.py [--users 1000 --days 90 --runs 3]

Per run: a fresh embedded broker and the population produced first; then the bare-Faust agent
(bench/bare_faust.py: it only iterates the events) reads the topics, then one churnguard worker
process does. Each is timed from its first record read to the moment it has read everything (the
worker: and flushed); startup and group join are excluded. Reports both medians and the median
of the per-run ratios worker / floor (measured in the same run, so machine noise hits both).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
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


def floor_once(settings: Settings, total: int, workdir: Path) -> float:
    """Events/s of the bare-Faust agent over the same topics (its own consumer group)."""
    env = {**os.environ, **settings.to_env(), "CHURNGUARD_WEB_PORT": str(free_port()),
           "CHURNGUARD_DATA_DIR": str(workdir / "bare")}
    url = f"http://{settings.web_host}:{env['CHURNGUARD_WEB_PORT']}/count/"
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "bare.log", "ab") as sink:
        bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_faust.py")), "worker"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def read() -> int:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    return int(orjson.loads(r.read())["count"])
            except OSError:
                return 0

        first: list[float] = []

        def started() -> bool:
            if read() > 0:
                first.append(time.monotonic())
                return True
            return False

        if not wait_until(started, 300, 0.05):
            sys.exit("bare agent never started")
        wait_until(lambda: read() >= total, 1800, 0.05)
        return total / (time.monotonic() - first[0])
    finally:
        stop_process(bare)


def run_once(records: list, workdir: Path) -> tuple[float, float]:
    with EmbeddedBroker() as broker:
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-bench", web_port=free_port(), data_dir=str(workdir / "data"))
        create_topics(settings)
        asyncio.run(produce(settings, records))
        floor = floor_once(settings, len(records), workdir)
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
            return floor, len(records) / (time.monotonic() - first[0])
        finally:
            stop_process(worker)


def main() -> None:
    args = population_args(users=1000)
    cfg = SimConfig(users=args.users, days=args.days)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(run_once(records, Path(tmp) / f"run{i}"))
    floors, rates = [f for f, _ in runs], [r for _, r in runs]
    print(orjson.dumps({"events": len(records), "floor_runs": [round(f) for f in floors],
                        "worker_runs": [round(r) for r in rates],
                        "median_floor_events_per_s": round(statistics.median(floors)),
                        "median_events_per_s": round(statistics.median(rates)),
                        "median_ratio": round(statistics.median(r / f for f, r in runs), 3)}).decode())


if __name__ == "__main__":
    main()
