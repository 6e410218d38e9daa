"""Recognising events the partition has already taken. Pure.

Two kinds of copies, counted apart:
- **duplicates**: a record that repeats a (user_id, event_id) the partition has seen, whatever its
  event time (a producer retry, an upstream replay, an export listing one event twice). Each user
  remembers the ids of their events applied within ``ID_HORIZON_MS`` of event time before their
  latest one (at most ``MAX_IDS``, as 64-bit hashes), and ids waiting in the reorder buffer are
  known per user. Two users' events never collide, whatever their ids.
- **redelivered**: the partition's own input again after a restart or rebalance (an offset at or
  below the highest one it has taken) that its user has already passed: applied or dead-lettered
  before the user's latest applied event. Also every event at or before the latest one of a user
  whose state was written ahead of the partition state (a crash between the two writes).
An event that is neither, but older than its user's latest applied event, is late (the engine
dead-letters it), never applied out of order.
"""

from __future__ import annotations

from typing import Final, Iterable, Mapping

from streams.core.events import DAY_MS, Event
from streams.core.features import UserState

ID_HORIZON_MS: Final = DAY_MS
MAX_IDS: Final = 256


def remember(user: UserState, event: Event) -> None:
    """Record an applied event's id; forget ids beyond the horizon or the cap (oldest first)."""
    seen = user.seen_ids
    seen[event.id_hash] = event.ts
    horizon = event.ts - ID_HORIZON_MS
    while True:  # never empty: the id above is in it
        for oldest, ts in seen.items():  # the first is the oldest (compiled: no call of next(iter()))
            break
        if ts >= horizon and len(seen) <= MAX_IDS:
            break
        del seen[oldest]


class DuplicateFilter:
    def __init__(self, max_seen_offset: dict[str, int], users: Mapping[str, UserState], ahead: Iterable[str] = ()) -> None:
        self.max_seen_offset = max_seen_offset
        self.users = users
        # Users written by a flush whose partition state was lost: whatever they applied is a duplicate.
        self.ahead = set(ahead)

    def classify(self, kind: str, offset: int, event: Event, buffered: bool) -> str:
        """Record the offset as seen; '' for a new event, else 'duplicate' or 'redelivered'."""
        redelivered = offset <= self.max_seen_offset.get(kind, -1)
        if not redelivered:
            self.max_seen_offset[kind] = offset
        user = self.users.get(event.user_id)
        if buffered or (user is not None and event.id_hash in user.seen_ids):
            return "redelivered" if redelivered else "duplicate"
        if user is not None and event.sort_key <= user.last_key and (redelivered or event.user_id in self.ahead):
            return "redelivered"
        return ""

