"""End-to-end worker throughput on the embedded broker, backlog pre-loaded, against the floor.

    .venv/bin/python bench/worker_throughput.py [--users 1000 --days 90 --runs 3]

Per run: a fresh embedded broker and the population produced first; then the bare-Faust agent
(bench/bare_faust.py: it only iterates the events) reads the topics, then two bare agents sharing
the partitions do (what the framework can gain from a second process on this machine), then one
churnguard worker process does, then two worker processes sharing the partitions (a consumer
group of their own). Each is timed from its first record read to the moment everything is read
(the workers: and flushed); startup is excluded, the group join and rebalance of two are not.
Reports the medians and the medians of the per-run ratios worker / floor, two workers / one and
two bare agents / one (measured in the same run, so machine noise hits both; the embedded broker
shares the machine's two cores), and the cores the workers and the broker kept busy meanwhile
(CPU seconds over the timed seconds): two workers near the machine's cores can go no faster
whatever their code does.
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

from common import cpu_seconds, population_args, start_bare_agent  # bench/common.py (run as a script: its directory is on the path)
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.admin import create_topics
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.kafka.produce import produce
from streams.settings import Settings
from streams.offline.simulator import SimConfig, serialise, simulate


def floor_once(settings: Settings, count: int, total: int, workdir: Path) -> float:
    """Events/s of ``count`` bare-Faust agents sharing the topics (a consumer group of their own),
    from the first record any of them read until together they have read every partition to its end
    (each topic's offsets run from 0 on a fresh broker, so the ends add up to the records)."""
    agents = [start_bare_agent(replace(settings, app_id=f"{settings.app_id}-floor-{count}"), workdir / f"bare-{count}-{i}")
              for i in range(count)]
    try:
        first: list[float] = []

        def answers() -> list[dict]:
            return [read() for _, read in agents]

        def started() -> bool:
            if any(a["count"] > 0 for a in answers()):
                first.append(time.monotonic())
                return True
            return False

        def done() -> bool:
            ends: dict[str, int] = {}
            for answer in answers():
                for tp, end in answer["ends"].items():
                    ends[tp] = max(end, ends.get(tp, 0))
            return sum(ends.values()) >= total

        if not wait_until(started, 300, 0.05):
            sys.exit("bare agents never started")
        wait_until(done, 1800, 0.05)
        return total / (time.monotonic() - first[0])
    finally:
        for bare, _ in agents:
            stop_process(bare)


def applied(statuses: list) -> int:
    """Events applied, summed over the partitions each worker owns now (the counters live in the
    partition state, which moves with the partition: a redelivered copy is never counted twice)."""
    return sum(p["counters"].get("applied", 0) for s in statuses for p in s["partitions"].values())


def workers_once(settings: Settings, count: int, total: int, workdir: Path, broker_pid: int,
                 expected: int = 0) -> tuple[float, int, float, float]:
    """Events/s of ``count`` worker processes sharing the partitions (one consumer group, its own
    app id), from the first record read by any of them until all are read and flushed; how many
    events they applied; the cores the workers and the broker kept busy meanwhile. With
    ``expected``: done once that many are applied (after a rebalance, records read twice make
    "received" overshoot)."""
    group = [replace(settings, app_id=f"churnguard-bench-{count}", web_port=free_port(),
                     data_dir=str(workdir / f"data-{count}-{i}")) for i in range(count)]
    procs = [start_worker(s, workdir / f"worker-{count}-{i}.log") for i, s in enumerate(group)]
    try:
        first: list[float] = []

        def statuses() -> list:
            return [worker_status(s) for s in group]

        pids = [proc.pid for proc in procs]
        cpu_at_first: list[tuple[float, float]] = []

        def started() -> bool:
            if any(s and s["received"] > 0 for s in statuses()):
                first.append(time.monotonic())
                cpu_at_first.append((cpu_seconds(pids), cpu_seconds([broker_pid])))
                return True
            return False

        if not wait_until(started, 300, 0.05):
            sys.exit("workers never started")

        def done() -> bool:
            now = statuses()
            if not all(now) or not all(s["unflushed"] == 0 for s in now):
                return False
            return applied(now) >= expected if expected else sum(s["received"] for s in now) >= total

        wait_until(done, 1800, 0.1)
        elapsed = time.monotonic() - first[0]
        workers_cpu, broker_cpu = cpu_at_first[0]
        return (total / elapsed, applied(statuses()), (cpu_seconds(pids) - workers_cpu) / elapsed,
                (cpu_seconds([broker_pid]) - broker_cpu) / elapsed)
    finally:
        for proc in procs:
            stop_process(proc)


def run_once(records: list, workdir: Path) -> dict[str, float]:
    """Floor, one worker and two workers (events/s, cores busy) on one pre-loaded broker."""
    with EmbeddedBroker() as broker:
        # The last records of a finite backlog wait for their sources to be judged idle (caught up
        # and quiet for source_idle_s) before the watermark lets them out: a fixed wait at the end
        # of every run, no part of its rate, so kept short.
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-bench", web_port=free_port(), data_dir=str(workdir / "data"),
                           source_idle_s=0.5)
        create_topics(settings)
        asyncio.run(produce(settings, records))
        floor = floor_once(settings, 1, len(records), workdir)
        two_floor = floor_once(settings, 2, len(records), workdir)
        pid = broker.process.pid
        one, events_applied, one_cores, one_broker_cores = workers_once(settings, 1, len(records), workdir, pid)
        two, _, two_cores, two_broker_cores = workers_once(settings, 2, len(records), workdir, pid,
                                                           expected=events_applied)
        return {"floor": floor, "two_floor": two_floor, "one": one, "two": two, "one_cores": one_cores, "one_broker_cores": one_broker_cores,
                "two_cores": two_cores, "two_broker_cores": two_broker_cores}


def main() -> None:
    args = population_args(users=1000)
    cfg = SimConfig(users=args.users, days=args.days)
    events, _ = simulate(cfg)
    records = serialise(events, cfg)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(run_once(records, Path(tmp) / f"run{i}"))

    def median(key: str) -> int:
        return round(statistics.median(run[key] for run in runs))

    print(orjson.dumps({"events": len(records), "floor_runs": [round(r["floor"]) for r in runs],
                        "worker_runs": [round(r["one"]) for r in runs], "two_worker_runs": [round(r["two"]) for r in runs],
                        "median_floor_events_per_s": median("floor"),
                        "median_events_per_s": median("one"),
                        "median_ratio": round(statistics.median(r["one"] / r["floor"] for r in runs), 3),
                        "median_two_worker_ratio": round(statistics.median(r["two"] / r["one"] for r in runs), 3),
                        # what the framework gives on this machine: two bare agents sharing the topics / one
                        "two_floor_runs": [round(r["two_floor"]) for r in runs],
                        "median_two_floor_ratio": round(statistics.median(r["two_floor"] / r["floor"] for r in runs), 3),
                        # cores busy while timed: the worker(s), the broker (the machine has two)
                        "one_worker_cores": [round(r["one_cores"], 2) for r in runs],
                        "one_worker_broker_cores": [round(r["one_broker_cores"], 2) for r in runs],
                        "two_worker_cores": [round(r["two_cores"], 2) for r in runs],
                        "two_worker_broker_cores": [round(r["two_broker_cores"], 2) for r in runs]}).decode())


if __name__ == "__main__":
    main()
