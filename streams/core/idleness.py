"""Which input sources of a partition are idle: the shell's liveness verdict, decided here. Pure.

A source is idle when it is caught up (nothing more at the broker than it received) and quiet
(nothing received for ``idle_s``, counted from when the partition's engine started or a source of
the partition last resumed). An idle source stops holding the partition's watermark back.

A source resumes when it has records again: one arrives, or its end at the broker moves past what
it received. Either way every source of the partition must then prove it is quiet afresh. Records
of different topics reach the broker and the worker in no common order: in a burst after a quiet
period the end of one source can move before the records of another are there, and if that other
stayed idle, the first source's newer records would move the watermark past the other's older
ones, which would then be late. The times are the shell's (a monotonic clock), passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IdleVerdict:
    idle: set[str]
    resumed: bool  # an idle source has records again: no source is idle, and quiet restarts now


def judge_idle(now: float, idle_s: float, quiet_since: float, was_idle: set[str],
               last_seen: Mapping[str, float], caught_up: Mapping[str, bool]) -> IdleVerdict:
    """``caught_up``: per source, whether what was received reaches the broker's end (False if the
    end is not known); ``last_seen``: per source, when its last record was received (absent if
    none was; a record before ``quiet_since`` counts as received then)."""
    if any(not caught_up.get(kind, False) for kind in was_idle):
        return IdleVerdict(set(), True)
    idle = {kind for kind, up in caught_up.items()
            if up and now - max(last_seen.get(kind, quiet_since), quiet_since) >= idle_s}
    return IdleVerdict(idle, False)
