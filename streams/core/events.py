"""Input events as the core sees them: kind, ids, event time and the contract's document.

``ts`` is event time in epoch milliseconds (UTC). Validation against the contracts in
``schemas/`` happens in the shell (streams/contracts.py) before an Event is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000

# Input event kinds, in the order that breaks event-time ties (see Event.sort_key).
INPUT_KINDS = ("purchase", "support_ticket", "click")


@dataclass(frozen=True, slots=True)
class Event:
    """A validated input event. ``data`` is the contract's document as received."""

    kind: str
    event_id: str
    user_id: str
    ts: int
    data: dict[str, Any]

    @property
    def sort_key(self) -> tuple[int, int, str]:
        # Total order used everywhere (reorder buffer, dedupe frontier): replays see the same order.
        return (self.ts, INPUT_KINDS.index(self.kind), self.event_id)
