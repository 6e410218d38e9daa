"""What every benchmark takes: a simulated population's size and how many runs to take the median of."""

from __future__ import annotations

import argparse


def population_args(users: int, days: int = 90, runs: int = 3) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=users)
    ap.add_argument("--days", type=int, default=days)
    ap.add_argument("--runs", type=int, default=runs)
    return ap.parse_args()
