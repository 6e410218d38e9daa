"""``churnguard horizon``: propose the churn horizon from the data (the return-gap analysis).

Every return in the log ends a silence: the days between two active days of a user. For a silence
length L, the *late-return share* is the share of all returns that came after a silence longer
than L. The proposal is the shortest L with at most ``target`` of the returns beyond it (10 % by
default): a customer silent for longer rarely comes back, so that silence is what "churned"
means for this business. The curve also gives, for each L, how many customers were silent that
long at the end of the log (the open silences). A log only shows returns shorter than its span:
the report says how long the log is, and L is capped at half of it.

A daily app gets days, a shop that customers visit a few times a year gets months; set the
answer as ``CHURNGUARD_LABEL_HORIZON_DAYS``.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Iterable

from streams.core.events import DAY_MS
from streams.core.features import is_activity
from streams.core.events import Event

CANDIDATES = (1, 2, 3, 5, 7, 10, 14, 21, 28, 35, 42, 56, 70, 90, 120, 150, 180, 240, 270, 300, 365, 450, 540, 730)


def propose(events: Iterable[Event], target: float = 0.10) -> dict[str, Any]:
    days: dict[str, list[int]] = {}
    first = last = None
    for e in events:
        if not is_activity(e):
            continue
        d = e.ts // DAY_MS
        first = d if first is None else min(first, d)
        last = d if last is None else max(last, d)
        seen = days.setdefault(e.user_id, [])
        if not seen or seen[-1] != d:
            seen.append(d)
    if first is None or last is None:
        raise ValueError("no activity (clicks or completed purchases) to learn a rhythm from")
    closed, open_ = [], []
    for active in days.values():
        active.sort()
        closed += [b - a for a, b in zip(active, active[1:])]
        open_.append(last - active[-1])
    closed.sort()
    open_.sort()
    span = last - first + 1
    if not closed:
        raise ValueError("no user came back even once: no rhythm to learn a horizon from")
    curve = []
    for length in CANDIDATES:
        if length > span / 2:
            break
        later = len(closed) - bisect_left(closed, length + 1)  # returns after a silence longer than L
        silent_now = len(open_) - bisect_left(open_, length + 1)
        curve.append({"silence_days": length, "late_return_share": round(later / len(closed), 4),
                      "silent_at_end": silent_now})
    proposal = next((c["silence_days"] for c in curve if c["late_return_share"] <= target), None)
    return {"users": len(days), "returns": len(closed), "span_days": span, "target_late_return_share": target,
            "proposed_horizon_days": proposal, "capped_at_days": int(span / 2),
            "note": None if proposal is not None else
            f"more than {target:.0%} of returns come after every silence up to half the log's span "
            f"({int(span / 2)} days): the log is too short to tell; use a longer log",
            "curve": curve}
