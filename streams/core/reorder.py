"""The reorder buffer: events wait here until the watermark passes them. Pure.

Events leave in one total order, ``Event.sort_key`` (event time, kind, event id), whatever order
they arrived in; ties between identical keys keep their arrival order. The heap holds the key's
first two parts as one int (``ts * 4 + kind``: the same order, compared without a nested tuple).
"""

from __future__ import annotations

import heapq
from typing import Any

from streams.core.events import Event


class ReorderBuffer:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int, Event, Any]] = []  # (ts * 4 + kind, event id, arrival, event, token)
        self._ids: set[tuple[str, str]] = set()  # (user_id, event_id): ids are only unique per user
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def __contains__(self, user_and_event_id: tuple[str, str]) -> bool:
        return user_and_event_id in self._ids

    def push(self, event: Event, token: Any) -> None:
        self._seq += 1
        ts, kind, event_id = event.sort_key
        heapq.heappush(self._heap, (ts * 4 + kind, event_id, self._seq, event, token))
        self._ids.add((event.user_id, event.event_id))

    def purge(self, user_id: str) -> list[Any]:
        """Remove every event of ``user_id``; their tokens."""
        kept: list[tuple[int, str, int, Event, Any]] = []
        tokens: list[tuple[int, str, int, Event, Any]] = []
        for entry in self._heap:
            (tokens if entry[3].user_id == user_id else kept).append(entry)
        if tokens:
            heapq.heapify(kept)
            self._heap = kept
            self._ids = {(e.user_id, e.event_id) for _, _, _, e, _ in kept}
        return [token for _, _, _, _, token in tokens]

    def first_ts(self) -> int | None:
        """The event time of the next event out, if any."""
        return self._heap[0][0] >> 2 if self._heap else None

    def pop(self) -> tuple[Event, Any]:
        """The next event out, with its token."""
        _, _, _, event, token = heapq.heappop(self._heap)
        self._ids.discard((event.user_id, event.event_id))
        return event, token
