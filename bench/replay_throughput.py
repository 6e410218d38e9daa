"""Replay producer throughput: simulated export files into the embedded broker's input topics.

    .venv/bin/python bench/replay_throughput.py [--users 1000 --days 90 --runs 3]

Writes the population to JSONL files once, then for each run starts a fresh embedded broker,
creates the topics and replays the files (read, validate, merge in event-time order, produce
keyed by user with the event time as timestamp, invalid records to the dead-letter topic), and
reports records/s of each run and the median.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

import orjson

from common import population_args, simulated_files  # bench/common.py (run as a script: its directory is on the path)
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.admin import create_topics
from streams.offline.replay import Replay
from streams.settings import Settings


def main() -> None:
    args = population_args(users=1000)
    with tempfile.TemporaryDirectory() as tmp:
        files = simulated_files(args.users, args.days, Path(tmp))
        rates = []
        for run in range(args.runs):
            with EmbeddedBroker() as broker:
                settings = replace(Settings.from_env({}), broker=broker.bootstrap, data_dir=f"{tmp}/run-{run}")
                create_topics(settings)
                stats = Replay(settings, files, checkpoint_dir=Path(tmp) / f"run-{run}").run()
                rates.append(round(stats.records / stats.seconds))
        print(orjson.dumps({"records": stats.records, "runs": rates, "median_records_per_s": statistics.median(rates)}).decode())


if __name__ == "__main__":
    main()
