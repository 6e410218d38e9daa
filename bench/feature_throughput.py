"""Feature-store update throughput (single core, no broker), cost of a feature vector, and bytes of
state per user.

    .venv/bin/python bench/feature_throughput.py [--users 1500 --days 90 --runs 3]

Folds a simulated population's events (in event-time order) into per-user states with
``apply_event`` only: the feature store's own cost, without reordering, labels or scoring (the
engine benchmark measures all of it together). Then times ``feature_vector`` for every user at the
end, and reports the serialised (changelog) size of the users' feature state, the time to write
each user's changelog record and to read it back (``codecs.user_record``, ``user_from_record``:
what a flush pays per changed user, and a restore or a miss of the local tables' cache per user),
and the memory a user read back takes (tracemalloc: what a memory table holds per user).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.core.features import UserState, apply_event, feature_state_bytes, feature_vector
from streams.kafka.codecs import user_from_record, user_record
from streams.offline.simulator import SimConfig, as_events, simulate


def run_once(events: list) -> tuple[float, dict[str, UserState]]:
    users: dict[str, UserState] = {}
    start = time.perf_counter()
    for e in events:
        user = users.get(e.user_id)
        if user is None:
            user = users[e.user_id] = UserState(e.user_id, 0)
        apply_event(user, e)
    return len(events) / (time.perf_counter() - start), users


def vector_us(users: dict[str, UserState], t: int) -> float:
    start = time.perf_counter()
    for user in users.values():
        feature_vector(user, t)
    return (time.perf_counter() - start) / len(users) * 1e6


def record_us(users: dict[str, UserState]) -> tuple[float, float]:
    """Microseconds per user to write its changelog record, and to read it back."""
    start = time.perf_counter()
    records = [user_record(user) for user in users.values()]
    written = time.perf_counter()
    for record in records:
        user_from_record(record)
    return (written - start) / len(users) * 1e6, (time.perf_counter() - written) / len(users) * 1e6


def restored_bytes(users: dict[str, UserState]) -> int:
    """Bytes of memory per user read back from its record: what a memory table holds per user."""
    records = [user_record(user) for user in users.values()]
    tracemalloc.start()
    restored = [user_from_record(record) for record in records]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size // len(restored)


def main() -> None:
    args = population_args(users=1500)
    events = as_events(simulate(SimConfig(users=args.users, days=args.days, bad_rate=0.0))[0])
    end = max(e.ts for e in events)
    rates, vector_costs, write_costs, read_costs, users = [], [], [], [], {}
    for _ in range(args.runs):
        rate, users = run_once(events)
        rates.append(round(rate))
        vector_costs.append(round(vector_us(users, end), 1))
        write, read = record_us(users)
        write_costs.append(round(write, 1))
        read_costs.append(round(read, 1))
    feature_bytes = [feature_state_bytes(u) for u in users.values()]
    print(orjson.dumps({"events": len(events), "users": len(users), "runs": rates,
                        "median_events_per_s": statistics.median(rates),
                        "feature_vector_us_runs": vector_costs, "median_feature_vector_us": statistics.median(vector_costs),
                        "feature_state_bytes_per_user_mean": round(statistics.fmean(feature_bytes)),
                        "feature_state_bytes_per_user_max": max(feature_bytes),
                        "restored_user_bytes_in_memory": restored_bytes(users),
                        "user_record_write_us_runs": write_costs, "median_user_record_write_us": statistics.median(write_costs),
                        "user_record_read_us_runs": read_costs, "median_user_record_read_us": statistics.median(read_costs)}).decode())


if __name__ == "__main__":
    main()
