"""Where the pure engine's time goes, in its own run: wall time inside a few core functions.

    .venv/bin/python bench/engine_breakdown.py [--users 1500 --days 90 --runs 1] [--without-scoring] [--default-gc]

Runs the engine benchmark's population (bench/engine_throughput.py) with a timer around each
function below and reports, per function, its calls, microseconds per call and per event. A
function timed in a tight loop over saved states is not what it costs in the run: between two
calls the run goes through everything else, and a feature vector took 29 us in such a loop against
50 us here (2026-12-06). The timers add about half a microsecond per call. --without-scoring makes
snapshots and label releases do nothing (no vector, score, label, alert or learning; not a
configuration the product has): what is left is the per-event path (reordering, deduplication,
the feature store, schedules, counters) and the day boundaries' bookkeeping. The run is under the
worker's collector policy (streams/gc_policy.py), as engine_throughput.py's, or Python's default
thresholds with --default-gc; the time in collections is reported too. It needs the core as plain
Python (without the compiled modules of setup.py), and then times that, not what the worker runs.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any, Callable

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.core import learning, scoring, snapshots
from streams.gc_policy import settle_after_startup
from streams.offline.runner import OfflineRun
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.settings import Settings

# (module or class, attribute, label): nested ones are included in their callers' figures.
TIMED = [
    (snapshots.Snapshotter, "take", "snapshot (score, label, alert decision)"),
    (snapshots, "feature_vector", "feature vector (within the snapshot)"),
    (scoring.ChurnModel, "score", "model score (within the snapshot)"),
    (learning.Learner, "release", "label release at day boundaries"),
    (scoring.ChurnModel, "learn", "model update (within the release)"),
]


def timed(totals: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[0] += 1
            totals[1] += time.perf_counter() - start
    return wrapper


def _collection(collecting: list[float], phase: str) -> None:
    if phase == "start":
        collecting[0] = time.perf_counter()
    else:
        collecting[1] += time.perf_counter() - collecting[0]
        collecting[2] += 1


def main() -> None:
    args = population_args(users=1500, runs=1, flags=("--without-scoring", "--default-gc"))
    if not snapshots.__file__.endswith(".py"):
        # A compiled module's functions cannot be wrapped, and its callers bind them at build time.
        sys.exit("the core is compiled (setup.py): this benchmark wraps its functions, so it needs them as "
                 "plain Python: `rm streams/core/*.so` first (`touch setup.py && make .venv/.installed` builds them again)")
    events = as_events(simulate(SimConfig(users=args.users, days=args.days, bad_rate=0.0))[0])
    totals = {label: [0.0, 0.0] for _, _, label in TIMED}
    if args.without_scoring:
        snapshots.Snapshotter.take = lambda *_, **__: None  # type: ignore[method-assign]
        learning.Learner.release = lambda *_, **__: None  # type: ignore[method-assign]
    for owner, name, label in TIMED:
        setattr(owner, name, timed(totals[label], getattr(owner, name)))
    collecting = [0.0, 0.0, 0.0]  # started at, seconds, collections
    gc.callbacks.append(lambda phase, _: _collection(collecting, phase))
    if not args.default_gc:
        settle_after_startup()
    runs = []
    for _ in range(args.runs):
        for figures in totals.values():
            figures[:] = [0.0, 0.0]
        collecting[1:] = [0.0, 0.0]
        run = OfflineRun(Settings().engine_config(), partitions=4)
        start = time.perf_counter()
        run.feed(events)
        seconds = time.perf_counter() - start
        runs.append({
            "events": len(events), "events_per_s": round(len(events) / seconds),
            "us_per_event": round(seconds / len(events) * 1e6, 2), "gc_thresholds": list(gc.get_threshold()),
            "collections": int(collecting[2]), "collecting_share": round(collecting[1] / seconds, 3),
            "functions": {label: {"calls": int(n), "us_per_call": round(s / n * 1e6, 1) if n else 0.0,
                                  "us_per_event": round(s / len(events) * 1e6, 2)}
                          for label, (n, s) in totals.items()},
        })
    for result in runs:
        print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
