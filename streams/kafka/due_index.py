"""A partition's due-time index kept beside its users on the local database (``table_store=rocksdb``).

The engine asks the index which users are due at each day boundary (streams/core/schedule.py). In
memory that is a set per day holding every scheduled user's id, about 250 bytes a user: 250 MB for
a million users, whatever the cache of live users is set to. Here the index is the database's due
keys (streams/kafka/local_store.py: written with each user state, so they match the stored
states), and memory holds only the moves not yet stored: users rescheduled since their state was
last written, which the settings bound (one flush's users).

The users due at a day are the stored keys of that day, except users moved since, plus the moved
users now due that day: exactly what the in-memory index holds. Days are taken in increasing
order, and the keys of a day already taken are ignored until the flush that rewrote its users
replaces them.
"""

from __future__ import annotations

from typing import Iterator

from streams.core.features import UserState
from streams.core.schedule import next_due_day
from streams.kafka.local_store import DUE_PREFIX, LocalPartition, due_day_of, due_key, due_key_parts, summary_of_record

_ABSENT = -2


class DiskDueIndex:
    def __init__(self, local: LocalPartition) -> None:
        self.local = local
        self.moved: dict[str, int] = {}  # user id -> due day (-1: none) since the stored state
        self.moved_on: dict[int, set[str]] = {}  # the same, by day
        self.taken_through = -1  # the last day popped

    # -- the engine's side (schedule.DueTimes) -----------------------------------------------------

    def add(self, user_id: str, day: int) -> None:
        self._move(user_id, day)

    def reschedule(self, user: UserState, horizon_ms: int) -> None:
        day = next_due_day(user, horizon_ms)
        if user.next_due_day != day:
            user.next_due_day = day
            self._move(user.user_id, day)

    def remove(self, user: UserState) -> None:
        if user.next_due_day >= 0:
            user.next_due_day = -1
            self._move(user.user_id, -1)

    def first_day(self) -> int | None:
        """The earliest day after the last one taken at which anyone is due."""
        start = self.taken_through + 1
        stored = next((day for day, uid in self._stored_from(start) if uid not in self.moved), None)
        moved = min((day for day, due in self.moved_on.items() if due and day >= start), default=None)
        return min((d for d in (stored, moved) if d is not None), default=None)

    def pop(self, day: int) -> list[str]:
        """Take the users due at ``day`` out of the index, in a deterministic order."""
        due = {uid for at, uid in self._stored_from(day, through=day) if uid not in self.moved}
        due.update(self.moved_on.pop(day, ()))
        for uid in due:
            self.moved[uid] = -1  # taken out: due nowhere until rescheduled
        self.taken_through = max(self.taken_through, day)
        return sorted(due)

    # -- the shell's side --------------------------------------------------------------------------

    def stored(self, records: list[tuple[str, bytes | None]], entries: list[bytes | None]) -> None:
        """The database now holds these user records (with their index entries, as
        LocalPartition.write took them): a move that the stored state records is no longer kept."""
        for (uid, value), entry in zip(records, entries):
            day = -1 if value is None else due_day_of(entry or summary_of_record(value))
            if self.moved.get(uid, _ABSENT) == day:
                del self.moved[uid]
                if day >= 0:
                    on_day = self.moved_on[day]
                    on_day.discard(uid)
                    if not on_day:
                        del self.moved_on[day]

    def _move(self, uid: str, day: int) -> None:
        old = self.moved.get(uid, _ABSENT)
        if old >= 0:
            on_day = self.moved_on[old]
            on_day.discard(uid)
            if not on_day:
                del self.moved_on[old]
        self.moved[uid] = day
        if day >= 0:
            self.moved_on.setdefault(day, set()).add(uid)

    def _stored_from(self, day: int, through: int | None = None) -> Iterator[tuple[int, str]]:
        """(day, user id) of the stored due keys from ``day`` on (through ``through``), in key order."""
        db = self.local.db()
        for key in db.keys(from_key=due_key(max(day, 0), "")):
            if not key.startswith(DUE_PREFIX):
                return
            at, uid = due_key_parts(key)
            if through is not None and at > through:
                return
            yield at, uid
