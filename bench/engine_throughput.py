"""Pure engine throughput (no broker, one core) and state bytes per user.

    .venv/bin/python bench/engine_throughput.py [--users 1500 --days 90 --runs 3]

Feeds a simulated population through one PartitionEngine per partition (4; users routed as
Kafka would) in event-time order, exactly as the agent would after decoding
(streams/offline/runner.py), under the collector policy the worker and the backfill command set
(streams/gc_policy.py), and reports the median events/s of several runs and the mean/max
serialised (changelog) size of a user's state at the end.
"""

from __future__ import annotations

import statistics
import time

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.core.events import Event
from streams.gc_policy import settle_after_startup
from streams.kafka.codecs import user_record
from streams.offline.runner import OfflineRun
from streams.settings import Settings
from streams.offline.simulator import SimConfig, as_events, simulate


def run_once(events: list[Event], partitions: int) -> tuple[float, dict]:
    run = OfflineRun(Settings().engine_config(), partitions=partitions)
    start = time.perf_counter()
    run.feed(events)
    return len(events) / (time.perf_counter() - start), run.users


def main() -> None:
    args = population_args(users=1500)
    raw, _ = simulate(SimConfig(users=args.users, days=args.days, bad_rate=0.0))
    events = as_events(raw)
    settle_after_startup()  # the collector policy the worker and the backfill command run the engine under
    rates = []
    for _ in range(args.runs):
        rate, users = run_once(events, 4)
        rates.append(rate)
    sizes = [len(user_record(u)) for u in users.values()]
    print(orjson.dumps({
        "events": len(events), "users": len(users), "runs": [round(r) for r in rates],
        "median_events_per_s": round(statistics.median(rates)),
        "state_bytes_per_user_mean": round(statistics.mean(sizes)), "state_bytes_per_user_max": max(sizes),
    }).decode())


if __name__ == "__main__":
    main()
