"""The baselines of the real-data benchmark (bench/baselines.py) are the models they claim to be:
fitted on customers simulated from the model itself, they recover its parameters' behaviour and
forecast the share of customers who stay silent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy.special import hyp2f1

_spec = importlib.util.spec_from_file_location("baselines", Path(__file__).parents[2] / "bench" / "baselines.py")
assert _spec and _spec.loader
baselines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baselines)


def _pareto_population(n: int, r: float, alpha: float, s: float, beta: float, T: float, h: float,
                       seed: int = 7) -> tuple[np.ndarray, ...]:
    """x, t_x, T and "no purchase in (T, T+h]" of customers whose first purchase was at 0."""
    rng = np.random.default_rng(seed)
    rate, dropout = rng.gamma(r, 1 / alpha, n), rng.gamma(s, 1 / beta, n)
    lifetime = rng.exponential(1 / dropout)
    x, t_x, silent = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        end = min(lifetime[i], T + h)
        times = np.cumsum(rng.exponential(1 / rate[i], 1 + int(rate[i] * end * 3 + 20)))
        times = times[times < end]
        before = times[times <= T]
        x[i], t_x[i] = len(before), before[-1] if len(before) else 0.0
        silent[i] = 0 if np.any(times > T) else 1
    return x, t_x, np.full(n, T), silent


def test_the_dropout_term_is_the_closed_form_where_that_is_accurate() -> None:
    r, alpha, s, beta = 0.6, 80.0, 0.55, 68.0
    x, t_x, T = np.array([0.0, 1, 5, 30]), np.array([0.0, 40, 100, 150]), np.array([200.0, 200, 250, 273])
    rsx = r + s + x
    z1, z2 = (alpha - beta) / (alpha + t_x), (alpha - beta) / (alpha + T)
    a0 = (hyp2f1(rsx, s + 1, rsx + 1, z1) / (alpha + t_x) ** rsx - hyp2f1(rsx, s + 1, rsx + 1, z2) / (alpha + T) ** rsx)
    tail = np.exp(baselines._pareto_log_tail(r, alpha, s, beta, x, t_x, T))
    np.testing.assert_allclose(tail * rsx, a0, rtol=1e-9)


def test_pareto_nbd_forecasts_the_silent_share_of_its_own_population() -> None:
    x, t_x, T, silent = _pareto_population(4000, r=0.8, alpha=20.0, s=0.6, beta=60.0, T=180.0, h=90.0)
    p_none = baselines.pareto_nbd_p_none(x, t_x, T, 90.0)
    assert abs(p_none.mean() - silent.mean()) < 0.02
    for group in (x == 0, (x > 0) & (x < 5), x >= 5):  # calibrated within groups, not only overall
        assert abs(p_none[group].mean() - silent[group].mean()) < 0.04
    assert np.corrcoef(p_none, silent)[0, 1] > 0.4
