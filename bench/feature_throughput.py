"""Feature-store update throughput (single core, no broker) and bytes of state per user.

    .venv/bin/python bench/feature_throughput.py [--users 1500 --days 90 --runs 3]

Folds a simulated population's events (in event-time order) into per-user states with
``apply_event`` only: the feature store's own cost, without reordering, labels or scoring (the
engine benchmark measures all of it together). Then reports the serialised (changelog) size of
the users' feature state, and of their whole state including the pending label snapshots.
"""

from __future__ import annotations

import statistics
import time

import orjson

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.features import UserState, apply_event
from streams.simulator import SimConfig, as_events, simulate

LABEL_AND_ALERT_FIELDS = ("p", "lsd", "nd", "rd", "t", "at", "oa", "un", "ep")


def run_once(events: list) -> tuple[float, dict[str, UserState]]:
    users: dict[str, UserState] = {}
    start = time.perf_counter()
    for e in events:
        user = users.get(e.user_id)
        if user is None:
            user = users[e.user_id] = UserState(e.user_id, 0)
        apply_event(user, e)
    return len(events) / (time.perf_counter() - start), users


def main() -> None:
    args = population_args(users=1500)
    events = as_events(simulate(SimConfig(users=args.users, days=args.days, bad_rate=0.0))[0])
    rates, users = [], {}
    for _ in range(args.runs):
        rate, users = run_once(events)
        rates.append(round(rate))
    feature_bytes = [len(orjson.dumps({k: v for k, v in u.to_dict().items() if k not in LABEL_AND_ALERT_FIELDS}))
                     for u in users.values()]
    print(orjson.dumps({"events": len(events), "users": len(users), "runs": rates,
                        "median_events_per_s": statistics.median(rates),
                        "feature_state_bytes_per_user_mean": round(statistics.fmean(feature_bytes)),
                        "feature_state_bytes_per_user_max": max(feature_bytes)}).decode())


if __name__ == "__main__":
    main()
