"""Churn scoring: an online River model, with a transparent heuristic until it has learned enough.

Model kinds (``CHURNGUARD_MODEL_KIND``; the choice and its evidence: docs/model.md):
- ``logreg``: StandardScaler | LogisticRegression (SGD 0.02, L2 1e-4). Reasons: weight x scaled value.
- ``logreg_balanced``: the same, each label weighted by n / (2 n_class) so both classes count equally.
- ``hat``: Hoeffding adaptive tree; ``arf``: adaptive random forest (10 trees). Reasons for these:
  how much the risk drops when the feature is set to its running mean (one extra prediction per
  feature, computed only when an alert fires).
Seeds are fixed per partition, so a replay of the same labels gives the same model.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, replace

from river import compose, forest, linear_model, optim, preprocessing, tree

from streams.core.catalog import CATALOG, FEATURE_INDEX, FEATURE_NAMES
from streams.core.quality import Quality

TOP_REASONS = 3
MIN_LABELS_PER_CLASS = 50


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float
    contribution: float
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "value": round(self.value, 4),
                "contribution": round(self.contribution, 4), "text": self.text}


@dataclass(frozen=True)
class Score:
    risk: float
    kind: str  # "heuristic" | "river_<model kind>"
    version: str
    reasons: tuple[Reason, ...] = ()  # filled by ChurnModel.explain, only for alerts


HEURISTIC_MIN_GAP_DAYS = 2.0
HEURISTIC_GRACE = 1.5
HEURISTIC_SCALE = 4.0


def heuristic_risk(features: list[float]) -> tuple[float, tuple[Reason, ...]]:
    """Risk from silence relative to the user's own rhythm. With ratio = recency / max(typical
    gap, 2 days): 0 up to 1.5x the usual gap, then 1 - exp(-(ratio - 1.5) / 4), i.e. 0.6 at
    ~5x, 0.75 at ~7x and 0.9 at ~10.7x. (Chosen on the simulator: alerted-user precision 0.86,
    recall 0.84 at the default tiers, 1,500 users x 90 days, seed 7.)"""
    recency = features[FEATURE_INDEX["recency_days"]]
    ratio = recency / max(features[FEATURE_INDEX["typical_gap_days"]], HEURISTIC_MIN_GAP_DAYS)
    risk = 1.0 - math.exp(-max(ratio - HEURISTIC_GRACE, 0.0) / HEURISTIC_SCALE)
    i = FEATURE_INDEX["recency_ratio"]
    return risk, (Reason("recency_ratio", features[i], risk, CATALOG[i].reason_text),)


# With 79 inputs a step of 0.02 overshoots (point-in-time AUC 0.907 / 0.908 / 0.946 against
# 0.931 / 0.951 / 0.971 at 0.002): docs/model.md, "Choosing the model".
LOGREG_LEARNING_RATE = 0.002
MODEL_KINDS = ("logreg", "logreg_balanced", "hat", "arf")


def _learner(kind: str, seed: int) -> object:
    if kind in ("logreg", "logreg_balanced"):
        return compose.Pipeline(preprocessing.StandardScaler(),
                                linear_model.LogisticRegression(optimizer=optim.SGD(LOGREG_LEARNING_RATE), l2=1e-4))
    if kind == "hat":
        return tree.HoeffdingAdaptiveTreeClassifier(seed=seed)
    if kind == "arf":
        return forest.ARFClassifier(n_models=10, seed=seed)
    raise ValueError(f"unknown model kind {kind!r}; one of {MODEL_KINDS}")


class ChurnModel:
    """One partition's online model, learned one released label at a time, with the quality of
    the scores it served (streams/core/quality.py)."""

    def __init__(self, partition: int, min_labels: int, kind: str = "logreg") -> None:
        self.partition = partition
        self.min_labels = min_labels
        self.kind = kind
        self.learner = _learner(kind, seed=1000 + partition)
        self.labels = [0, 0]
        self.feature_sums = [0.0] * len(FEATURE_NAMES)
        self.quality = Quality()

    @property
    def ready(self) -> bool:
        return sum(self.labels) >= self.min_labels and min(self.labels) >= MIN_LABELS_PER_CLASS

    @property
    def version(self) -> str:
        return f"p{self.partition}-n{sum(self.labels)}"

    def learn(self, features: list[float], label: int) -> None:
        x = dict(zip(FEATURE_NAMES, features))
        if self.kind == "logreg_balanced":
            weight = (sum(self.labels) + 2) / (2 * (self.labels[label] + 1))
            self.learner.learn_one(x, label, w=weight)  # type: ignore[attr-defined]
        else:
            self.learner.learn_one(x, label)  # type: ignore[attr-defined]
        self.labels[label] += 1
        for i, v in enumerate(features):
            self.feature_sums[i] += v

    def _risk(self, x: dict[str, float]) -> float:
        return float(self.learner.predict_proba_one(x).get(1, 0.0))  # type: ignore[attr-defined]

    def score(self, features: list[float]) -> Score:
        if not self.ready:
            risk, _ = heuristic_risk(features)
            return Score(risk, "heuristic", f"heuristic-v1-{self.version}")
        return Score(self._risk(dict(zip(FEATURE_NAMES, features))), f"river_{self.kind}",
                     f"river_{self.kind}-v1-{self.version}")

    def explain(self, features: list[float], score: Score) -> Score:
        """The score with its top reasons: the features that pushed this risk up the most."""
        if score.kind == "heuristic":
            return replace(score, reasons=heuristic_risk(features)[1])
        x = dict(zip(FEATURE_NAMES, features))
        if self.kind.startswith("logreg"):
            contributions = self._linear_contributions(x)
        else:
            n = max(sum(self.labels), 1)
            contributions = [(score.risk - self._risk({**x, name: self.feature_sums[i] / n}), name)
                             for i, name in enumerate(FEATURE_NAMES)]
        contributions.sort(reverse=True)
        reasons = tuple(Reason(name, x[name], c, CATALOG[FEATURE_INDEX[name]].reason_text)
                        for c, name in contributions[:TOP_REASONS] if c > 0)
        return replace(score, reasons=reasons)

    def _linear_contributions(self, x: dict[str, float]) -> list[tuple[float, str]]:
        # Linear attribution: weight x standardised value.
        scaler = self.learner["StandardScaler"]  # type: ignore[index]
        weights = self.learner["LogisticRegression"].weights  # type: ignore[index]
        out = []
        for name, value in x.items():
            std = math.sqrt(scaler.vars.get(name, 0.0)) or 1.0
            out.append((weights.get(name, 0.0) * (value - scaler.means.get(name, 0.0)) / std, name))
        return out

    def to_bytes(self) -> bytes:
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def from_bytes(blob: bytes) -> "ChurnModel":
        model = pickle.loads(blob)
        if not isinstance(model, ChurnModel):
            raise TypeError("not a ChurnModel")
        return model
