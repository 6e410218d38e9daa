"""Delayed labels from the stream itself.

A snapshot taken at t is labelled 1 (churned) if the user shows no activity in (t, t + H], else 0.
Every label is released at the same delay, when event time passes t + H, whatever the outcome:
releasing 0s early (when the user comes back) and 1s only after H teaches the learner tenure
instead of churn.

Crash safety: the model lives in the partition state, the pending snapshots in the user state, and
the two are written one after the other. A released snapshot therefore moves to the user's
``released`` journal, tagged with the flush that will persist the release, until a later visit
finds that flush complete. If the worker died after writing the user but before the partition
state (the model then never learned the label), ``unlearn`` puts it back into ``pending`` and the
label is released again, at the same boundary and in the same order as it was the first time.
"""

from __future__ import annotations

from typing import Any, Final, Iterator

from streams.core.features import UserState, compact_numbers

# pending entry layout: [t_ms, returned (0/1), features, served score, 1 if the model served it,
# the user's attributes at t]; released entries carry the flush epoch that persists their release
# as a last item. Entries written before the attributes were kept lack them (the user's current
# ones stand in).
T: Final = 0
RETURNED: Final = 1
FEATURES: Final = 2
SCORE: Final = 3
BY_MODEL: Final = 4
ATTRIBUTES: Final = 5


def add_snapshot(state: UserState, t: int, features: list[float], max_pending: int, score: float = 0.0,
                 by_model: bool = False) -> None:
    # The attributes as scored at t: learning with the later ones would make the label depend on
    # when it is released, and a restart releases some again from a user state written ahead.
    state.pending.append([t, 0, compact_numbers(features), round(score, 6), int(by_model), dict(state.attributes)])
    del state.pending[:-max_pending]


def snapshot_attributes(state: UserState, snap: list[Any]) -> dict[str, str]:
    return snap[ATTRIBUTES] if len(snap) > ATTRIBUTES else state.attributes


def mark_activity(state: UserState, ts: int, horizon_ms: int) -> None:
    """Record activity at ``ts`` against every pending snapshot whose horizon it falls in.

    Snapshots are kept in time order (add_snapshot, unlearn) and a user's activity comes in time
    order (the engine applies events so), so a snapshot already marked has every older one within
    reach of ``ts`` marked too: the walk back from the newest stops there, or at the first one out
    of reach, and an active user's visit touches one or two snapshots, not all of them."""
    pending = state.pending
    earliest = ts - horizon_ms
    i = len(pending) - 1
    while i >= 0:
        snap = pending[i]
        t = snap[T]
        if t < earliest:
            break
        if t < ts:
            if snap[RETURNED]:
                break
            snap[RETURNED] = 1
        i -= 1


def release_due(state: UserState, now: int, horizon_ms: int,
                epoch: int = 0) -> Iterator[tuple[int, list[float], int, float, bool, dict[str, str]]]:
    """Yield (t, features, label, served score, by model, attributes) for snapshots whose horizon
    ended at or before ``now``; each moves to the ``released`` journal, tagged with the flush
    ``epoch`` that will persist the release."""
    keep = []
    for snap in state.pending:
        if snap[T] + horizon_ms <= now:
            yield (snap[T], snap[FEATURES], 0 if snap[RETURNED] else 1, snap[SCORE], bool(snap[BY_MODEL]),
                   snapshot_attributes(state, snap))
            state.released.append([*snap, epoch])
        else:
            keep.append(snap)
    state.pending[:] = keep


def forget_released(state: UserState, complete_epoch: int) -> None:
    """Drop journal entries whose release was persisted by a flush that has completed."""
    if state.released:
        state.released[:] = [snap for snap in state.released if snap[-1] > complete_epoch]


def unlearn(state: UserState, complete_epoch: int) -> int:
    """After a restart from partition state ``complete_epoch``: releases persisted by later flushes
    never reached the model, so they go back to ``pending``. Returns how many."""
    lost = [snap[:-1] for snap in state.released if snap[-1] > complete_epoch]
    if lost:
        state.pending[:] = sorted([*lost, *state.pending], key=lambda snap: snap[T])
        state.released.clear()
    return len(lost)
