"""Pure engine throughput (no broker, one core) and state bytes per user.

    .venv/bin/python bench/engine_throughput.py [--users 1500 --days 90 --runs 3]

Feeds a simulated population through one PartitionEngine per partition (4) in event-time order,
exactly as the agent would after decoding, and reports the median events/s of several runs and
the mean/max serialised (changelog) size of a user's state at the end.
"""

from __future__ import annotations

import statistics
import time
import zlib

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.contracts import Event
from streams.engine import EngineConfig, PartitionEngine, PartitionState
from streams.settings import Settings
from streams.simulator import SimConfig, as_events, simulate


def run_once(events: list[Event], partitions: int) -> tuple[float, dict]:
    cfg = EngineConfig.from_settings(Settings())
    users: dict = {}
    engines = [PartitionEngine(p, cfg, PartitionState(p), users) for p in range(partitions)]
    offsets = [0] * partitions
    route = [zlib.crc32(e.user_id.encode()) % partitions for e in events]
    start = time.perf_counter()
    for e, p in zip(events, route):
        offsets[p] += 1
        engines[p].offer(e.kind, offsets[p], e, None)
        engines[p].drain()
    return len(events) / (time.perf_counter() - start), users


def main() -> None:
    args = population_args(users=1500)
    raw, _ = simulate(SimConfig(users=args.users, days=args.days, bad_rate=0.0))
    events = as_events(raw)
    rates = []
    for _ in range(args.runs):
        rate, users = run_once(events, 4)
        rates.append(rate)
    sizes = [len(orjson.dumps(u.to_dict())) for u in users.values()]
    print(orjson.dumps({
        "events": len(events), "users": len(users), "runs": [round(r) for r in rates],
        "median_events_per_s": round(statistics.median(rates)),
        "state_bytes_per_user_mean": round(statistics.mean(sizes)), "state_bytes_per_user_max": max(sizes),
    }).decode())


if __name__ == "__main__":
    main()
