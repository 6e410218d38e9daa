"""The customer-base models churnguard is judged against on real logs (bench/real_data.py).

Each is fitted by maximum likelihood on the repeat-purchase history before the cut, per customer
``x`` (repeat purchase days), ``t_x`` (days from the first to the last purchase day) and ``T``
(days from the first purchase day to the cut), and forecasts two churn scores: P(no purchase in
(T, T + h]), and the expected number of purchases in it (the usual forecast of these models; it
ranks customers differently, better on some logs, so the benchmark takes both):
- BG/NBD (Fader, Hardie, Lee 2005): a customer may drop out right after each purchase;
- Pareto/NBD (Schmittlein, Morrison, Colombo 1987; the expressions of Fader and Hardie's 2005
  note): dropout at any time, the classic churn reference.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from typing import Callable, NamedTuple

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaincinv, gammaln, logsumexp, roots_legendre

from streams.core.events import DAY_MS, Event
from streams.core.rhythm import covariates


# Every parameter between e^-10 and e^14: on a log without the heterogeneity a model assumes (one
# purchase each, a common rate), maximum likelihood runs towards infinity along a ridge (a Gamma
# becoming a point mass) and the forecasts overflow to NaN. The bounds change nothing where a
# maximum exists, and a shape of a million is a point mass for every purpose here.
LOG_BOUNDS = (-10.0, 14.0)


def _maximum_likelihood(nll: Callable[[np.ndarray], float], start: np.ndarray) -> np.ndarray:
    """Nelder-Mead over log parameters within LOG_BOUNDS, restarted from its own result while that
    gains more than a thousandth of a log-likelihood unit: one run can stop on a flat ridge
    (BG/NBD on CDNOW stopped 27 units short, with a and b twice their maximum-likelihood values,
    and ranked customers visibly worse). The tolerances are loose enough that a ridge running off
    to the bounds (Pareto/NBD's s and beta on Ta Feng) ends the search instead of being followed
    for thousands of steps."""
    lo, hi = LOG_BOUNDS

    def bounded(p: np.ndarray) -> float:
        # Outside the box: the value at its edge plus the distance, so the search turns back.
        inside = np.clip(p, lo, hi)
        return nll(inside) + float(np.abs(p - inside).sum()) * 1e3

    best, value = start, bounded(start)
    for _ in range(20):
        res = minimize(bounded, best, method="Nelder-Mead", options={"maxiter": 8000, "xatol": 1e-4, "fatol": 1e-6})
        gain = value - res.fun
        if gain > 0:
            best, value = res.x, res.fun
        if gain < 1e-3:
            break
    return np.clip(best, lo, hi)


class Forecast(NamedTuple):
    p_none: np.ndarray  # P(no purchase in (T, T + h])
    expected: np.ndarray  # expected purchases in (T, T + h]


def bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float) -> Forecast:
    """BG/NBD fitted by maximum likelihood."""
    def nll(p: np.ndarray) -> float:
        r, a, alpha, b = np.exp(p)
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
        a3 = -(r + x) * np.log(alpha + T)
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf)
        return float(-(a1 + a2 + np.logaddexp(a3, a4)).sum())

    r, a, alpha, b = np.exp(_maximum_likelihood(nll, np.log([1.0, 1.0, 10.0, 1.0])))
    dead_odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    alive = 1 / (1 + dead_odds)
    # Alive at T: lambda ~ Gamma(r + x, alpha + T), p ~ Beta(a, b + x). Purchases in h given both:
    # (1 - e^(-lambda p h)) / p; over lambda in closed form, over p by Gauss-Legendre on p's
    # quantiles (per x): the integrand is smooth and bounded in p, and unlike Gauss-Jacobi's
    # weights the quantiles do not overflow when a and b are large.
    u, w = roots_legendre(64)
    u, w = (u + 1) / 2, w / 2
    expected = np.empty_like(x)
    for value in np.unique(x):
        rows = x == value
        p = np.maximum(betaincinv(a, b + value, u), 1e-300)
        base = (alpha + T[rows])[:, None]
        per_p = -np.expm1(-(r + value) * np.log1p(p * horizon / base)) / p
        expected[rows] = per_p @ w
    return Forecast(1 - alive + alive * ((alpha + T) / (alpha + T + horizon)) ** (r + x), alive * expected)


def _graded(lo: np.ndarray, hi: np.ndarray, n: int = 32, power: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and log weights on [lo, hi] per row, graded towards lo (y = lo + (hi -
    lo) u^power): the integrands below are power laws peaked at lo, with exponents up to the
    number of purchases."""
    u, w = roots_legendre(n)
    u, w = (u + 1) / 2, w / 2
    span = np.maximum(hi - lo, 1e-300)[:, None]
    nodes = lo[:, None] + span * u ** power
    log_weights = np.log(w * power * u ** (power - 1)) + np.log(span)
    return nodes, log_weights


def _pareto_log_tail(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t_x: np.ndarray,
                     T: np.ndarray) -> np.ndarray:
    """log of the integral over the dropout time y in (t_x, T] of (alpha + y)^-(r + x) (beta +
    y)^-(s + 1): the likelihood's "dropped out after the last purchase" term (Fader and Hardie's
    A0 / (r + s + x)). By quadrature rather than through the Gauss hypergeometric function,
    which is slow and loses digits when s and beta are large (a nearly common dropout rate, as
    on Ta Feng)."""
    y, log_w = _graded(t_x, T)
    log_f = -(r + x[:, None]) * np.log(alpha + y) - (s + 1) * np.log(beta + y)
    return np.where(T > t_x, logsumexp(log_f + log_w, axis=1), -np.inf)


def pareto_nbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon: float) -> Forecast:
    """Pareto/NBD fitted by maximum likelihood. P(no purchase in (T, T+h]) = P(dead at T) +
    P(alive at T) x P(no purchase before dropping out or h ends | alive)."""
    keys, index, counts = np.unique(np.c_[x, t_x, T], axis=0, return_inverse=True, return_counts=True)
    ux, ut, uT = keys[:, 0], keys[:, 1], keys[:, 2]

    def log_terms(r: float, alpha: float, s: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """log of the likelihood's two terms without their common factor: alive at T, and
        dropped out between the last purchase and T."""
        alive = -(r + ux) * np.log(alpha + uT) - s * np.log(beta + uT)
        return alive, np.log(s) + _pareto_log_tail(r, alpha, s, beta, ux, ut, uT)

    def nll(p: np.ndarray) -> float:
        r, alpha, s, beta = np.exp(p)
        with np.errstate(all="ignore"):
            common = gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            value = -float((counts * (common + np.logaddexp(*log_terms(r, alpha, s, beta)))).sum())
        return value if np.isfinite(value) else 1e300

    r, alpha, s, beta = np.exp(_maximum_likelihood(nll, np.log([0.5, 10.0, 0.5, 10.0])))
    with np.errstate(all="ignore"):
        alive_term, dead_term = log_terms(r, alpha, s, beta)
    alive = 1 / (1 + np.exp(np.clip(dead_term - alive_term, -700, 700)))
    # Alive at T: lambda ~ Gamma(r + x, alpha + T), mu ~ Gamma(s, beta + T), independent. No purchase
    # in h: dropout at tau < h before any purchase (density mu e^-(lambda + mu) tau), or neither.
    a, b = alpha + uT, beta + uT
    tau, log_w = _graded(np.zeros_like(uT), np.full_like(uT, horizon))
    dropout_first = np.exp(logsumexp(log_w + np.log(s / b)[:, None] + (s + 1) * np.log(b[:, None] / (b[:, None] + tau))
                                     + (r + ux)[:, None] * np.log(a[:, None] / (a[:, None] + tau)), axis=1))
    quiet = (a / (a + horizon)) ** (r + ux) * (b / (b + horizon)) ** s
    # Purchases in h given alive: E[lambda] E[(1 - e^(-mu h)) / mu] = (r + x) / a x b (1 - (b / (b +
    # h))^(s - 1)) / (s - 1), written to stay exact as s -> 1 and for large s.
    log_ratio = np.log1p(horizon / b)
    lifetime = b * log_ratio if s == 1 else -b * np.expm1(-(s - 1) * log_ratio) / (s - 1)
    expected = alive * (r + ux) / a * lifetime
    index = index.ravel()
    return Forecast((1 - alive + alive * (dropout_first + quiet))[index], expected[index])


def attribute_columns(attributes: list[dict[str, str]], min_users: int = 20) -> np.ndarray:
    """One 0/1 column per attribute value (``key=value``, as the cold start names them) that at
    least ``min_users`` customers carry, in sorted order; rarer values share the all-zero row, so
    the hindsight fit cannot memorise single customers."""
    named = [covariates(attrs) for attrs in attributes]
    counts = Counter(name for names in named for name in names)
    column = {name: i for i, name in enumerate(sorted(n for n, k in counts.items() if k >= min_users))}
    out = np.zeros((len(attributes), len(column)))
    for row, names in enumerate(named):
        out[row, [column[n] for n in names if n in column]] = 1.0
    return out


def hindsight_logistic(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fitted on the labels it is then judged by: a ceiling that cheats, not a baseline."""
    return logistic(features, labels)(features)


def logistic(features: np.ndarray, labels: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A logistic regression fitted by Newton's method on standardised features; returns the
    scorer (log-odds) of new rows, standardised as the fitted ones were."""
    mean = features.mean(0)
    sd = np.where(features.std(0) > 0, features.std(0), 1.0)

    def design(rows: np.ndarray) -> np.ndarray:
        return np.c_[np.ones(len(rows)), (rows - mean) / sd]

    z = design(features)
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
        hessian = (z * (p * (1 - p))[:, None]).T @ z / len(z) + 1e-6 * np.eye(len(w))
        w -= np.linalg.solve(hessian, z.T @ (p - labels) / len(z))
    return lambda rows: design(rows) @ w


class History:
    """Each customer's active days, spend per active day and attribute updates, to read the
    purchase history as it stood on any day (the baselines' inputs)."""

    def __init__(self, events: list[Event]) -> None:
        self.days: dict[str, list[int]] = defaultdict(list)
        self.spend: dict[str, list[float]] = defaultdict(list)  # per active day, aligned with days
        self.updates: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)  # (day, attributes)
        for e in events:
            d, uid = e.ts // DAY_MS, e.user_id
            if not self.days[uid] or self.days[uid][-1] != d:
                self.days[uid].append(d)
                self.spend[uid].append(0.0)
            self.spend[uid][-1] += float(e.data.get("amount", 0.0))
            if e.data.get("attributes"):
                self.updates[uid].append((d, e.data["attributes"]))

    def attributes_at(self, uid: str, day: int) -> dict[str, str]:
        """The latest of each attribute from events before ``day``."""
        out: dict[str, str] = {}
        for d, attributes in self.updates[uid]:
            if d >= day:
                break
            out.update(attributes)
        return out

    def at(self, users: list[str], day: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Per customer known before ``day``: recency, repeat active days (x), days from the first
        to the last active day (t_x), days since the first (T) and spend, in days before ``day``;
        and the label (no active day in [day, day + horizon))."""
        rows, labels = [], []
        for uid in users:
            ds_ = self.days[uid]
            k = bisect_left(ds_, day)  # active days before ``day``
            labels.append(0 if k < len(ds_) and ds_[k] < day + horizon else 1)
            first, last = ds_[0], ds_[k - 1]
            rows.append([day - last, k - 1, last - first, day - first, sum(self.spend[uid][:k])])
        return np.array(rows, float), np.array(labels)


def history_features(history: History, users: list[str], day: int) -> np.ndarray:
    """Per customer known before ``day``, more of the purchase history than RFM, for the
    cross-validated ceiling: recency, active days, tenure, spend (total, per active day, the last
    day's), the gaps between active days (mean, spread, last, longest; NaN with fewer than two or
    three days), recency over the mean gap, and active days within the last 2, 4, 8, 13 and 26
    weeks."""
    rows = []
    for uid in users:
        ds_ = history.days[uid]
        k = bisect_left(ds_, day)
        seen, spend = np.array(ds_[:k], float), history.spend[uid][:k]
        gaps = np.diff(seen)
        mean_gap = gaps.mean() if len(gaps) else np.nan
        recency = day - seen[-1]
        rows.append([recency, k, day - seen[0], sum(spend), sum(spend) / k, spend[-1],
                     mean_gap, gaps.std() if len(gaps) > 1 else np.nan, gaps[-1] if len(gaps) else np.nan,
                     gaps.max() if len(gaps) else np.nan, recency / mean_gap if len(gaps) else np.nan,
                     *(k - bisect_left(ds_, day - weeks * 7, 0, k) for weeks in (2, 4, 8, 13, 26))])
    return np.array(rows, float)


def cross_validated_ceiling(features: np.ndarray, labels: np.ndarray, folds: int = 5,
                            seed: int = 0) -> np.ndarray | None:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier) fitted on the very
    labels they are judged by, each customer scored by the model fitted on the folds that do not
    hold them (stratified): how well the history and attributes at the cut can rank churn when the
    answers are known, out of sample. A ceiling that cheats, like the hindsight regressions, with
    a flexible model that cannot memorise the customer it scores. None when either outcome has fewer
    customers than folds (a small log where nearly everyone churned, or nobody did)."""
    if np.bincount(labels.astype(int), minlength=2).min() < folds:
        return None
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, min_samples_leaf=40, random_state=seed)
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, features, labels, cv=split, method="predict_proba")[:, 1]


def previous_horizon(history: History, users: list[str], cut_day: int, horizon: int) -> list[float] | None:
    """An honest regression: RFM and attributes as they stood one horizon before the cut, fitted on
    whether each customer known then came back before the cut (a label complete at the cut), then
    applied to the customers at the cut. What a data scientist with this export would build; None
    when the log before the cut is not longer than one horizon (CDNOW: cut and horizon are both
    39 weeks) or the earlier customers' labels are all alike."""
    start = cut_day - horizon
    earlier = sorted(uid for uid, ds_ in history.days.items() if ds_[0] < start)
    if len(earlier) < 100:
        return None
    then, y_then = history.at(earlier, start, horizon)
    if y_then.min() == y_then.max():
        return None
    now, _ = history.at(users, cut_day, horizon)
    columns = attribute_columns([history.attributes_at(uid, start) for uid in earlier]
                                + [history.attributes_at(uid, cut_day) for uid in users])
    scorer = logistic(np.c_[np.log1p(then), columns[:len(earlier)]], y_then)
    return list(scorer(np.c_[np.log1p(now), columns[len(earlier):]]))
