"""Learning from released labels: the model learns, the served scores are judged, drift is
watched, and each day boundary's progress is published as a model_quality.v1 document. Pure.
"""

from __future__ import annotations

from typing import Any

from streams.core import labels
from streams.core.counters import Counters
from streams.core.events import DAY_MS
from streams.core.features import UserState
from streams.core.scoring import ChurnModel

# Precision and recall of the served scores are published at these risks.
QUALITY_THRESHOLDS = (0.3, 0.5, 0.7, 0.9)


class Learner:
    def __init__(self, partition: int, model: ChurnModel, horizon_ms: int, thresholds: list[float],
                 counters: Counters, quality_out: list[dict[str, Any]]) -> None:
        self.partition = partition
        self.model = model
        self.horizon_ms = horizon_ms
        self.thresholds = thresholds
        self.counters = counters
        self.quality_out = quality_out
        self.dirty = False  # learned since the model was last serialised
        self.released = 0  # labels released at the current day boundary

    def release(self, user: UserState, boundary: int, epoch: int) -> None:
        """Learn every label of ``user`` whose horizon ended by ``boundary``; ``epoch`` is the flush
        that will persist the model and the release (streams/core/labels.py, crash safety)."""
        for _, features, label, served, by_model, attributes in labels.release_due(user, boundary, self.horizon_ms, epoch):
            if self.model.quality.update(label, served, by_model):
                self._publish("drift", boundary)
            current = self.model.with_current_cold_start(features, self.horizon_ms // DAY_MS, attributes)
            self.model.learn(current, label, attributes)
            self.dirty = True
            self.released += 1
            self.counters.add("labels_1" if label else "labels_0")

    def end_boundary(self, boundary: int) -> None:
        """Publish the quality figures if the boundary released labels; start the next boundary."""
        if self.released:
            self._publish("quality", boundary)
        self.released = 0

    def _publish(self, event: str, ts: int) -> None:
        """A model_quality.v1 document (without emitted_at): what the partition's served scores achieved so far."""
        model, quality = self.model, self.model.quality
        self.quality_out.append({
            "schema": "model_quality.v1", "event": event, "partition": self.partition, "ts": ts,
            "model": {"kind": f"river_{model.kind}" if model.ready else "heuristic", "version": model.version,
                      "ready": model.ready},
            "labels": {"learned": sum(model.labels), "positive": model.labels[1], "released": self.released},
            "progressive": quality.total.summary(self.thresholds),
            "since_drift": quality.since_drift.summary(self.thresholds), "drifts": quality.drifts})
        if event == "drift":
            self.counters.add("drifts")
