"""A partition's event-time clock: the watermark over its input sources. Pure.

The watermark is the minimum over the sources' newest event times (a backlog of one topic must
not run ahead of a slower one), ignoring sources the shell declared idle, minus the allowed
lateness. Events at or before ``released_until`` have been applied or rejected.
"""

from __future__ import annotations

from typing import Protocol

from streams.core.events import INPUT_KINDS


class ClockState(Protocol):
    source_max_ts: dict[str, int]
    released_until: int


class Watermark:
    def __init__(self, state: ClockState, lateness_ms: int, drain_when_idle: bool = False) -> None:
        self.state = state
        self.lateness_ms = lateness_ms
        self.drain_when_idle = drain_when_idle
        self.idle: set[str] = set()
        self._active: tuple[str, ...] = INPUT_KINDS  # the sources not idle, in INPUT_KINDS order
        # After a restart the reorder buffer is gone and its events will be redelivered, each
        # source at its own pace. Until a source shows newer events again it must hold the
        # watermark where it was, or its redelivered events would be late. With nothing released
        # yet, every event seen was in that buffer: no source has shown anything that still counts.
        if state.released_until < 0:
            state.source_max_ts.clear()
        cap = state.released_until + lateness_ms
        for kind, ts in state.source_max_ts.items():
            state.source_max_ts[kind] = min(ts, cap)

    @property
    def released_until(self) -> int:
        return self.state.released_until

    def observe(self, kind: str, ts: int) -> None:
        """An event of source ``kind`` entered the reorder buffer."""
        if ts > self.state.source_max_ts.get(kind, -1):
            self.state.source_max_ts[kind] = ts

    def heard_from(self, kind: str) -> None:
        """An event of source ``kind`` arrived: it is not idle (until the shell says so again)."""
        if kind in self.idle:
            self.set_idle(self.idle - {kind})

    def set_idle(self, idle: set[str]) -> bool:
        """The shell's verdict on which sources are idle; True if it changed."""
        if idle == self.idle:
            return False
        self.idle = set(idle)
        self._active = tuple(kind for kind in INPUT_KINDS if kind not in self.idle)
        return True

    def current(self) -> int:
        """Min over the sources' newest event times, ignoring idle sources; a source not seen yet
        holds it back until it is idle. The newest overall if all are idle. Minus the allowed
        lateness, unless all are idle in backfill mode (``drain_when_idle``): the input is finite
        and has all arrived."""
        smt = self.state.source_max_ts
        if not smt:
            return -1
        if not self._active:
            return max(smt.values()) - (0 if self.drain_when_idle else self.lateness_ms)
        oldest: int | None = None
        for kind in self._active:  # called for every event: a plain loop over three sources
            ts = smt.get(kind)
            if ts is None:
                return -1
            if oldest is None or ts < oldest:
                oldest = ts
        assert oldest is not None  # _active is not empty
        return oldest - self.lateness_ms
