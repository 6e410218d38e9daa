"""Delayed labels from the stream itself.

A snapshot taken at t is labelled 1 (churned) if the user shows no activity in (t, t + H], else 0.
Every label is released at the same delay, when event time passes t + H, whatever the outcome:
releasing 0s early (when the user comes back) and 1s only after H teaches the learner tenure
instead of churn.
"""

from __future__ import annotations

from typing import Iterator

from streams.core.features import UserState, compact_numbers

# pending entry layout: [t_ms, returned (0/1), features, served score, 1 if the model served it]
T, RETURNED, FEATURES, SCORE, BY_MODEL = range(5)


def add_snapshot(state: UserState, t: int, features: list[float], max_pending: int, score: float = 0.0,
                 by_model: bool = False) -> None:
    state.pending.append([t, 0, compact_numbers(features), round(score, 6), int(by_model)])
    del state.pending[:-max_pending]


def mark_activity(state: UserState, ts: int, horizon_ms: int) -> None:
    """Record activity at ``ts`` against every pending snapshot whose horizon it falls in."""
    for snap in state.pending:
        if snap[T] < ts <= snap[T] + horizon_ms:
            snap[RETURNED] = 1


def release_due(state: UserState, now: int, horizon_ms: int) -> Iterator[tuple[int, list[float], int, float, bool]]:
    """Yield (t, features, label, served score, by model) for snapshots whose horizon ended at or before ``now``."""
    keep = []
    for snap in state.pending:
        if snap[T] + horizon_ms <= now:
            yield snap[T], snap[FEATURES], 0 if snap[RETURNED] else 1, snap[SCORE], bool(snap[BY_MODEL])
        else:
            keep.append(snap)
    state.pending[:] = keep
