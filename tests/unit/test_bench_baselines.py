"""The baselines of the real-data benchmark (bench/baselines.py) are the models they claim to be:
fitted on customers simulated from the model itself, they recover its parameters' behaviour and
forecast the share of customers who stay silent."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from scipy.special import hyp2f1

from streams.offline.evaluation import exact_auc

_spec = importlib.util.spec_from_file_location("baselines", Path(__file__).parents[2] / "bench" / "baselines.py")
assert _spec and _spec.loader
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)


def _population(n: int, T: float, h: float, lifetime: Callable[[np.ndarray, Any], float], r: float,
                alpha: float, seed: int = 7) -> tuple[np.ndarray, ...]:
    """x, t_x, T, "no purchase in (T, T+h]" and the purchases in it, of customers whose first
    purchase was at 0 and who buy at Gamma(r, alpha) rates until their lifetime ends (given the
    purchase times, so that BG/NBD can end it at a purchase)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1 / alpha, n)
    x, t_x, silent, later = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        times = np.cumsum(rng.exponential(1 / rate[i], 1 + int(rate[i] * (T + h) * 3 + 20)))
        times = times[times < min(lifetime(times, rng), T + h)]
        before = times[times <= T]
        x[i], t_x[i] = len(before), before[-1] if len(before) else 0.0
        later[i] = np.sum(times > T)
        silent[i] = 0 if later[i] else 1
    return x, t_x, np.full(n, T), silent, later


def _pareto_population(n: int, r: float, alpha: float, s: float, beta: float, T: float, h: float) -> tuple[np.ndarray, ...]:
    """Dropout at an exponential time whose rate is Gamma(s, beta) across customers."""
    return _population(n, T, h, lambda _, rng: rng.exponential(1 / rng.gamma(s, 1 / beta)), r, alpha)


def _bgnbd_population(n: int, r: float, alpha: float, a: float, b: float, T: float, h: float) -> tuple[np.ndarray, ...]:
    """Dropout right after a purchase with probability p, Beta(a, b) across customers (the first
    purchase, at 0, is not among ``times``: it cannot end the life)."""
    def lifetime(times: np.ndarray, rng: Any) -> float:
        p = rng.beta(a, b)
        ends = np.nonzero(rng.random(len(times)) < p)[0]
        return float(np.nextafter(times[ends[0]], np.inf)) if len(ends) else np.inf  # the purchase counts
    return _population(n, T, h, lifetime, r, alpha)


def test_the_dropout_term_is_the_closed_form_where_that_is_accurate() -> None:
    r, alpha, s, beta = 0.6, 80.0, 0.55, 68.0
    x, t_x, T = np.array([0.0, 1, 5, 30]), np.array([0.0, 40, 100, 150]), np.array([200.0, 200, 250, 273])
    rsx = r + s + x
    z1, z2 = (alpha - beta) / (alpha + t_x), (alpha - beta) / (alpha + T)
    a0 = (hyp2f1(rsx, s + 1, rsx + 1, z1) / (alpha + t_x) ** rsx - hyp2f1(rsx, s + 1, rsx + 1, z2) / (alpha + T) ** rsx)
    tail = np.exp(baselines._pareto_log_tail(r, alpha, s, beta, x, t_x, T))
    np.testing.assert_allclose(tail * rsx, a0, rtol=1e-9)


def _check_forecast(forecast: Any, x: np.ndarray, silent: np.ndarray, later: np.ndarray) -> None:
    assert abs(forecast.p_none.mean() - silent.mean()) < 0.02
    assert abs(forecast.expected.mean() - later.mean()) < 0.05 * later.mean()
    for group in (x == 0, (x > 0) & (x < 5), x >= 5):  # calibrated within groups, not only overall
        assert abs(forecast.p_none[group].mean() - silent[group].mean()) < 0.04
        assert abs(forecast.expected[group].mean() - later[group].mean()) < 0.1 * later[group].mean() + 0.02
    assert np.corrcoef(forecast.p_none, silent)[0, 1] > 0.4


def test_pareto_nbd_forecasts_its_own_population() -> None:
    x, t_x, T, silent, later = _pareto_population(4000, r=0.8, alpha=20.0, s=0.6, beta=60.0, T=180.0, h=90.0)
    _check_forecast(baselines.pareto_nbd(x, t_x, T, 90.0), x, silent, later)


def test_pareto_nbd_fits_a_dropout_rate_common_to_all_customers() -> None:
    """The extreme Ta Feng drove the fit to: s and beta growing together (every customer drops out
    at nearly the same rate), where the closed form's hypergeometric terms were slow and inexact."""
    x, t_x, T, silent, later = _pareto_population(4000, r=0.8, alpha=20.0, s=2000.0, beta=200_000.0, T=76.0, h=44.0)
    forecast = baselines.pareto_nbd(x, t_x, T, 44.0)
    # Few purchases per customer in 44 days: the sample's own spread is the yardstick (seeds 1, 2,
    # 3 and 7 with 8,000 customers: 0.1 to 2.6 standard errors).
    assert abs(forecast.expected.mean() - later.mean()) < 4 * later.std() / np.sqrt(len(later))
    assert abs(forecast.p_none.mean() - silent.mean()) < 0.03
    assert np.corrcoef(forecast.p_none, silent)[0, 1] > 0.4


def test_bgnbd_forecasts_its_own_population() -> None:
    x, t_x, T, silent, later = _bgnbd_population(4000, r=0.8, alpha=20.0, a=0.8, b=2.5, T=180.0, h=90.0)
    _check_forecast(baselines.bgnbd(x, t_x, T, 90.0), x, silent, later)


def test_bgnbd_forecasts_a_dropout_chance_common_to_all_customers() -> None:
    """a and b in the thousands (every customer drops out after a purchase with nearly the same
    chance): Gauss-Jacobi's weights overflowed to NaN there."""
    x, t_x, T, silent, later = _bgnbd_population(4000, r=0.8, alpha=20.0, a=300.0, b=3000.0, T=180.0, h=90.0)
    _check_forecast(baselines.bgnbd(x, t_x, T, 90.0), x, silent, later)


@pytest.mark.parametrize("fit", [baselines.bgnbd, baselines.pareto_nbd], ids=["bgnbd", "pareto_nbd"])
def test_a_log_of_one_time_buyers_gets_finite_forecasts(fit: Callable[..., Any]) -> None:
    """No heterogeneity to fit (one purchase each, 20 of 500 come back once): maximum likelihood
    ran off towards infinite parameters, the forecasts came out NaN, and the benchmark's ranking
    of them never ended (tests/unit/offline/test_evaluation.py). Within bounds the fit stays a
    forecast (BG/NBD concludes, rightly, that a repeat purchase is the last one)."""
    rng = np.random.default_rng(1)
    first = rng.integers(0, 200, 500).astype(float)
    t_x = np.where(np.arange(500) < 20, np.minimum(rng.integers(1, 61, 500), 199 - first), 0.0).clip(0)
    x = (t_x > 0).astype(float)
    T = 200.0 - first
    forecast = fit(x, t_x, T, 60.0)
    assert np.isfinite(forecast.p_none).all() and np.isfinite(forecast.expected).all()
    assert ((0 <= forecast.p_none) & (forecast.p_none <= 1)).all() and (forecast.expected >= 0).all()


def test_attribute_columns_are_the_values_enough_customers_share() -> None:
    attributes = [{"age": "30-34", "area": "115"}] * 3 + [{"age": "30-34"}, {"area": "9"}, {}]
    columns = baselines.attribute_columns(attributes, min_users=2)  # age=30-34 (4 customers), area=115 (3)
    assert columns.tolist() == [[1, 1]] * 3 + [[1, 0], [0, 0], [0, 0]]


def test_a_fitted_logistic_regression_scores_new_customers_as_the_model_would() -> None:
    """Scored rows are standardised as the fitted ones were: rows from a later, shifted population
    get the model's own log-odds (re-standardising them by their own mean would shift every score)."""
    rng = np.random.default_rng(3)
    w = np.array([-0.5, 1.2, -0.8])

    def sample(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(shift, [1.0, 2.0], (n, 2))
        return x, w[0] + x @ w[1:]

    x, log_odds = sample(40_000, 0.0)
    scorer = baselines.logistic(x, (rng.random(len(x)) < 1 / (1 + np.exp(-log_odds))).astype(float))
    later, truth = sample(2_000, 1.5)
    np.testing.assert_allclose(scorer(later), truth, atol=0.15)


def _purchases(customer: str, days: list[int], amount: float = 10.0) -> list[Any]:
    from streams.core.events import DAY_MS, Event

    return [Event("purchase", f"{customer}-{d}", customer, int(d) * DAY_MS + 1, {"amount": amount}) for d in days]


def test_the_previous_horizon_regression_learns_only_from_what_the_cut_can_see() -> None:
    """Fitted on the customers known one horizon before the cut with labels that end at the cut:
    purchases after the cut change the customers' labels at the cut, never their scores."""
    rng = np.random.default_rng(5)
    events: list[Any] = []
    for i in range(400):  # regulars come back, one-time buyers do not: learnable from the first horizon
        regular = i % 2 == 0
        first = int(rng.integers(0, 30))
        days = sorted({first, *(first + rng.integers(1, 10, 12).cumsum())}) if regular else [first]
        events += _purchases(f"c{i}", [d for d in days if d < 100])
    events.sort(key=lambda e: e.ts)
    users = sorted({e.user_id for e in events})
    scores = baselines.previous_horizon(baselines.History(events), users, cut_day=60, horizon=30)
    assert scores is not None
    later = events + _purchases("c1", [70, 80])  # a one-time buyer comes back after the cut
    assert baselines.previous_horizon(baselines.History(later), users, cut_day=60, horizon=30) == scores
    regular = np.array([int(u[1:]) % 2 == 0 for u in users])
    assert np.mean(np.array(scores)[regular]) < np.mean(np.array(scores)[~regular])  # log-odds of churn


def test_there_is_no_previous_horizon_when_the_log_before_the_cut_is_one_horizon_long() -> None:
    events = _purchases("a", [0, 5, 9]) + _purchases("b", [3])
    assert baselines.previous_horizon(baselines.History(events), ["a", "b"], cut_day=30, horizon=30) is None


def test_history_features_read_only_the_days_before_the_cut() -> None:
    events = _purchases("a", [0, 10, 40, 50, 90]) + _purchases("b", [45])
    events.sort(key=lambda e: e.ts)
    [a, b] = baselines.history_features(baselines.History(events), ["a", "b"], day=60)
    # recency, active days, tenure, spend, per day, last day's; gaps: mean, spread, last, longest,
    # recency / mean gap; active days within 2, 4, 8, 13, 26 weeks
    assert list(a[:6]) == [10, 4, 60, 40, 10, 10]
    assert list(a[6:11]) == [50 / 3, pytest.approx(np.std([10, 30, 10])), 10, 30, 10 / (50 / 3)]
    assert list(a[11:]) == [1, 2, 3, 4, 4]
    assert list(b[:6]) == [15, 1, 15, 10, 10, 10] and np.isnan(b[6:11]).all() and list(b[11:]) == [0, 1, 1, 1, 1]


def test_the_cross_validated_ceiling_scores_every_customer_out_of_sample() -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2_000, 5))
    learnable = (features[:, 0] + 0.5 * rng.normal(size=2_000) > 0).astype(int)
    noise = rng.integers(0, 2, 2_000)
    assert exact_auc(list(learnable), list(baselines.cross_validated_ceiling(features, learnable))) > 0.85
    # Labels that nothing predicts: a model scoring the customers it was fitted on would rank them
    # far above chance (trees memorise); out of sample it cannot.
    assert abs(exact_auc(list(noise), list(baselines.cross_validated_ceiling(features, noise))) - 0.5) < 0.04


def test_the_out_of_sample_ceiling_is_left_out_when_an_outcome_is_rarer_than_the_folds() -> None:
    features = np.random.default_rng(1).normal(size=(103, 3))
    assert baselines.cross_validated_ceiling(features, np.array([1] * 99 + [0] * 4)) is None
    assert len(baselines.cross_validated_ceiling(features, np.array([1] * 98 + [0] * 5))) == 103
