"""The per-label arithmetic of the linear model, compiled (setup.py): about a tenth of the engine's
time was River's StandardScaler looping over the model's 82 inputs in Python, at every label learned
and every score served.

The functions work on River's own containers (the scaler's ``counts`` Counter and ``means``/``vars``
defaultdicts, pickled with the model) with the operations of river 0.26's
``StandardScaler.learn_one``/``transform_one`` in the same order, so a model learns and scores bit
for bit as it did through River, and inserts the same keys in the same order (its pickle is the
same bytes). Compiled code reads a dict subclass's missing key through its ``__missing__``, as
Python does. tests/unit/core/test_learning_math.py checks them against River's.

The model's fixed inputs (the first keys of every input it is given: scoring.model_input) are
learned and standardised in arrays (``FixedScaler``) with the same arithmetic: per input a list
index instead of six dictionary operations, a third of a label's time. River's containers hold
their figures again whenever the model is read or pickled (``write_back``).
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


class FixedScaler:
    """The scaler's count, mean and variance of each fixed input, in the inputs' order, and the
    standard deviations (``variance ** 0.5``, kept: most standardisations meet no learning between)."""

    def __init__(self, counts: list[int], means: list[float], variances: list[float]) -> None:
        self.counts = counts
        self.means = means
        self.variances = variances
        self.deviations = [math.pow(variance, 0.5) for variance in variances]
        self.learned = False  # since River's containers last held these figures
        self.listed = False  # River's containers hold every fixed input (in the inputs' order if they had none)


def fixed_scaler(counts: dict[str, int], means: dict[str, float], variances: dict[str, float],
                 names: tuple[str, ...]) -> FixedScaler:
    """The figures of ``names`` in River's containers (0 where a name has none, as River reads it)."""
    fixed = FixedScaler([counts.get(name, 0) for name in names], [float(means.get(name, 0.0)) for name in names],
                        [float(variances.get(name, 0.0)) for name in names])
    fixed.listed = all(name in counts and name in means and name in variances for name in names)
    return fixed


def write_back(fixed: FixedScaler, counts: dict[str, int], means: dict[str, float], variances: dict[str, float],
               names: tuple[str, ...]) -> None:
    """River's containers take the arrays' figures (a name they lack is appended)."""
    for i in range(len(names)):
        name = names[i]
        counts[name] = fixed.counts[i]
        means[name] = fixed.means[i]
        variances[name] = fixed.variances[i]
    fixed.learned = False
    fixed.listed = True


def starts_with(x: dict[str, float], names: tuple[str, ...]) -> bool:
    """Whether the first keys of ``x`` are ``names``, in order."""
    n = len(names)
    if len(x) < n:
        return False
    i = 0
    for name in x:
        if i == n:
            break
        expected = names[i]
        if name is not expected and name != expected:  # model_input's keys are the names themselves
            return False
        i += 1
    return True


def learn_fixed(fixed: FixedScaler, x: dict[str, float], n: int) -> None:
    """learn_scaler for the first ``n`` values of ``x`` (the fixed inputs, in order)."""
    counts, means, variances, deviations = fixed.counts, fixed.means, fixed.variances, fixed.deviations
    i = 0
    for value in x.values():
        if i == n:
            break
        count = counts[i] + 1
        counts[i] = count
        old_mean = means[i]
        mean = old_mean + (value - old_mean) / count
        means[i] = mean
        variance = variances[i]
        variance = variance + ((value - old_mean) * (value - mean) - variance) / count
        variances[i] = variance
        deviations[i] = math.pow(variance, 0.5)
        i += 1
    fixed.learned = True


def clipped_z_fixed(fixed: FixedScaler, x: dict[str, float], n: int, limit: float) -> dict[str, float]:
    """clipped_z for the first ``n`` items of ``x`` (the fixed inputs, in order)."""
    means, variances, deviations = fixed.means, fixed.variances, fixed.deviations
    out: dict[str, float] = {}
    i = 0
    for name, value in x.items():
        if i == n:
            break
        z: float = (value - means[i]) / deviations[i] if variances[i] else 0.0
        out[name] = limit if z > limit else -limit if z < -limit else z
        i += 1
    return out
