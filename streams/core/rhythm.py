"""The population's rhythm of return, learned from the stream itself: a life table. Pure.

For every silence (days since a user's last active day) and every class of users (by how many
active days they have had), the table counts the user-days at risk and the returns, so
``returns / exposure`` is the daily hazard of coming back after that much silence. From it,
the probability that a user with ``n`` active days, silent for ``s`` days, shows no activity in the
next H days is the product of (1 - hazard) over silences s+1 .. s+H: the cold-start risk, and an
input of the model. It is the non-parametric cousin of the "buy till you die" models (BG/NBD,
Pareto/NBD): the whole population's rhythm is the prior, so a one-time buyer still gets a
sensible probability, and a daily app and a yearly shop each get their own scale.

Bookkeeping (streams/core/engine.py): a return on day d closes the silence since the last active
day a: exposure for silences 1..d-a, one return at d-a. An open silence is exposed as the engine
visits the user (every rescore), so open silences are never missing from the table for more than
a rescore interval (survivorship would otherwise make long silences look more hopeful than they
are). Hazards are recomputed at the start of each day boundary's work, so every score of a day uses one table.

Crash safety: the table lives in the partition state, the users' progress (active days, exposed
silence) in the user states; contributions are journaled (streams/core/journal.py).

Smoothing: a class's hazard in a silence bucket leans on the pooled hazard of all classes until
it has ``PRIOR_EXPOSURE_DAYS`` of exposure there; the pooled hazard of a bucket leans, the same
way, on its predecessor's scaled by 1 / silence (hazards of return fall with silence in every log
we have seen), so a silence nobody has reached yet is not assumed as hopeful as a short one.
"""

from __future__ import annotations

import math
from bisect import bisect_right

# Silence buckets: [1, 2), [2, 3), [3, 5) ... [270, 365), [365, inf) days.
SILENCE_EDGES = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)
# Classes by active days so far: 1, 2, 3, 4, 5-6, 7-9, 10-14, 15+.
ACTIVE_DAY_EDGES = (1, 2, 3, 4, 6, 9, 14)
PRIOR_EXPOSURE_DAYS = 20.0
DEFAULT_HAZARD = 1 / 30  # per day, before anything has been seen
MIN_P, MAX_P = 1e-4, 1 - 1e-4
_MIDDLE = [(a + b) / 2 for a, b in zip(SILENCE_EDGES, SILENCE_EDGES[1:])] + [SILENCE_EDGES[-1] * 1.5]


def _class(active_days: int) -> int:
    return min(bisect_right(ACTIVE_DAY_EDGES, max(active_days, 1) - 1), len(ACTIVE_DAY_EDGES))


def _bucket(silence: int) -> int:
    return bisect_right(SILENCE_EDGES, silence) - 1


class ReturnTable:
    def __init__(self) -> None:
        classes, buckets = len(ACTIVE_DAY_EDGES) + 1, len(SILENCE_EDGES)
        self.returns = [[0] * buckets for _ in range(classes)]
        self.exposure = [[0] * buckets for _ in range(classes)]
        # Per class: -log(1 - daily hazard) per bucket, and its sum up to each bucket's start;
        # refreshed once per day boundary.
        self._cumulative = [[0.0] * (buckets + 1) for _ in range(classes)]
        self._hazard = [[DEFAULT_HAZARD] * buckets for _ in range(classes)]
        self.refresh()

    # -- learning -------------------------------------------------------------------------

    def expose(self, active_days: int, from_silence: int, to_silence: int) -> None:
        """User-days at risk for silences from_silence+1 .. to_silence, without a return."""
        row = self.exposure[_class(active_days)]
        s = from_silence + 1
        while s <= to_silence:
            i = _bucket(s)
            end = to_silence if i + 1 >= len(SILENCE_EDGES) else min(to_silence, SILENCE_EDGES[i + 1] - 1)
            row[i] += end - s + 1
            s = end + 1

    def add(self, active_days: int, from_silence: int, to_silence: int, returned: bool) -> None:
        """Exposure for silences from_silence+1 .. to_silence; with ``returned``, the user came
        back at ``to_silence``."""
        self.expose(active_days, from_silence, to_silence)
        if returned:
            self.returns[_class(active_days)][_bucket(to_silence)] += 1

    def refresh(self) -> None:
        """Recompute the hazards from the counts (once per day boundary)."""
        buckets = len(SILENCE_EDGES)
        pooled, prior = [], DEFAULT_HAZARD
        for i in range(buckets):
            if i:  # hazards fall with silence: a bucket's prior is its predecessor's, scaled by 1 / silence
                prior = pooled[-1] * _MIDDLE[i - 1] / _MIDDLE[i]
            exposure = sum(row[i] for row in self.exposure)
            pooled.append((sum(row[i] for row in self.returns) + PRIOR_EXPOSURE_DAYS * prior) / (exposure + PRIOR_EXPOSURE_DAYS))
        for k, (returns, exposure) in enumerate(zip(self.returns, self.exposure)):
            # Per silent day, -log(1 - hazard): sums of these give exact discrete-time survival.
            hazard = [-math.log(1 - min((returns[i] + PRIOR_EXPOSURE_DAYS * pooled[i]) / (exposure[i] + PRIOR_EXPOSURE_DAYS), 0.999))
                      for i in range(buckets)]
            cumulative = [0.0]
            for i in range(buckets - 1):
                cumulative.append(cumulative[-1] + hazard[i] * (SILENCE_EDGES[i + 1] - SILENCE_EDGES[i]))
            self._hazard[k], self._cumulative[k] = hazard, cumulative

    # -- scoring --------------------------------------------------------------------------

    def _integral(self, k: int, silence: float) -> float:
        """-log P(no return on any silence in [1, silence)) for class k."""
        if silence <= 1:
            return 0.0
        i = min(_bucket(int(silence)), len(SILENCE_EDGES) - 1)
        return self._cumulative[k][i] + self._hazard[k][i] * (silence - SILENCE_EDGES[i])

    def p_no_return(self, active_days: int, silence: int, horizon_days: int) -> float:
        """P(no activity on any of the next ``horizon_days`` days | ``active_days``, ``silence`` days
        fully observed without activity)."""
        k = _class(active_days)
        total = self._integral(k, silence + 1 + horizon_days) - self._integral(k, silence + 1)
        return min(max(math.exp(-total), MIN_P), MAX_P)


def observed_silence(t: int, last_active_day: int, day_ms: int) -> int:
    """Whole days without activity observed by event time t: 0 on an active day; at the boundary
    starting day D, the days last_active_day+1 .. D-1."""
    return max(0, -(-t // day_ms) - 1 - last_active_day) if last_active_day >= 0 else 0

