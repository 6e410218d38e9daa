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
visits the user, at least weekly while the silence is within two horizons; beyond, the engine may
visit only every tenth of the silence (streams/core/schedule.py), so the table counts such a
silence itself (per class, how many users are silent since each day: ``silence``), exposed up to
each refresh. No open silence is missing from the table for more than a week (survivorship would
otherwise make long silences look more hopeful than they are). Before, long silences were exposed
only at those visits: on CDNOW cut after 400 days (horizon 120 days), 60 % of the exposure at 365+
days of silence was missing, that hazard read 2.5 times too high, and the longest-silent customers
looked likelier to return than those silent half as long. Counting every open silence up to the
day, short ones too, was measured and not kept: docs/model.md. Hazards are recomputed at the start
of each day boundary's work, so every score of a day uses one table.

Crash safety: the table lives in the partition state, the users' progress (active days, exposed
silence) in the user states; contributions are journaled (streams/core/journal.py).

Smoothing, in pseudo-returns so that it means the same for a daily app and a yearly shop: the
pooled hazard of a silence bucket leans, with the weight of ``PRIOR_RETURNS`` returns, on its
predecessor's scaled by 1 / silence (hazards of return fall with silence in every log we have
seen); a class leans, with the same weight, on its own level in the previous bucket carried along
the pooled shape (proportional hazards), so a class keeps its rhythm in silences it has not
reached yet instead of taking the whole population's. A prior of 20 user-days instead (before)
let 759 user-days without a return at 270+ days of silence on a real CD shop's log drive the
hazard to zero, so every long-silent customer's risk read 0.96 against 0.85 observed.

Covariates: the user's attributes (an age group, a region: whatever the export carries) shift the
hazard of return by a ratio learned from the returns themselves: returns observed over returns
expected from the table (``(O + C) / (E + C)``, C = ``COVARIATE_PRIOR_RETURNS``), relative to the
same ratio over every user, proportional to the whole curve. Returns come within days, labels
only after H, so attributes inform the cold start from the first weeks. On a real grocery log
(Ta Feng) this smoothing and the age group and residence area took the cold start's
point-in-time AUC from 0.712 to 0.734 (docs/model.md).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any, Final

from mypy_extensions import mypyc_attr

# Silence buckets: [1, 2), [2, 3), [3, 5) ... [270, 365), [365, inf) days.
SILENCE_EDGES: Final = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)
# Classes by active days so far: 1, 2, 3, 4, 5-6, 7-9, 10-14, 15+.
ACTIVE_DAY_EDGES: Final = (1, 2, 3, 4, 6, 9, 14)
PRIOR_RETURNS: Final = 5.0
COVARIATE_PRIOR_RETURNS: Final = 20.0
MAX_COVARIATES: Final = 256  # distinct attribute values with a ratio, per table: later ones count as 1
DEFAULT_HAZARD: Final = 1 / 30  # per day, before anything has been seen
MIN_P: Final = 1e-4
MAX_P: Final = 1 - 1e-4
_MIDDLE = [(a + b) / 2 for a, b in zip(SILENCE_EDGES, SILENCE_EDGES[1:])] + [SILENCE_EDGES[-1] * 1.5]


def _class(active_days: int) -> int:
    return min(bisect_right(ACTIVE_DAY_EDGES, max(active_days, 1) - 1), len(ACTIVE_DAY_EDGES))


def _bucket(silence: int) -> int:
    return bisect_right(SILENCE_EDGES, silence) - 1


# A plain Python class, its methods compiled (setup.py): the model's pickle holds the table, and
# pickles of earlier releases must load (a compiled class has no __dict__).
@mypyc_attr(native_class=False)
class ReturnTable:
    def __init__(self) -> None:
        classes, buckets = len(ACTIVE_DAY_EDGES) + 1, len(SILENCE_EDGES)
        self.returns = [[0] * buckets for _ in range(classes)]
        self.exposure = [[0] * buckets for _ in range(classes)]
        # Per class: -log(1 - daily hazard) per bucket, and its sum up to each bucket's start;
        # refreshed once per day boundary.
        self._cumulative = [[0.0] * (buckets + 1) for _ in range(classes)]
        self._hazard = [[DEFAULT_HAZARD] * buckets for _ in range(classes)]
        # "key=value" -> [returns, expected returns in millionths]; integers, so the sums do not
        # depend on the order of the steps (a restart does some of them again later).
        self.covariates: dict[str, list[int]] = {}
        self.overall = [0, 0]  # every step's [returns, expected returns in millionths]
        # Open silences longer than the engine visits weekly, counted at each refresh up to the
        # silence observed then (see "Bookkeeping" above). Per class: last active
        # day -> users silent since; those silent for the last bucket's whole start, in one
        # [users, sum of their last active days] per class (their exposure is linear in the day).
        self.open: list[dict[int, int]] = [{} for _ in range(classes)]
        self.open_long = [[0, 0] for _ in range(classes)]
        self.long_before = -(1 << 62)  # last active days before this are counted in open_long
        self._ratio: dict[str, float] = {}
        self._windows: dict[int, list[tuple[list[int], list[float]]]] = {}  # per horizon: see _window
        self._risks: dict[tuple[int, int, int, tuple[tuple[str, str], ...]], float] = {}  # cold_start_risk's answers
        self.refresh()

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}  # rebuilt on use

    def __setstate__(self, state: dict[str, object]) -> None:
        # Tables pickled before the table counted long silences itself have none: users silent
        # that long register theirs at the engine's next visit (UserState.silence_in_table).
        classes = len(ACTIVE_DAY_EDGES) + 1
        self.__dict__.update({"open": [{} for _ in range(classes)], "open_long": [[0, 0] for _ in range(classes)],
                              "long_before": -(1 << 62)}, **state)
        self._windows = {}
        self._risks = {}

    # -- learning -------------------------------------------------------------------------

    def expose(self, active_days: int, from_silence: int, to_silence: int, users: int = 1) -> None:
        """User-days at risk for silences from_silence+1 .. to_silence, without a return."""
        _expose(self.exposure[_class(active_days)], from_silence, to_silence, users)

    def add(self, active_days: int, from_silence: int, to_silence: int, returned: bool,
            covariates: tuple[str, ...] | list[str] = (), expected: int = 0) -> None:
        """Exposure for silences from_silence+1 .. to_silence; with ``returned``, the user came
        back at ``to_silence``. ``expected``: the returns the table expected over that exposure
        when it happened (``expected()``, in millionths), credited to each of the user's ``covariates``."""
        self.expose(active_days, from_silence, to_silence)
        if returned:
            self.returns[_class(active_days)][_bucket(to_silence)] += 1
        self.overall[0] += returned
        self.overall[1] += expected
        for name in covariates:
            counts = self.covariates.get(name)
            if counts is None:
                if len(self.covariates) >= MAX_COVARIATES:
                    continue
                counts = self.covariates[name] = [0, 0]
            counts[0] += returned
            counts[1] += expected

    def silence(self, active_days: int, last_active_day: int, change: int, unexposed: int = 0) -> None:
        """A user's open silence since ``last_active_day`` starts (change +1) or ends (-1) being
        counted at refreshes; ``unexposed``: silences 1..unexposed already exposed by the engine's
        visits before the silence was registered (taken back: the table now counts them all)."""
        k = _class(active_days)
        if last_active_day < self.long_before:
            self.open_long[k][0] += change
            self.open_long[k][1] += change * last_active_day
        else:
            row = self.open[k]
            users = row.get(last_active_day, 0) + change
            if users:
                row[last_active_day] = users
            else:
                del row[last_active_day]
        if unexposed:
            self.expose(active_days, 0, unexposed, -1)

    def expected(self, active_days: int, from_silence: int, to_silence: int) -> int:
        """Returns the table expects over silences from_silence+1 .. to_silence (cumulative
        hazard), in millionths."""
        k = _class(active_days)
        cumulative, hazard = self._cumulative[k], self._hazard[k]
        return round(1e6 * (_integral_of(cumulative, hazard, to_silence + 1) - _integral_of(cumulative, hazard, from_silence + 1)))

    def _exposure_at(self, day: int | None) -> list[list[int]]:
        """The steps' exposure plus that of the open silences, observed at the boundary starting
        ``day`` (silences past the last bucket's start move into open_long on the way)."""
        if day is None:
            return self.exposure
        long_silence = SILENCE_EDGES[-1]
        long_before = day - long_silence  # silent for at least the last bucket's start: linear from now on
        if long_before > self.long_before:
            for open_row, total in zip(self.open, self.open_long):
                for last in [d for d in open_row if d < long_before]:
                    users = open_row.pop(last)
                    total[0] += users
                    total[1] += users * last
            self.long_before = long_before
        out = [list(row) for row in self.exposure]
        for row, open_row, (users, days) in zip(out, self.open, self.open_long):
            for last, n in open_row.items():
                _expose(row, 0, day - 1 - last, n)
            if users:
                _expose(row, 0, long_silence - 1, users)
                row[-1] += users * (day - long_silence) - days  # sum of (day - 1 - last) - (long_silence - 1)
        return out

    def counts(self) -> dict[str, Any]:
        """What this table has learned, for the other partitions' tables (plain ints and lists: the
        same numbers in every process, and JSON for the topic between workers): returns and the
        steps' exposure per class and silence bucket, the open silences (so the exposure can be
        counted at any later day: ``exposure_at``), covariates' and everyone's [returns, expected
        returns in millionths]."""
        return {"returns": [list(row) for row in self.returns], "closed": [list(row) for row in self.exposure],
                "open": [sorted([last, n] for last, n in row.items()) for row in self.open],
                "open_long": [list(total) for total in self.open_long],
                "covariates": {name: list(c) for name, c in self.covariates.items()}, "overall": list(self.overall)}

    def refresh(self, day: int | None = None, shared: dict[str, Any] | None = None) -> None:
        """Recompute the hazards and covariate ratios from the counts (once per day boundary; the
        boundary starting ``day``, up to which open silences are counted), or from ``shared``:
        every partition's ``counts`` summed (``add_counts``), which then replace this table's."""
        buckets = len(SILENCE_EDGES)
        exposures = self._exposure_at(day)
        returns = self.returns
        covariate_counts, overall = self.covariates, self.overall
        if shared is not None:  # every partition's counts, as of a few days before (streams/core/peers.py)
            exposures, returns = shared["exposure"], shared["returns"]
            covariate_counts, overall = shared["covariates"], shared["overall"]
        pooled: list[float] = []
        prior = DEFAULT_HAZARD
        for i in range(buckets):
            if i:  # hazards fall with silence: a bucket's prior is its predecessor's, scaled by 1 / silence
                prior = pooled[-1] * _MIDDLE[i - 1] / _MIDDLE[i]
            exposure = sum(row[i] for row in exposures)
            pooled.append(_posterior(sum(row[i] for row in returns), exposure, prior))
        for k, (class_returns, class_exposure) in enumerate(zip(returns, exposures)):
            own: list[float] = []
            for i in range(buckets):  # the class's level in the previous bucket, along the pooled shape
                own.append(_posterior(class_returns[i], class_exposure[i],
                                      own[-1] * pooled[i] / pooled[i - 1] if i else pooled[0]))
            # Per silent day, -log(1 - hazard): sums of these give exact discrete-time survival.
            hazard = [-math.log(1 - min(h, 0.999)) for h in own]
            cumulative = [0.0]
            for i in range(buckets - 1):
                cumulative.append(cumulative[-1] + hazard[i] * (SILENCE_EDGES[i + 1] - SILENCE_EDGES[i]))
            self._hazard[k], self._cumulative[k] = hazard, cumulative
        self._windows = {}
        self._risks = {}
        # Each ratio against everyone's: the table's own error (its hazards when the steps were
        # expected, early on from the prior) is not credited to the attributes.
        c = COVARIATE_PRIOR_RETURNS
        everyone = (overall[0] + c) / (overall[1] / 1e6 + c)
        self._ratio = {name: (o + c) / (e / 1e6 + c) / everyone for name, (o, e) in covariate_counts.items()}

    # -- scoring --------------------------------------------------------------------------

    def _integral(self, k: int, silence: float) -> float:
        """-log P(no return on any silence in [1, silence)) for class k."""
        return _integral_of(self._cumulative[k], self._hazard[k], silence)

    def p_no_return(self, active_days: int, silence: int, horizon_days: int,
                    covariates: tuple[str, ...] | list[str] = ()) -> float:
        """P(no activity on any of the next ``horizon_days`` days | ``active_days``, ``silence`` days
        fully observed without activity, the user's ``covariates``)."""
        k = _class(active_days)
        points, least = (self._windows.get(horizon_days) or self._window(horizon_days))[k]
        # Module functions on the class's rows: compiled, a method call and an attribute of this
        # (plain Python) class each cost a dictionary lookup.
        cumulative, hazard = self._cumulative[k], self._hazard[k]
        total = _integral_of(cumulative, hazard, silence + 1 + horizon_days) - _integral_of(cumulative, hazard, silence + 1)
        total = min(total, least[bisect_right(points, silence) - 1]) if silence >= 0 else total
        if covariates:
            ratio = self._ratio
            for name in covariates:
                total *= ratio.get(name, 1.0)
        return _bounded(math.exp(-total))

    def _window(self, horizon_days: int) -> list[tuple[list[int], list[float]]]:
        """Per class, the silences where the expected returns over the next ``horizon_days`` days
        change slope (a bucket edge enters or leaves the window) and the least of those returns
        up to each: with the hazard constant within buckets the window's returns are linear
        between these silences, so their least over all shorter silences is the least of these
        points and the silence itself (``p_no_return``). Within a class a longer silence then
        never reads as safer: the estimated hazards need not fall with silence everywhere (a
        sparse class's buckets are noisy), and a window reaching a bucket whose hazard came out
        higher made a customer silent for weeks look safer than one silent for days (on a
        400-customer shop, 4 % of the pairs in a partition's class were ranked against their
        silence)."""
        points = sorted({0} | {e - 1 - d for e in SILENCE_EDGES for d in (0, horizon_days) if e - 1 - d > 0})
        rows = []
        for k in range(len(self._hazard)):
            lowest, least = math.inf, []
            for s in points:
                lowest = min(lowest, self._integral(k, s + 1 + horizon_days) - self._integral(k, s + 1))
                least.append(lowest)
            rows.append((points, least))
        self._windows[horizon_days] = rows
        return rows


def _integral_of(cumulative: list[float], hazard: list[float], silence: float) -> float:
    """-log P(no return on any silence in [1, silence)) for a class's rows."""
    if silence <= 1:
        return 0.0
    i = min(_bucket(int(silence)), len(SILENCE_EDGES) - 1)
    return cumulative[i] + hazard[i] * (silence - SILENCE_EDGES[i])


def _bounded(p: float) -> float:
    """p within [MIN_P, MAX_P], except that beyond either bound it is halved towards it instead
    of clipped: the order survives. A bound keeps the log loss of a surprise finite; clipping made
    two thirds of a simulated daily app's users tie at MIN_P a month in (a user silent for one
    day and one silent for five: P(no visit in 30 days) 1e-9 and 1e-6), and the ranking among
    them, where the churned were, was lost (ROC AUC at that cut 0.767 against 0.777 now)."""
    if p < MIN_P:
        return (MIN_P + p) / 2
    if p > MAX_P:
        return (MAX_P + p) / 2
    return p


def exposure_at(counts: dict[str, Any], day: int) -> list[list[int]]:
    """The exposure of ``counts`` (ReturnTable.counts) with its open silences observed at the
    boundary starting ``day``: what ReturnTable._exposure_at(day) gives, without changing anything."""
    long_silence = SILENCE_EDGES[-1]
    long_before = day - long_silence
    out = [list(row) for row in counts["closed"]]
    for row, open_row, (users, days) in zip(out, counts["open"], counts["open_long"]):
        for last, n in open_row:
            if last < long_before:
                users += n
                days += n * last
            else:
                _expose(row, 0, day - 1 - last, n)
        if users:
            _expose(row, 0, long_silence - 1, users)
            row[-1] += users * (day - long_silence) - days
    return out


def add_counts(total: dict[str, Any] | None, counts: dict[str, Any], day: int) -> dict[str, Any]:
    """``total`` plus one table's ``counts`` (ReturnTable.counts) as of the boundary starting
    ``day`` (a table for ReturnTable.refresh's ``shared``); a new total if None."""
    exposure = exposure_at(counts, day)
    if total is None:
        total = {"returns": [[0] * len(row) for row in counts["returns"]],
                 "exposure": [[0] * len(row) for row in exposure], "covariates": {}, "overall": [0, 0]}
    for key, rows in (("returns", counts["returns"]), ("exposure", exposure)):
        for row, other in zip(total[key], rows):
            for i, n in enumerate(other):
                row[i] += n
    add_covariates(total["covariates"], counts["covariates"])
    total["overall"] = [a + b for a, b in zip(total["overall"], counts["overall"])]
    return total


def add_covariates(total: dict[str, list[int]], more: dict[str, list[int]]) -> None:
    """Covariate counts added into ``total``, new names in sorted order while there is room (the
    same bound as one table's)."""
    for name in sorted(more):
        counts = total.get(name)
        if counts is None:
            if len(total) >= MAX_COVARIATES:
                continue
            counts = total[name] = [0, 0]
        counts[0] += more[name][0]
        counts[1] += more[name][1]


def _expose(row: list[int], from_silence: int, to_silence: int, users: int) -> None:
    s = from_silence + 1
    while s <= to_silence:
        i = _bucket(s)
        end = to_silence if i + 1 >= len(SILENCE_EDGES) else min(to_silence, SILENCE_EDGES[i + 1] - 1)
        row[i] += users * (end - s + 1)
        s = end + 1


def _posterior(returns: float, exposure: float, prior: float) -> float:
    """A daily hazard: the observed one, leaning on ``prior`` with the weight of PRIOR_RETURNS returns."""
    return (returns + PRIOR_RETURNS) / (exposure + PRIOR_RETURNS / prior)


def cold_start_risk(table: ReturnTable, active_days: int, silence: int, horizon_days: int,
                    attributes: dict[str, str] | None) -> float:
    """The cold-start risk as the model reads it (ChurnModel.cold_start; here, compiled, since every
    snapshot asks): the table's P(no return), six decimals, six significant digits below MIN_P, where
    risks still rank (_bounded)."""
    # A day's snapshots ask about few (class, silence, attributes): each is computed once per refresh.
    risks = table._risks
    key = (_class(active_days), silence, horizon_days, tuple(attributes.items()) if attributes else ())
    risk = risks.get(key)
    if risk is None:
        if len(risks) >= MAX_REMEMBERED_RISKS:
            risks.clear()
        risk = table.p_no_return(active_days, silence, horizon_days, covariates(attributes or {}))
        risk = risks[key] = round(risk, 6) if risk >= MIN_P else float(f"{risk:.6g}")
    return risk


MAX_REMEMBERED_RISKS: Final = 4096  # a day of the engine benchmark asks about at most 44 per partition
_DERIVED: Final = ("_windows", "_risks")  # ReturnTable's, not pickled


def covariates(attributes: dict[str, str]) -> tuple[str, ...]:
    """The names under which a user's attributes shift the hazard of return."""
    return tuple(sorted(f"{key}={value}" for key, value in attributes.items()))


def observed_silence(t: int, last_active_day: int, day_ms: int) -> int:
    """Whole days without activity observed by event time t: 0 on an active day; at the boundary
    starting day D, the days last_active_day+1 .. D-1."""
    return max(0, -(-t // day_ms) - 1 - last_active_day) if last_active_day >= 0 else 0

