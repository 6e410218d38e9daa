"""Progressive validation of the served scores, and drift detection on their errors. Pure.

Every snapshot keeps the score that was served for it (heuristic or model); when its label is
released the pair goes into a score histogram per class. From the histograms (100 bins) come
ROC AUC (exact up to the bin width), precision and recall at any threshold that is a multiple of
0.01 (the tier thresholds), and calibration by decile; log loss is summed exactly. Histograms
add up, so partition figures merge into totals. This is the *prequential* view: it can flatter
a learner, which is why the evaluation tooling also has a point-in-time view
(streams/offline/evaluation.py).

Drift: River's ADWIN watches the absolute error |label - score| of the model's own scores.
When it fires the engine publishes a drift event, and the "since drift" histogram restarts so
live figures describe the new regime (the cumulative one is kept). The model keeps learning;
see docs/model.md for why it is not reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


BINS = 100
EPS = 1e-7


@dataclass
class ScoreHistogram:
    positives: list[int] = field(default_factory=lambda: [0] * BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * BINS)
    log_loss_sum: float = 0.0

    def add(self, label: int, score: float) -> None:
        b = min(int(score * BINS), BINS - 1)
        (self.positives if label else self.negatives)[b] += 1
        p = min(max(score, EPS), 1 - EPS)
        self.log_loss_sum -= math.log(p) if label else math.log(1 - p)

    def merge(self, other: "ScoreHistogram") -> "ScoreHistogram":
        return ScoreHistogram([a + b for a, b in zip(self.positives, other.positives)],
                              [a + b for a, b in zip(self.negatives, other.negatives)],
                              self.log_loss_sum + other.log_loss_sum)

    @property
    def n(self) -> int:
        return sum(self.positives) + sum(self.negatives)

    def auc(self) -> float | None:
        """P(score of a random positive > that of a random negative), ties (same bin) counting half."""
        pos, neg = sum(self.positives), sum(self.negatives)
        if not pos or not neg:
            return None
        below = 0  # negatives in lower bins
        wins = 0.0
        for b in range(BINS):
            wins += self.positives[b] * (below + self.negatives[b] / 2)
            below += self.negatives[b]
        return wins / (pos * neg)

    def at_threshold(self, threshold: float) -> dict[str, Any]:
        b = round(threshold * BINS)
        tp, fp = sum(self.positives[b:]), sum(self.negatives[b:])
        fn = sum(self.positives[:b])
        return {"threshold": threshold, "flagged": tp + fp,
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None}

    def calibration(self, buckets: int = 10) -> list[dict[str, Any]]:
        width = BINS // buckets
        out = []
        for i in range(buckets):
            pos, neg = sum(self.positives[i * width:(i + 1) * width]), sum(self.negatives[i * width:(i + 1) * width])
            out.append({"lo": i / buckets, "hi": (i + 1) / buckets, "n": pos + neg,
                        "positive_rate": round(pos / (pos + neg), 4) if pos + neg else None})
        return out

    def summary(self, thresholds: list[float]) -> dict[str, Any]:
        auc = self.auc()
        return {"n": self.n, "positives": sum(self.positives),
                "roc_auc": round(auc, 4) if auc is not None else None,
                "log_loss": round(self.log_loss_sum / self.n, 4) if self.n else None,
                "at_thresholds": [self.at_threshold(t) for t in thresholds],
                "calibration": self.calibration(),
                "calibration_error": self.calibration_error()}

    def calibration_error(self, buckets: int = 10) -> float | None:
        """Expected calibration error: the gap between the share of churners and the served score,
        averaged over score deciles weighted by their counts (a bin's mid-score stands for its
        scores, so exact up to half a bin width, 0.005). 0 is perfectly calibrated."""
        n = self.n
        if not n:
            return None
        width = BINS // buckets
        gap = 0.0
        for i in range(buckets):
            lo, hi = i * width, (i + 1) * width
            pos, count = sum(self.positives[lo:hi]), sum(self.positives[lo:hi]) + sum(self.negatives[lo:hi])
            if count:
                mean_score = sum((b + 0.5) / BINS * (self.positives[b] + self.negatives[b]) for b in range(lo, hi)) / count
                gap += count * abs(pos / count - mean_score)
        return round(gap / n, 4)

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.positives, "n": self.negatives, "ll": self.log_loss_sum}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ScoreHistogram":
        return cls(d["p"], d["n"], d["ll"])


class Quality:
    """Cumulative and since-drift histograms of served scores, and the drift detector."""

    def __init__(self) -> None:
        self.total = ScoreHistogram()
        self.since_drift = ScoreHistogram()
        from river.drift import ADWIN  # River only when a model is made (streams/core/learners.py)

        self.detector = ADWIN()
        self.drifts = 0

    def update(self, label: int, score: float, by_model: bool) -> bool:
        """Record a released label against the score served for it; True if drift was detected.
        Only the model's own scores feed the detector: the switch from the heuristic to the model
        is a planned change, not drift."""
        self.total.add(label, score)
        self.since_drift.add(label, score)
        if not by_model:
            return False
        self.detector.update(abs(label - score))
        if self.detector.drift_detected:
            self.drifts += 1
            self.since_drift = ScoreHistogram()
            return True
        return False
