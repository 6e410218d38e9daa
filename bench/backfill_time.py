"""End-to-end backfill time: simulated export files -> read, validated, sorted -> engines -> outputs.

    .venv/bin/python bench/backfill_time.py [--users 3000 --days 120 --runs 1 --workers 0]

3,000 users x 120 days is 1,042,120 valid events. --workers 0 (the default): the engines in this
process; --workers N: replayed into the embedded broker and N worker processes drained. Reports
each run's wall time (reading and sorting the files, processing, writing the outputs) and input
events per second, and the median; whether every run ended in the same state (state_digest).
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import orjson

from common import population_args, simulated_files  # bench/common.py (run as a script: its directory is on the path)
from streams.gc_policy import settle_after_startup
from streams.offline.backfill import backfill
from streams.settings import Settings


def main() -> None:
    args = population_args(users=3000, days=120, runs=1, workers=0)
    with tempfile.TemporaryDirectory() as tmp:
        files = simulated_files(args.users, args.days, Path(tmp))
        settle_after_startup()  # as `churnguard replay --backfill` does before its engines run
        seconds, summary, digests = [], {}, set()
        for run in range(args.runs):
            settings = replace(Settings.from_env({}), broker="", data_dir=f"{tmp}/data-{run}")
            summary = backfill(settings, files, Path(tmp) / f"run-{run}", workers=args.workers, timeout_s=7200)
            seconds.append(summary["seconds"])
            digests.add(summary["state_digest"])
        events_in = summary["input_records"]
        print(orjson.dumps({"events": events_in, "runs_s": seconds,
                            "median_s": statistics.median(seconds),
                            "median_events_per_s": round(events_in / statistics.median(seconds)),
                            "alerts": summary["alerts"], "holdout": summary["holdout"], "workers": args.workers,
                            "same_state_every_run": len(digests) == 1}).decode())


if __name__ == "__main__":
    main()
