"""What the benchmarks share: a simulated population's size, how many runs to take the median of, export files."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable

import orjson

from streams.kafka.broker import free_port
from streams.offline.sources import write_events
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import worker_status
from streams.settings import Settings


def population_args(users: int, days: int = 90, runs: int = 3, workers: int | None = None,
                    store: bool = False, flags: tuple[str, ...] = ()) -> argparse.Namespace:
    """--users, --days, --runs (and --workers, --store if asked), plus on/off ``flags``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=users)
    ap.add_argument("--days", type=int, default=days)
    ap.add_argument("--runs", type=int, default=runs)
    if workers is not None:
        ap.add_argument("--workers", type=int, default=workers)
    if store:
        ap.add_argument("--store", choices=["memory", "rocksdb"], default="memory", help="the workers' table_store")
    for flag in flags:
        ap.add_argument(flag, action="store_true")
    return ap.parse_args()


def simulated_files(users: int, days: int, directory: Path) -> list[Path]:
    """A seeded population written as export files (clicks, purchases, tickets JSONL) in ``directory``."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # clients report the broker stopping as errors
    cfg = SimConfig(users=users, days=days, seed=7)
    events, _ = simulate(cfg)
    write_events(directory, serialise(events, cfg))
    return [directory / name for name in ("clicks.jsonl", "purchases.jsonl", "tickets.jsonl")]


def caught_up(settings: Settings, partitions: int) -> bool:
    """Owns every input partition, has read each to its end and flushed."""
    status = worker_status(settings)
    if status is None or status["unflushed"]:
        return False
    sources = [s for s in status["sources"] if s["lag"] is not None]
    return len(sources) == 3 * partitions and all(s["lag"] == 0 for s in sources)


def start_bare_agent(settings: Settings, workdir: Path) -> tuple[subprocess.Popen[bytes], Callable[[], dict[str, Any]]]:
    """The bare-Faust agent (bench/bare_faust.py) on ``settings``' broker and topics, in the consumer
    group ``<app id>-bare``; and how to ask it what it has read: ``count`` (0 until it answers) and
    per input partition ``ends`` (the offset after the last record read)."""
    env = {**os.environ, **settings.to_env(), "CHURNGUARD_WEB_PORT": str(free_port()),
           "CHURNGUARD_DATA_DIR": str(workdir / "bare")}
    url = f"http://{settings.web_host}:{env['CHURNGUARD_WEB_PORT']}/count/"
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "bare.log", "ab") as sink:
        bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_faust.py")), "worker"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)

    def read() -> dict[str, Any]:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return orjson.loads(r.read())  # type: ignore[no-any-return]
        except OSError:
            return {"count": 0, "ends": {}}

    return bare, read


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (Linux /proc; children excluded)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")
