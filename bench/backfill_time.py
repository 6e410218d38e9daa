"""End-to-end backfill time: simulated export files -> replay -> workers drained, on the embedded broker.

    .venv/bin/python bench/backfill_time.py [--users 3000 --days 120 --runs 1]

3,000 users x 120 days is 1,042,653 events. Reports each run's wall time (replay, worker start,
processing, drain, collecting outputs) and input events per second, and the median.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import orjson

from common import population_args, simulated_files  # bench/common.py (run as a script: its directory is on the path)
from streams.offline.backfill import backfill
from streams.settings import Settings


def main() -> None:
    args = population_args(users=3000, days=120, runs=1)
    with tempfile.TemporaryDirectory() as tmp:
        files = simulated_files(args.users, args.days, Path(tmp))
        seconds, summary = [], {}
        for run in range(args.runs):
            settings = replace(Settings.from_env({}), broker="", data_dir=f"{tmp}/data-{run}")
            summary = backfill(settings, files, Path(tmp) / f"run-{run}", timeout_s=7200)
            seconds.append(summary["seconds"])
        events_in = summary["input_records"]
        print(orjson.dumps({"events": events_in, "runs_s": seconds,
                            "median_s": statistics.median(seconds),
                            "median_events_per_s": round(events_in / statistics.median(seconds)),
                            "alerts": summary["alerts"], "holdout": summary["holdout"]}).decode())


if __name__ == "__main__":
    main()
