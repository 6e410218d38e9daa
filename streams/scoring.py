"""Churn scoring: an online River model, with a transparent heuristic until it has learned enough."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass

from river import compose, linear_model, metrics, optim, preprocessing

from streams.features import CATALOG, FEATURE_INDEX, FEATURE_NAMES

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
    kind: str  # "heuristic" | "river_logreg"
    version: str
    reasons: tuple[Reason, ...]


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


class ChurnModel:
    """StandardScaler + LogisticRegression learned one released label at a time."""

    def __init__(self, partition: int, min_labels: int) -> None:
        self.partition = partition
        self.min_labels = min_labels
        self.pipeline = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(0.02), l2=1e-4),
        )
        self.labels = [0, 0]
        self.auc = metrics.ROCAUC()

    @property
    def ready(self) -> bool:
        return sum(self.labels) >= self.min_labels and min(self.labels) >= MIN_LABELS_PER_CLASS

    @property
    def version(self) -> str:
        return f"p{self.partition}-n{sum(self.labels)}"

    def learn(self, features: list[float], label: int) -> None:
        x = dict(zip(FEATURE_NAMES, features))
        if self.ready:
            # Progressive validation: score before learning.
            self.auc.update(label, self.pipeline.predict_proba_one(x).get(1, 0.0))
        self.pipeline.learn_one(x, label)
        self.labels[label] += 1

    def score(self, features: list[float]) -> Score:
        if not self.ready:
            risk, reasons = heuristic_risk(features)
            return Score(risk, "heuristic", f"heuristic-v1-{self.version}", reasons)
        x = dict(zip(FEATURE_NAMES, features))
        risk = self.pipeline.predict_proba_one(x).get(1, 0.0)
        return Score(risk, "river_logreg", f"river_logreg-v1-{self.version}", self._reasons(x))

    def _reasons(self, x: dict[str, float]) -> tuple[Reason, ...]:
        # Linear attribution: weight x standardised value; the largest positive pushes are the reasons.
        scaler = self.pipeline["StandardScaler"]
        weights = self.pipeline["LogisticRegression"].weights
        contributions = []
        for name, value in x.items():
            std = math.sqrt(scaler.vars.get(name, 0.0)) or 1.0
            contributions.append((weights.get(name, 0.0) * (value - scaler.means.get(name, 0.0)) / std, name))
        contributions.sort(reverse=True)
        return tuple(
            Reason(name, x[name], c, CATALOG[FEATURE_INDEX[name]].reason_text)
            for c, name in contributions[:TOP_REASONS] if c > 0
        )

    def to_bytes(self) -> bytes:
        return pickle.dumps(self, protocol=5)

    @staticmethod
    def from_bytes(blob: bytes) -> "ChurnModel":
        model = pickle.loads(blob)
        if not isinstance(model, ChurnModel):
            raise TypeError("not a ChurnModel")
        return model
