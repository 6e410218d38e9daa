"""The per-label arithmetic of the linear model, compiled (setup.py): about a tenth of the engine's
time was River's StandardScaler looping over the model's 82 inputs in Python, at every label learned
and every score served.

The functions work on River's own containers (the scaler's ``counts`` Counter and ``means``/``vars``
defaultdicts, pickled with the model) with the operations of river 0.26's
``StandardScaler.learn_one``/``transform_one`` in the same order, so a model learns and scores bit
for bit as it did through River, and inserts the same keys in the same order (its pickle is the
same bytes). Compiled code reads a dict subclass's missing key through its ``__missing__``, as
Python does. tests/unit/core/test_learning_math.py checks them against River's.
"""

from __future__ import annotations

import math


def learn_scaler(counts: dict[str, int], means: dict[str, float], variances: dict[str, float],
                 x: dict[str, float]) -> None:
    """StandardScaler.learn_one (with_std, no window): Welford's running mean and variance."""
    for name, value in x.items():
        count = counts[name] + 1
        counts[name] = count
        old_mean = means[name]
        mean = old_mean + (value - old_mean) / count
        means[name] = mean  # River reads it back for the variance: the same float
        variance = variances[name]
        variances[name] = variance + ((value - old_mean) * (value - mean) - variance) / count


def clipped_z(means: dict[str, float], variances: dict[str, float], x: dict[str, float], limit: float) -> dict[str, float]:
    """StandardScaler.transform_one (0 where the variance is 0), each value clipped to +-limit."""
    out: dict[str, float] = {}
    for name, value in x.items():
        variance = variances[name]
        # math.pow is C's pow, as float ** is (variance >= 0 by construction): no objects made
        z: float = (value - means[name]) / math.pow(variance, 0.5) if variance else 0.0
        out[name] = limit if z > limit else -limit if z < -limit else z
    return out


def add_into(sums: list[float], values: list[float]) -> None:
    """sums[i] += values[i] for every i."""
    for i in range(len(values)):
        sums[i] += values[i]
