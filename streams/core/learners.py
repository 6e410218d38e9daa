"""The River learners behind ChurnModel (streams/core/scoring.py). Their own module so that
importing the core does not import River (with scipy, about 1.5 s): a starting worker imports it
while its group forms (agents/pipeline.py), and the CLI answers at once.

Pickled models name these classes as streams.core.scoring's (``__module__`` below; scoring
resolves the names on demand), so models stored before they moved here load unchanged.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable

from river import forest, linear_model, optim, preprocessing, tree, utils
from river.utils.math import sigmoid

from streams.core.learning_math import (FixedScaler, clipped_z, clipped_z_fixed, fixed_scaler, learn_fixed, learn_scaler,
                                       starts_with, write_back)
from streams.core.scoring import ATTRIBUTE_PREFIX, INPUT_NAMES, MAX_Z, MODEL_KINDS, OFFSET, RESIDUAL_WEIGHT

# The regression serves the average of its SGD weights over about the last AVERAGE_MEMORY labels
# (an exponential moving average; the running mean until that many: Polyak-Ruppert averaging, with
# a memory for drift): one pass of SGD stays far from the batch fit of the same labels, and every
# label moves its weights. Averaged, a step 3x the former 0.002 does not bring its noise into the
# scores; without averaging a step of 0.02 overshot with 79 inputs, and 0.006 never beat the cold
# start on a grocery log. Measured on six splits of two real logs: docs/model.md, "Averaged weights".
LOGREG_LEARNING_RATE = 0.006
AVERAGE_MEMORY = 2000


class OffsetLogisticRegression(linear_model.LogisticRegression):
    """River's logistic regression with a per-example offset: logit = x[OFFSET] + b + w . x, the
    offset's own weight fixed at 1 (no gradient reaches it)."""

    __module__ = "streams.core.scoring"

    def _raw_dot_one(self, x: dict) -> float:
        return float(super()._raw_dot_one(x)) + x.get(OFFSET, 0.0)

    def _eval_gradient_one(self, x: dict, y: float, w: float) -> tuple:
        gradient, loss_gradient = super()._eval_gradient_one(x, y, w)
        if OFFSET in gradient:
            del gradient[OFFSET]
        return gradient, loss_gradient


class ResidualLogReg:
    """StandardScaler | clip to +-MAX_Z (attribute indicators as 0/1 variables) | logistic regression
    whose offset is the cold start's log-odds, serving RESIDUAL_WEIGHT of what it adds to it. With
    no labels it serves the cold start exactly; labels teach it only where the features say more.
    Learning the cold start's weight from zero instead (the former pipeline) ranked worse than the
    cold start alone on a real grocery log (0.725 against 0.731) after thousands of labels: the
    online regression spends its first labels rediscovering the prior."""

    __module__ = "streams.core.scoring"

    def __init__(self) -> None:
        self.scaler = preprocessing.StandardScaler()
        self.regression = OffsetLogisticRegression(optimizer=optim.SGD(LOGREG_LEARNING_RATE), l2=1e-4)
        self.average = utils.VectorDict()  # the served weights (AVERAGE_MEMORY)
        self.average_intercept = 0.0
        self.steps = 0
        self._fixed: FixedScaler | None = None  # the fixed inputs' scaler figures (_fixed_inputs); not pickled

    def __getstate__(self) -> dict[str, Any]:
        self.synced_scaler()  # the pickle holds River's scaler with every figure, as it always has
        return {k: v for k, v in self.__dict__.items() if k != "_fixed"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "average" not in state:  # pickled before the served weights were averaged: they start as its own
            self.average = utils.VectorDict(dict(self.regression._weights))
            self.average_intercept = self.regression.intercept
            self.steps = AVERAGE_MEMORY
        self._fixed = None

    def synced_scaler(self) -> preprocessing.StandardScaler:
        """River's scaler, holding every figure learned (the fixed inputs' are learned in arrays)."""
        fixed = self._fixed
        if fixed is not None and fixed.learned:
            write_back(fixed, self.scaler.counts, self.scaler.means, self.scaler.vars, INPUT_NAMES)
        return self.scaler

    def _fixed_inputs(self, x: dict[str, float]) -> FixedScaler | None:
        """The fixed inputs' figures as arrays (streams/core/learning_math.py) if ``x`` starts with
        the fixed inputs, as model_input makes it; else None, and River's containers hold them all."""
        if not starts_with(x, INPUT_NAMES):  # a caller of its own (an experiment's subset of the inputs)
            self.synced_scaler()
            self._fixed = None
            return None
        fixed = self._fixed
        if fixed is None:
            scaler = self.scaler
            fixed = self._fixed = fixed_scaler(scaler.counts, scaler.means, scaler.vars, INPUT_NAMES)
        return fixed

    def _inputs(self, x: dict[str, float]) -> dict[str, float]:
        # The scaler's transform and learning, compiled (streams/core/learning_math.py: River's
        # arithmetic, bit for bit); the scaler (no window, with_std) stays River's, as pickled.
        n = len(INPUT_NAMES)
        scaler = self.scaler
        fixed = self._fixed_inputs(x)
        if fixed is not None:
            z = clipped_z_fixed(fixed, x, n, MAX_Z)
            labels = fixed.counts[0]
        else:
            # The scaler's transform would insert a variance for every key it is asked about.
            z = clipped_z(scaler.means, scaler.vars, x if len(x) <= n else dict(islice(x.items(), n)), MAX_Z)
            labels = scaler.counts[INPUT_NAMES[0]]
        # The attribute indicators, after the fixed inputs (model_input). One is present only
        # when set, so the scaler sees it constant (variance 0) and would standardise it to 0.
        # Standardised as the 0/1 variable it is: with p the share of labels carrying it, a
        # present indicator is (1 - p) / sd = sqrt((1 - p) / p), clipped like every input.
        for name in islice(x, n, None):
            share = scaler.counts[name] / labels if labels else 0.0
            z[name] = min(MAX_Z, ((1.0 - share) / share) ** 0.5) if 0.0 < share < 1.0 else 0.0
        z[OFFSET] = x["cold_start_risk"]
        return z

    def learn_one(self, x: dict[str, float], y: int, w: float = 1.0) -> None:
        scaler = self.scaler
        fixed = self._fixed_inputs(x)
        if fixed is None:
            learn_scaler(scaler.counts, scaler.means, scaler.vars, x)
        else:
            n = len(INPUT_NAMES)
            if not fixed.listed:  # River's scaler lists an input at the first label that has it
                write_back(fixed, scaler.counts, scaler.means, scaler.vars, INPUT_NAMES)
            learn_fixed(fixed, x, n)
            if len(x) > n:  # the attribute indicators: in River's containers
                learn_scaler(scaler.counts, scaler.means, scaler.vars, dict(islice(x.items(), n, None)))
        self.regression.learn_one(self._inputs(x), y, w=w)
        self.steps += 1
        rate = 1.0 / min(self.steps, AVERAGE_MEMORY)
        self.average.update_ema(self.regression._weights, 1.0 - rate)  # (1 - rate) x average + rate x weights
        self.average_intercept += rate * (self.regression.intercept - self.average_intercept)

    def served_logit(self, z: dict[str, float]) -> float:
        """What the averaged regression adds up for the inputs ``z`` (the offset's weight is 1)."""
        return self.average.dot(z) + self.average_intercept + z[OFFSET]

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        z = self._inputs(x)
        offset = z[OFFSET]
        p = sigmoid(offset + RESIDUAL_WEIGHT * (self.served_logit(z) - offset))
        return {False: 1.0 - p, True: p}

    def summary(self) -> dict[str, Any]:
        """What pooling needs, as plain numbers (JSON on the life-table topic): the labels learned,
        the scaler's count, mean and variance per input, the served (averaged) weights and intercept."""
        scaler = self.synced_scaler()
        return {"labels": scaler.counts[INPUT_NAMES[0]],
                "scaler": {name: [n, scaler.means[name], scaler.vars[name]] for name, n in scaler.counts.items()},
                "weights": dict(self.average), "intercept": self.average_intercept}

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> "ResidualLogReg":
        """The regression a ``summary`` describes, exactly (a pooled one's, restored)."""
        out = cls()
        for name, (n, mean, var) in summary["scaler"].items():
            out.scaler.counts[name], out.scaler.means[name], out.scaler.vars[name] = n, mean, var
        out.average = utils.VectorDict(summary["weights"])
        out.average_intercept = summary["intercept"]
        return out

    @classmethod
    def pooled(cls, summaries: list[dict[str, Any]], attributes: Iterable[str] = ()) -> "ResidualLogReg":
        """One regression from the partitions' (``summary``): the scalers' counts pooled exactly,
        weights and intercept averaged by labels learned. The partitions hold random shares of
        the customers, so their standardisations agree and the average is a model of everyone:
        on a grocery log it ranked above each partition's own (docs/model.md). Of the attribute
        inputs only ``attributes`` (those the scoring partition reads: its own bound holds)."""
        out = cls()
        scaler = out.scaler
        kept = {*attributes}
        wanted = [name for name in sorted({name for s in summaries for name in s["scaler"]})
                  if not name.startswith(ATTRIBUTE_PREFIX) or name in kept]
        for name in wanted:
            stats = [s["scaler"][name] for s in summaries if name in s["scaler"]]
            n = sum(count for count, _, _ in stats)
            if not n:
                continue
            mean = sum(count * m for count, m, _ in stats) / n
            scaler.counts[name] = n
            scaler.means[name] = mean
            scaler.vars[name] = sum(count * (v + (m - mean) ** 2) for count, m, v in stats) / n
        labels = sum(s["labels"] for s in summaries)
        for name in sorted({name for s in summaries for name in s["weights"]}):
            if name.startswith(ATTRIBUTE_PREFIX) and name not in kept:
                continue
            out.average[name] = sum(s["labels"] * s["weights"].get(name, 0.0) for s in summaries) / labels
        out.average_intercept = sum(s["labels"] * s["intercept"] for s in summaries) / labels
        return out


def new_learner(kind: str, seed: int) -> object:
    if kind in ("logreg", "logreg_balanced"):
        return ResidualLogReg()
    if kind == "hat":
        return tree.HoeffdingAdaptiveTreeClassifier(seed=seed)
    if kind == "arf":
        return forest.ARFClassifier(n_models=10, seed=seed)
    raise ValueError(f"unknown model kind {kind!r}; one of {MODEL_KINDS}")
