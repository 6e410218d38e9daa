"""When the engine next visits a user: the per-partition due-time index's rules. Pure.

A user is due at the first day boundary at which any of these is due:
- a pending snapshot's label (its horizon ends: t + H), so labels keep their fixed delay;
- an open alert's win-back verdict (alert time + H);
- a rescore of a silent user. Risk grows with silence relative to the user's own typical gap,
  so rescores follow a ladder in that ratio rather than the calendar: first when the silence
  reaches the typical gap, then each time it has grown by ``RATIO_STEP``, but at least every
  ``MAX_RESCORE_INTERVAL_DAYS`` (other features, e.g. 30-day windows, drift with time too) and
  at most daily. A user last active at noon of day 0 with a typical gap of 1 day is rescored at
  the boundaries of days 2, 3, 4, 5, 7, 9, 12, 15, 19, 24, 30, 37, 44 (13 visits, not 44); with
  a gap of 7 days at days 7, 9, 12, 15, 19, 24, 30, 37, 44.
  However long the silence, a user stays on the ladder: every known customer keeps a current
  score until erased (weekly at least while the silence is within two horizons or three years,
  whichever is longer, then at least every tenth of the silence).
"""

from __future__ import annotations

import math
from typing import Final, Iterable, Protocol

from streams.core.features import UserState
from streams.core.labels import T
from streams.core.events import DAY_MS

RATIO_STEP: Final = 1.25
MAX_RESCORE_INTERVAL_DAYS: Final = 7
WEEKLY_WITHIN_HORIZONS: Final = 2  # silent users are rescored weekly at least for this many horizons of silence
# ... or this many days, if longer: a shop's log of two years with a horizon of five weeks left a
# customer silent for 300 days rescored every 30, stale at any cut (a score is current when at most
# a week old). Beyond, the risk hardly moves, and a clock jump of centuries must stay cheap.
WEEKLY_WITHIN_DAYS: Final = 3 * 365
MIN_GAP_DAYS: Final = 0.5  # the same floor the recency_ratio feature uses


def first_day_at_or_after(ts: int) -> int:
    """The index of the first day boundary at or after ``ts``."""
    return -(-ts // DAY_MS)


def next_rescore_day(last_activity_ts: int, gap_days: float, today: int, horizon_days: int = 30) -> int:
    """The day boundary after ``today`` at which a user silent since ``last_activity_ts`` is next rescored."""
    gap = max(gap_days, MIN_GAP_DAYS)
    silence = (today * DAY_MS - last_activity_ts) / DAY_MS
    target = max(silence / gap * RATIO_STEP, 1.0)
    day = first_day_at_or_after(last_activity_ts + math.ceil(target * gap * DAY_MS))
    # Weekly at least while the silence is within two horizons or three years; beyond, every tenth
    # of the silence (the risk hardly moves then, and a clock jump of centuries must not cost
    # thousands of rescores).
    longest = (MAX_RESCORE_INTERVAL_DAYS if silence <= max(WEEKLY_WITHIN_HORIZONS * horizon_days, WEEKLY_WITHIN_DAYS)
               else max(MAX_RESCORE_INTERVAL_DAYS, int(silence / 10)))
    return min(max(day, today + 1), today + longest)


def next_due_day(user: UserState, horizon_ms: int) -> int:
    """The user's next due day boundary, or -1 if nothing about them is due."""
    due = user.rescore_day
    if user.pending:
        label_day = first_day_at_or_after(user.pending[0][T] + horizon_ms)
        due = label_day if due < 0 else min(due, label_day)
    if user.open_alerts:
        verdict_day = first_day_at_or_after(user.open_alerts[0][0] + horizon_ms)
        due = verdict_day if due < 0 else min(due, verdict_day)
    return due if due >= 0 else -1


class DueTimes(Protocol):
    """What the engine asks of a partition's due-time index. ``DueIndex`` keeps it in memory; a
    shell with tables on disk keeps it beside the user states (streams/kafka/due_index.py), so
    that a worker's memory does not grow with its users."""

    def add(self, user_id: str, day: int) -> None: ...

    def reschedule(self, user: UserState, horizon_ms: int) -> None: ...

    def remove(self, user: UserState) -> None: ...

    def first_day(self) -> int | None: ...

    def pop(self, day: int) -> list[str]: ...


class DueIndex:
    """The partition's due-time index in memory: day boundary -> users due then. Rebuilt from the
    user states after a restart (each state records its next due day)."""

    def __init__(self, users: Iterable[UserState] = ()) -> None:
        self._by_day: dict[int, set[str]] = {}
        for user in users:
            self.add(user.user_id, user.next_due_day)

    def add(self, user_id: str, day: int) -> None:
        """A stored user, at the due day their state records (-1: none)."""
        if day >= 0:
            self._by_day.setdefault(day, set()).add(user_id)

    def __contains__(self, user_id: str) -> bool:
        return any(user_id in due for due in self._by_day.values())

    def reschedule(self, user: UserState, horizon_ms: int) -> None:
        """Move the user to their next due day (streams/core/schedule.py rules), or out of the index."""
        day = next_due_day(user, horizon_ms)
        if user.next_due_day == day:
            return
        if user.next_due_day >= 0:
            self._by_day.get(user.next_due_day, set()).discard(user.user_id)
        user.next_due_day = day
        if day >= 0:
            self._by_day.setdefault(day, set()).add(user.user_id)

    def remove(self, user: UserState) -> None:
        if user.next_due_day >= 0:
            self._by_day.get(user.next_due_day, set()).discard(user.user_id)
            user.next_due_day = -1

    def first_day(self) -> int | None:
        """The earliest day anyone is due, if any."""
        return min((day for day, due in self._by_day.items() if due), default=None)

    def pop(self, day: int) -> list[str]:
        """Take the users due at ``day``'s boundary out of the index, in a deterministic order."""
        return sorted(self._by_day.pop(day, ()))
