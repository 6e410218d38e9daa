"""Recognising events the partition has already taken: redeliveries after a restart or rebalance,
and copies still waiting in the reorder buffer. Pure.

An event is a duplicate when its user has already applied something at or after its ordering key
(or the same event id waits in the buffer) and there is evidence it is a copy: its offset was
seen before, the id is still in the buffer, the user's state was written ahead of the partition
state by a flush the partition state did not record (a crash between the two), or the id is
among the user's latest applied ids.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from streams.core.events import Event
from streams.core.features import UserState


class DuplicateFilter:
    def __init__(self, max_seen_offset: dict[str, int], users: Mapping[str, UserState], ahead: Iterable[str] = ()) -> None:
        self.max_seen_offset = max_seen_offset
        self.users = users
        # Users written by a flush whose partition state was lost: whatever they applied is a duplicate.
        self.ahead = set(ahead)

    def is_duplicate(self, kind: str, offset: int, event: Event, buffered: bool) -> bool:
        """Record the offset as seen; True if ``event`` is a copy of one already taken."""
        redelivered = offset <= self.max_seen_offset.get(kind, -1)
        if not redelivered:
            self.max_seen_offset[kind] = offset
        user = self.users.get(event.user_id)
        if (user is not None and event.sort_key <= user.last_key) or buffered:
            return (redelivered or buffered or event.user_id in self.ahead
                    or event.event_id in user.recent_ids)  # type: ignore[union-attr]
        return False


def users_ahead(users: Iterable[UserState], partition_epoch: int) -> set[str]:
    """Users whose stored state is newer than the partition state's last recorded flush."""
    return {u.user_id for u in users if u.epoch > partition_epoch}
